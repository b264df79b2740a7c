"""Checks made at the door, before any route reads a request (docs/security.md):

* **Host** (open mode): the ``Host`` header must name this machine (a loopback name) or a
  host in ``COLLAB_ALLOWED_HOSTS``, for HTTP and WebSocket alike. Without it a page on
  ``evil.example`` whose name is re-bound to 127.0.0.1 (DNS rebinding) would be same-origin
  with the server and could read and change every document. With tokens the token is the
  credential and any Host is served.
* **Authentication first**: with tokens, an ``/api`` or ``/metrics`` request without a valid
  one is answered 401 before its body is read or parsed.
* **Body size**: a request body over ``COLLAB_MAX_BODY_BYTES`` is answered 413, whether it
  announces its length or not, and no more of it is read.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from collab.auth import Authenticator, AuthError, bearer_token

LOOPBACK = ("localhost", "127.0.0.1", "::1")
_WITH_BODY = ("POST", "PUT", "PATCH")


def host_name(host: str) -> str:
    """The name part of a Host header (``[::1]:8000`` -> ``::1``), lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def host_allowed(host: str | None, allowed: tuple[str, ...]) -> bool:
    """Open mode: is ``host`` this machine, or one of the configured hosts?"""
    if "*" in allowed:
        return True
    if not host:
        return False
    name = host_name(host)
    return name in LOOPBACK or name.endswith(".localhost") or name in allowed


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class Guard:
    """The door checks of one app; :meth:`admit` runs them for each request."""

    def __init__(
        self,
        auth: Authenticator,
        *,
        open_mode: bool,
        allowed_hosts: tuple[str, ...],
        max_body_bytes: int,
    ) -> None:
        self.auth = auth
        self.open_mode = open_mode
        self.allowed_hosts = allowed_hosts
        self.max_body_bytes = max_body_bytes

    async def admit(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """The ``receive`` the app should use, or None when the request was answered."""
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return receive
        if self.open_mode and not host_allowed(_header(scope, b"host"), self.allowed_hosts):
            await self._refuse(scope, receive, send, 403, "host not allowed")
            return None
        if kind == "websocket":
            return receive
        path: str = scope.get("path", "")
        if not self.open_mode and (path.startswith("/api/") or path == "/metrics"):
            try:
                self.auth.authenticate(bearer_token(_header(scope, b"authorization")))
            except AuthError as e:
                await self._refuse(scope, receive, send, e.status, str(e))
                return None
        if scope.get("method") in _WITH_BODY:
            return await self._buffer_body(scope, receive, send)
        return receive

    async def _buffer_body(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        limit = self.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, 413, f"body over {limit} bytes")
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                first: Message = message
                break
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._refuse(scope, receive, send, 413, f"body over {limit} bytes")
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return first
            return await receive()

        return replay

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, why: str) -> None:
        if scope["type"] == "websocket":
            await WebSocket(scope, receive, send).close(code=1008, reason=why)
            return
        await JSONResponse({"detail": why}, status)(scope, receive, send)
