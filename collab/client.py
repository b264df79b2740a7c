"""An asyncio client for the collaboration server, built on the engine's state machine.

::

    import asyncio
    from collab.client import CollabClient

    async def main() -> None:
        async with CollabClient("ws://127.0.0.1:8000/ws/notes", user={"name": "bot"}) as doc:
            doc.on("change", lambda ev: print("now:", doc.text))
            doc.insert(len(doc.text), "hello from a bot\\n")
            await doc.wait_synced()

    asyncio.run(main())

The client keeps working through disconnects: edits made while offline are buffered, and on
reconnect (exponential backoff with full jitter) it catches up from its revision and resends
what was not acknowledged, with the same seq, which the server deduplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from ot import Selection, TextOperation, from_splice
from ot import client as machine
from ot.client import Apply, Effect, Reset, Resync, Send

log = logging.getLogger("collab.client")

# Close codes after which reconnecting cannot help.
FINAL_CLOSE_CODES = {4400, 4401, 4403, 4409, 4410}

Listener = Callable[[dict[str, Any]], None]


class CollabError(Exception):
    """The connection ended for good (``code`` is the close code)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed ({code}): {reason}")
        self.code = code


class CollabClient:
    """One document, edited over one WebSocket at a time.

    Events (``on(name, fn)``; ``fn`` receives a dict): ``change`` (a remote operation was
    applied: ``op``, ``client``, ``user``), ``reset`` (the text was replaced), ``presence``,
    ``join``, ``leave``, ``error`` (an error message from the server), ``status``
    (``connected`` / ``reconnecting`` / ``closed``).

    ``url`` is the document's WebSocket address, or a list of addresses of the same document
    on several server processes (any process serves any document): each reconnection then
    moves on to the next address, so a client whose process died carries on with another.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        client_id: str | None = None,
        user: dict[str, Any] | None = None,
        token: str | None = None,
        reconnect: bool = True,
        backoff_base: float = 0.1,
        backoff_max: float = 10.0,
    ) -> None:
        self.urls = [url] if isinstance(url, str) else list(url)
        if not self.urls:
            raise ValueError("at least one url is needed")
        self._url_index = 0
        self.url = self.urls[0]  # the address of the current (or next) connection
        self.client_id = client_id or secrets.token_urlsafe(12)
        self.user = user or {}
        self.token = token
        self.reconnect = reconnect
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.text = ""
        self.role: str | None = None
        self.peers: dict[str, dict[str, Any]] = {}
        self.state: machine.State = machine.initial()
        self._loaded = False  # holds a revision (hello.rev can be sent)
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._welcomed = asyncio.Event()
        self._synced = asyncio.Event()
        self._synced.set()
        self._listeners: dict[str, list[Listener]] = {}
        self._closing = False
        self._final: CollabError | None = None
        self._rev_waiters: list[tuple[int, asyncio.Future[None]]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def connect(self, timeout: float = 10.0) -> CollabClient:
        """Start the connection loop and wait for the first welcome."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        waiter = asyncio.ensure_future(self._welcomed.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            if self._task in done:
                self._task.result()
                raise self._final or CollabError(None, "connection loop ended")
            raise TimeoutError("no welcome from the server")
        return self

    async def close(self) -> None:
        """Close the connection and stop reconnecting (unsent edits stay in ``pending``)."""
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def __aenter__(self) -> CollabClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def drop_connection(self) -> None:
        """Cut the socket abruptly (as a network failure would); the client reconnects."""
        if self._ws is not None:
            self._ws.transport.abort()

    # -- properties --------------------------------------------------------------------------

    @property
    def rev(self) -> int:
        """The revision the local text is based on (pending edits on top)."""
        return self.state.rev

    @property
    def pending(self) -> TextOperation | None:
        """Local edits not yet acknowledged, composed."""
        return machine.pending(self.state)

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._welcomed.is_set()

    # -- editing -----------------------------------------------------------------------------

    def apply(self, op: TextOperation) -> None:
        """Apply a local edit (an operation on the current local text) and send it."""
        self.text = op.apply(self.text)
        self._transform_peers(op)
        self._synced.clear()
        self.state, effects = machine.apply_client(self.state, op)
        self._run_effects(effects)

    def insert(self, pos: int, text: str) -> None:
        self.apply(from_splice(len(self.text), pos, 0, text))

    def delete(self, pos: int, count: int) -> None:
        self.apply(from_splice(len(self.text), pos, count, ""))

    def replace(self, pos: int, count: int, text: str) -> None:
        self.apply(from_splice(len(self.text), pos, count, text))

    def set_selection(self, ranges: list[tuple[int, int]] | None) -> None:
        """Share the local caret / selection (code point offsets in the local text)."""
        sel = None
        if ranges is not None:
            sel = Selection.from_json([list(r) for r in ranges], len(self.text))
            pend = self.pending
            if pend is not None:
                # Presence is in the coordinates of the text at ``rev``: map our offsets back
                # through our unacknowledged edits.
                sel = sel.transform(pend.invert(self._text_before_pending()))
        self._send(
            {
                "type": "presence",
                "rev": self.rev,
                "selection": sel.to_json() if sel is not None else None,
            }
        )

    def _text_before_pending(self) -> str:
        """A stand-in for the text at ``rev``: right length, deleted spans as placeholders
        (only positions matter to the selection transform)."""
        pend = self.pending
        assert pend is not None
        base: list[str] = []
        pos = 0
        for c in pend.ops:
            if isinstance(c, str):
                pos += len(c)
            elif c > 0:
                base.append(self.text[pos : pos + c])
                pos += c
            else:
                base.append("?" * -c)
        return "".join(base)

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Wait until every local edit is acknowledged."""
        await asyncio.wait_for(self._synced.wait(), timeout)

    async def wait_for_rev(self, rev: int, timeout: float = 10.0) -> None:
        """Wait until the local text includes revision ``rev``."""
        if self.rev >= rev:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rev_waiters.append((rev, fut))
        await asyncio.wait_for(fut, timeout)

    def on(self, event: str, fn: Listener) -> None:
        self._listeners.setdefault(event, []).append(fn)

    # -- internals ---------------------------------------------------------------------------

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        for fn in self._listeners.get(event, []):
            try:
                fn(data)
            except Exception:
                log.exception("listener for %s failed", event)

    def _send(self, msg: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None or not self._welcomed.is_set():
            return
        data = orjson.dumps(msg).decode()
        asyncio.get_running_loop().create_task(self._send_raw(ws, data))

    async def _send_raw(self, ws: ClientConnection, data: str) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(data)

    def _run_effects(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, Send):
                self._send({"type": "op", "rev": e.rev, "seq": e.seq, "op": e.op.ops})
            elif isinstance(e, Apply):
                self.text = e.op.apply(self.text)
                self._transform_peers(e.op)
            elif isinstance(e, Reset):
                self.text = e.text
                self._emit("reset", {"text": e.text, "rev": e.rev, "lost": e.lost})
            elif isinstance(e, Resync) and self._ws is not None:
                self._ws.transport.abort()
        if isinstance(self.state, machine.Synchronized):
            self._synced.set()
        self._wake_rev_waiters()

    def _wake_rev_waiters(self) -> None:
        if not self._rev_waiters:
            return
        keep = []
        for rev, fut in self._rev_waiters:
            if self.rev >= rev:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((rev, fut))
        self._rev_waiters = keep

    def _transform_peers(self, op: TextOperation) -> None:
        for peer in self.peers.values():
            sel = peer.get("selection")
            if sel is not None:
                peer["selection"] = Selection.from_json(sel).transform(op).to_json()

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._session()
                attempt = 0
            except CollabError as e:
                self._final = e
                self._emit("status", {"status": "closed", "code": e.code})
                return
            except (OSError, websockets.WebSocketException, TimeoutError) as e:
                log.debug("connection failed: %s", e)
            finally:
                self._ws = None
                self._welcomed.clear()
            if self._closing or not self.reconnect:
                return
            self._emit("status", {"status": "reconnecting"})
            if len(self.urls) > 1:
                self._url_index = (self._url_index + 1) % len(self.urls)
                self.url = self.urls[self._url_index]
            # Exponential backoff with full jitter.
            delay = random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
            attempt += 1
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        async with websockets.connect(
            self.url,
            additional_headers=headers,
            compression=None,
            max_size=None,
            open_timeout=10,
        ) as ws:
            hello: dict[str, Any] = {
                "type": "hello",
                "protocol": 1,
                "client": self.client_id,
                "user": self.user,
                "token": None,
            }
            if self._loaded:
                hello["rev"] = self.rev
            await ws.send(orjson.dumps(hello).decode())
            self._ws = ws
            try:
                async for raw in ws:
                    self._handle(orjson.loads(raw))
            except websockets.ConnectionClosed:
                pass
            code = ws.close_code
            if code in FINAL_CLOSE_CODES and not self._closing:
                raise CollabError(code, ws.close_reason or "")
            if code == 1009 and not self._closing:
                # Our message was over the size limit: resending it would loop.
                self._reload()

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "welcome":
            self.role = msg.get("role")
            if not self._loaded and "text" in msg:
                self.state = machine.initial(
                    msg["rev"], max(msg.get("seq", 0), self.state.last_seq)
                )
                self.text = msg["text"]
                effects: list[Effect] = []
            else:
                self.state, effects = machine.welcome(self.state, self.client_id, msg)
            self._loaded = True
            self.peers = {}
            self._welcomed.set()
            self._run_effects(effects)
            # Peers are at welcome.rev; our unacknowledged edits are on top of that.
            pend = self.pending
            for p in msg.get("peers", []):
                peer = dict(p)
                if peer.get("selection") is not None and pend is not None:
                    sel = Selection.from_json(peer["selection"]).transform(pend)
                    peer["selection"] = sel.to_json()
                self.peers[p["client"]] = peer
            self._emit("status", {"status": "connected"})
        elif kind == "ack":
            self.state, effects = machine.server_ack(self.state, msg["seq"], msg["rev"])
            self._run_effects(effects)
        elif kind == "op":
            op = TextOperation.from_json(msg["op"])
            self.state, effects = machine.apply_server(self.state, msg["rev"], op)
            self._run_effects(effects)
            applied = [e.op for e in effects if isinstance(e, Apply)]
            if applied:
                self._emit(
                    "change",
                    {
                        "op": applied[0],
                        "client": msg.get("client"),
                        "user": msg.get("user"),
                        "rev": msg["rev"],
                    },
                )
        elif kind == "presence":
            peer = dict(msg)
            pend = self.pending
            if peer.get("selection") is not None and pend is not None:
                peer["selection"] = Selection.from_json(peer["selection"]).transform(pend).to_json()
            self.peers.setdefault(msg["client"], {}).update(peer)
            self._emit("presence", msg)
        elif kind == "join":
            self.peers[msg["client"]] = {
                "client": msg["client"],
                "user": msg.get("user"),
                "selection": None,
            }
            self._emit("join", msg)
        elif kind == "leave":
            self.peers.pop(msg["client"], None)
            self._emit("leave", msg)
        elif kind == "error":
            self._emit("error", msg)
            self._on_error(msg)

    def _on_error(self, msg: dict[str, Any]) -> None:
        seq = msg.get("seq")
        if seq is None or isinstance(self.state, machine.Synchronized):
            return
        if seq != self.state.last_seq:
            return
        if msg.get("code") == "rate_limited":
            # Resend the same seq a little later.
            asyncio.get_running_loop().call_later(
                0.2 + random.random() * 0.3, self._run_effects, machine.resend(self.state)
            )
        else:
            log.warning("operation %s rejected: %s %s", seq, msg.get("code"), msg.get("message"))
            self._reload()

    def _reload(self) -> None:
        """Our pending work was refused: drop it and reload the text from the server."""
        lost = self.pending
        self._loaded = False
        # A refused operation does not use up its seq.
        unused = 0 if isinstance(self.state, machine.Synchronized) else 1
        self.state = machine.initial(self.state.rev, self.state.last_seq - unused)
        self._emit("reset", {"text": self.text, "rev": self.rev, "lost": lost})
        if self._ws is not None:
            self._ws.transport.abort()
