"""A small raw-protocol client for server tests, so that a test reads like a script::

    async with raw_client(server, "notes") as a, raw_client(server, "notes") as b:
        await a.op(0, 1, ["hi"])
        assert await a.recv_type("ack") == {"type": "ack", "seq": 1, "rev": 1}
        assert (await b.recv_type("op"))["op"] == ["hi"]

Every wait is bounded (``TIMEOUT``): a server that never answers fails the test instead of
hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.collab.conftest import RunningServer

TIMEOUT = 5.0
QUIET = 0.2  # how long "nothing arrives" is watched for


def new_client_id() -> str:
    return "t" + secrets.token_hex(6)


class RawClient:
    """One WebSocket connection speaking the wire protocol by hand."""

    def __init__(self, ws: ClientConnection, client: str) -> None:
        self.ws = ws
        self.client = client
        self.welcome: dict[str, Any] = {}

    # -- sending ---------------------------------------------------------------------------

    async def send(self, msg: dict[str, Any] | str | bytes) -> None:
        """Send a message: a dict as JSON, a str or bytes as given (for malformed input)."""
        data = msg if isinstance(msg, str | bytes) else json.dumps(msg)
        # The server may already have closed (a refused id, a limit): that is for
        # ``closed()`` to report, not for the send to raise.
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(data)

    async def hello(
        self,
        rev: int | None = None,
        user: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Send a hello and return the welcome."""
        msg: dict[str, Any] = {
            "type": "hello",
            "protocol": 1,
            "client": self.client,
            "token": None,
            "user": user if user is not None else {"name": self.client},
        }
        if rev is not None:
            msg["rev"] = rev
        msg.update(extra)
        await self.send(msg)
        self.welcome = await self.recv_type("welcome")
        return self.welcome

    async def hello_nowait(self, rev: int | None = None) -> None:
        """Send a hello without waiting for the welcome."""
        msg: dict[str, Any] = {"type": "hello", "protocol": 1, "client": self.client}
        msg["user"] = {"name": self.client}
        if rev is not None:
            msg["rev"] = rev
        await self.send(msg)

    async def op(self, rev: int, seq: int, op: list[Any]) -> None:
        await self.send({"type": "op", "rev": rev, "seq": seq, "op": op})

    async def commit(self, rev: int, seq: int, op: list[Any]) -> int:
        """Send an op and wait for its ack; return the revision it became."""
        await self.op(rev, seq, op)
        ack = await self.recv_type("ack")
        assert ack["seq"] == seq, ack
        return int(ack["rev"])

    async def presence(self, rev: int, selection: list[list[int]] | None) -> None:
        await self.send({"type": "presence", "rev": rev, "selection": selection})

    # -- receiving -------------------------------------------------------------------------

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next message, whatever its type."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        msg = json.loads(raw)
        assert isinstance(msg, dict), msg
        return msg

    async def recv_type(self, *types: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next message of one of ``types``, skipping others (joins, presence, ...)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.0, deadline - loop.time()))
            if msg["type"] in types:
                return msg

    async def error(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await self.recv_type("error", timeout=timeout)

    async def expect_quiet(self, timeout: float = QUIET, ignore: tuple[str, ...] = ()) -> None:
        """Assert that no message (other than of the ``ignore`` types) arrives within
        ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                msg = await self.recv(max(0.0, deadline - loop.time()))
            except TimeoutError:
                return
            if msg["type"] not in ignore:
                raise AssertionError(f"unexpected message: {msg!r}")

    async def closed(self, timeout: float = TIMEOUT) -> int | None:
        """Wait for the server to close the connection (dropping messages); the close code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.wait_for(self.ws.recv(), max(0.0, deadline - loop.time()))
        return self.ws.close_code

    async def ping(self) -> None:
        """A protocol ping and its pong: proves the session still reads and answers."""
        await self.send({"type": "ping"})
        assert (await self.recv_type("pong")) == {"type": "pong"}


@contextlib.asynccontextmanager
async def raw_client(
    server: RunningServer,
    doc: str,
    *,
    client: str | None = None,
    hello: bool = True,
    rev: int | None = None,
    user: dict[str, Any] | None = None,
    max_size: int | None = None,
) -> AsyncIterator[RawClient]:
    """A connected :class:`RawClient`, welcomed unless ``hello=False``."""
    # max_queue=None: a test often leaves messages unread; with a bounded queue the client
    # would stop reading the socket, miss the server's close frame and wait out its timeout.
    async with connect(
        server.ws(doc), compression=None, max_size=max_size, max_queue=None, open_timeout=TIMEOUT
    ) as ws:
        c = RawClient(ws, client or new_client_id())
        if hello:
            await c.hello(rev=rev, user=user)
        yield c


@contextlib.asynccontextmanager
async def http_client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT, verify=False) as http:
        yield http


async def create_doc(server: RunningServer, doc: str, text: str = "") -> None:
    """Create a document over HTTP (201)."""
    async with http_client(server) as http:
        r = await http.post("/api/docs", json={"id": doc, "text": text})
        assert r.status_code == 201, r.text


async def doc_text(http: httpx.AsyncClient, doc: str) -> tuple[int, str]:
    """The document's current ``(rev, text)`` from ``GET /api/docs/{id}``."""
    r = await http.get(f"/api/docs/{doc}")
    assert r.status_code == 200, r.text
    body = r.json()
    return body["rev"], body["text"]


async def all_ops(http: httpx.AsyncClient, doc: str) -> list[dict[str, Any]]:
    """Every committed op record of the document, paging through ``/ops``."""
    out: list[dict[str, Any]] = []
    while True:
        r = await http.get(f"/api/docs/{doc}/ops", params={"after": len(out), "limit": 1000})
        assert r.status_code == 200, r.text
        page = r.json()
        if not page:
            return out
        out.extend(page)


async def eventually(
    predicate: Callable[[], Awaitable[bool]], timeout: float = TIMEOUT, interval: float = 0.02
) -> None:
    """Poll an async ``predicate()`` until it is true (for state only visible by polling)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


def splice(text: str, pos: int, delete: int, insert: str) -> str:
    """Plain string splicing: the expected result of a patch, computed without the engine."""
    return text[:pos] + insert + text[pos + delete :]
