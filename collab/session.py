"""One WebSocket connection editing one document (PROTOCOL §3).

The session reads frames, validates them (:mod:`collab.wire`), and hands each message type
to its own handler. Everything it sends goes through a bounded outgoing queue drained by its
own writer task, so a client that stops reading is cut off (1013) instead of growing the
server's memory or slowing anyone else's broadcasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from enum import Enum
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from collab.auth import AuthError, Identity, bearer_token
from collab.errors import Close, ErrorCode, ProtocolError, SessionClosed
from collab.limits import TokenBucket
from collab.room import Room
from collab.services import Services
from collab.wire import PONG, Hello, OpMessage, Ping, PresenceMessage, parse
from collab.wire import error as error_message

log = logging.getLogger("collab.session")

PRESENCE_MOVES_PER_TOKEN = 100  # range x revision transforms one presence token pays for
PRESENCE_MAX_MOVES = 2_500  # range x revision transforms one presence may ask for (~2.5 ms)


class SessionState(Enum):
    HELLO = "hello"  # accepted, waiting for the client's hello
    OPEN = "open"  # welcomed; editing
    CLOSING = "closing"  # a close code is chosen; the writer sends it and stops
    CLOSED = "closed"  # the socket is gone


class Session:
    """The server side of one connection."""

    def __init__(self, ws: WebSocket, doc_id: str, services: Services) -> None:
        self.ws = ws
        self.doc_id = doc_id
        self.services = services
        s = services.settings
        self.settings = s
        self.state = SessionState.HELLO
        self.client = ""
        self.user: dict[str, Any] = {}
        self.user_id: str | None = None
        self.role = "edit"
        self.room: Room | None = None
        self._out: deque[str] = deque()
        self._out_chars = 0
        self._wake = asyncio.Event()
        self._close_code: Close | None = None
        self._close_reason = ""
        self._writer_task: asyncio.Task[None] | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None  # the token's end, cancelled on close
        self._abort_timer: asyncio.TimerHandle | None = None
        self._ops = TokenBucket(s.ops_per_second, s.ops_burst)
        self._presence = TokenBucket(s.presence_per_second, s.presence_burst)
        self._errors = TokenBucket(max(1.0, s.max_errors / 10), s.max_errors)
        self._handlers = {
            OpMessage: self._on_op,
            PresenceMessage: self._on_presence,
            Ping: self._on_ping,
            Hello: self._on_second_hello,
        }

    # -- outgoing -----------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Messages waiting to be written."""
        return len(self._out)

    def send(self, text: str) -> None:
        """Queue one message; past the queue's bound the session is closed with 1013.

        The bound is on what is *already* waiting: one message larger than the bound (the
        welcome of a document near ``max_doc_chars``, a large restore) is still delivered
        to a client that keeps up, so a document inside the size limit can always be opened.
        """
        if self.state in (SessionState.CLOSING, SessionState.CLOSED):
            return
        s = self.settings
        if len(self._out) >= s.send_queue_messages or self._out_chars >= s.send_queue_bytes:
            self._out.clear()
            self._out_chars = 0
            self.close(Close.TRY_LATER, "outgoing queue over its bound")
            return
        self._out.append(text)
        self._out_chars += len(text)
        self._wake.set()

    def send_error(self, err: ProtocolError) -> None:
        self.services.metrics.errors[err.code.value] += 1
        log.info(
            "error doc=%s client=%s code=%s seq=%s: %s",
            self.doc_id,
            self.client,
            err.code.value,
            err.seq,
            err.message,
        )
        if not self._errors.take():
            self.close(Close.ABUSE, "too many errors")
            return
        self.send(error_message(err))

    def close(self, code: Close, reason: str = "") -> None:
        """Close the connection with ``code`` after what is already queued (for 1001)."""
        if self.state in (SessionState.CLOSING, SessionState.CLOSED):
            return
        self.state = SessionState.CLOSING
        self._close_code = code
        self._close_reason = reason
        if code != Close.GOING_AWAY:
            self._out.clear()
        self._wake.set()
        # A writer stuck in a send (a client that does not read) cannot deliver the close
        # frame: give it a moment, then end the connection from our side.
        self._abort_timer = asyncio.get_running_loop().call_later(3.0, self._abort)

    def _abort(self) -> None:
        for task in (self._writer_task, self._reader_task):
            if task is not None and not task.done():
                task.cancel()

    async def _writer(self) -> None:
        send = self.ws.send
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._out:
                text = self._out.popleft()
                self._out_chars -= len(text)
                try:
                    await send({"type": "websocket.send", "text": text})
                except RuntimeError:
                    # The server closed the connection itself (a frame over the size limit,
                    # a keep-alive timeout) and refuses sends: the client is gone, no fault.
                    raise WebSocketDisconnect(1006) from None
            if self._close_code is not None:
                await self._send_close()
                return

    async def _send_close(self) -> None:
        code = self._close_code or Close.NORMAL
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.ws.send({"type": "websocket.close", "code": int(code), "reason": ""}), 2.0
            )
        self.state = SessionState.CLOSED

    # -- the connection ------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it ends. The socket is already accepted."""
        writer: asyncio.Task[None] | None = None
        try:
            hello = await self._receive_hello()
            await self._open(hello)
            writer = self._writer_task = asyncio.create_task(self._writer())
            reader = self._reader_task = asyncio.create_task(self._read_loop())
            done, _ = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done and not reader.cancelled():
                exc = reader.exception()
                if isinstance(exc, SessionClosed):
                    self.close(exc.code, exc.reason)
                elif exc is not None and not isinstance(exc, WebSocketDisconnect):
                    log.error(
                        "session fault doc=%s client=%s", self.doc_id, self.client, exc_info=exc
                    )
                    self.close(Close.SERVER_FAULT)
                if self.state == SessionState.CLOSING:
                    with contextlib.suppress(TimeoutError, Exception):
                        await asyncio.wait_for(writer, 5.0)
            else:
                reader.cancel()
        except SessionClosed as e:
            self._close_code = e.code
            await self._send_close()
        except WebSocketDisconnect:
            pass
        finally:
            if writer is not None and not writer.done():
                writer.cancel()
            elif writer is not None and not writer.cancelled():
                # Retrieve how the writer ended (usually a send to a client that went away),
                # else asyncio logs "Task exception was never retrieved".
                exc = writer.exception()
                if exc is not None and not isinstance(exc, WebSocketDisconnect):
                    log.error(
                        "writer fault doc=%s client=%s", self.doc_id, self.client, exc_info=exc
                    )
            self.state = SessionState.CLOSED
            for timer in (self._expiry, self._abort_timer):
                # A timer holds the session (and through it the room) until it fires.
                if timer is not None:
                    timer.cancel()
            self._expiry = self._abort_timer = None
            if self.room is not None:
                self.room.leave(self)
            self.services.metrics.connections -= 1
            log.info(
                "disconnect doc=%s client=%s code=%s",
                self.doc_id,
                self.client,
                int(self._close_code) if self._close_code else None,
            )

    async def _receive_text(self) -> str:
        msg = await self.ws.receive()
        if msg["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(msg.get("code", 1000))
        text = msg.get("text")
        if text is None:
            raise SessionClosed(Close.UNSUPPORTED, "binary frames are not accepted")
        limit = self.settings.max_message_bytes
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
            raise SessionClosed(Close.TOO_BIG, "message over the size limit")
        return str(text)

    async def _receive_hello(self) -> Hello:
        try:
            text = await asyncio.wait_for(self._receive_text(), self.settings.hello_timeout)
        except TimeoutError:
            raise SessionClosed(Close.HELLO_TIMEOUT, "no hello in time") from None
        try:
            msg = parse(text)
        except ProtocolError as e:
            raise SessionClosed(Close.BAD_HELLO, e.message) from None
        if not isinstance(msg, Hello):
            raise SessionClosed(Close.BAD_HELLO, "the first message must be a hello")
        return msg

    async def _open(self, hello: Hello) -> None:
        services = self.services
        auth = services.auth
        try:
            token = hello.token or bearer_token(self.ws.headers.get("authorization"))
            identity: Identity = auth.authenticate(token)
        except AuthError as e:
            raise SessionClosed(e.close, str(e)) from None
        role = auth.role(identity, self.doc_id)
        if role is None:
            raise SessionClosed(Close.NO_ACCESS, "no access to this document")
        self.client = hello.client
        self.role = role
        self.user_id = identity.user_id
        # With tokens the name is the token's, whatever the hello says (PROTOCOL §7).
        self.user = hello.user if identity.name is None else {**hello.user, "name": identity.name}
        if identity.expires_at is not None:
            # The session ends when its token does.
            delay = max(0.0, identity.expires_at - time.time())
            self._expiry = asyncio.get_running_loop().call_later(
                delay, self.close, Close.UNAUTHORIZED, "the token has expired"
            )
        room = await services.rooms.acquire(self.doc_id, create=role == "edit")
        if room is None:
            raise SessionClosed(Close.NO_ACCESS, "the document does not exist")
        self.room = room
        self.state = SessionState.OPEN
        await room.join(self, hello)
        log.info(
            "connect doc=%s client=%s role=%s rev=%s", self.doc_id, self.client, role, hello.rev
        )

    async def _read_loop(self) -> None:
        while self.state == SessionState.OPEN:
            text = await self._receive_text()
            try:
                msg = parse(text)
                self._handlers[type(msg)](msg)  # type: ignore[operator]
            except ProtocolError as e:
                self.send_error(e)

    # -- handlers ---------------------------------------------------------------------------

    def _on_op(self, msg: OpMessage) -> None:
        if self.role != "edit":
            raise ProtocolError(ErrorCode.FORBIDDEN, "this connection may only view", msg.seq)
        if not self._ops.take():
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "too many operations, resend later", msg.seq
            )
        assert self.room is not None
        self.room.submit(self, msg.rev, msg.seq, msg.op)

    def _on_presence(self, msg: PresenceMessage) -> None:
        # The work a presence costs is its ranges times the revisions it is moved across:
        # bound both, and charge the budget by that product (docs/security.md).
        assert self.room is not None
        behind = self.room.rev - msg.rev
        ranges = len(msg.selection.ranges) if msg.selection is not None else 0
        limit = self.settings.presence_max_behind
        moves = ranges * max(behind, 0)
        if behind > limit or moves > PRESENCE_MAX_MOVES:
            raise ProtocolError(
                ErrorCode.BAD_REV,
                f"presence is {behind} revisions behind (at most {limit}, and "
                f"{PRESENCE_MAX_MOVES} range moves): send it at your current revision",
            )
        if not self._presence.take(1 + moves // PRESENCE_MOVES_PER_TOKEN):
            raise ProtocolError(ErrorCode.RATE_LIMITED, "too many presence updates")
        self.room.update_presence(self, msg.rev, msg.selection)

    def _on_ping(self, msg: Ping) -> None:
        self.send(PONG)

    def _on_second_hello(self, msg: Hello) -> None:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "hello was already received")
