"""The composition root: :func:`create_app` picks the store, pub/sub and authenticator.

Nothing else in the package imports a database or Redis driver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.types import Receive, Scope, Send

from collab.api import Ident
from collab.api import router as api_router
from collab.auth import Authenticator, OpenAuth
from collab.errors import Close
from collab.guard import Guard
from collab.metrics import Metrics
from collab.pubsub.base import PubSub
from collab.redact import RedactTokens, redact_server_logs
from collab.registry import Rooms
from collab.services import Services
from collab.session import Session
from collab.settings import Settings
from collab.store.base import Store
from collab.wire import DOC_ID

log = logging.getLogger("collab")

WEB_DIR = Path(__file__).resolve().parents[1] / "web"


__all__ = ["RedactTokens", "Services", "create_app"]


def _default_store(settings: Settings) -> Store:
    from collab.store.dburl import is_sqlite_url

    if is_sqlite_url(settings.database_url):
        # Same schema and file, one thread hop per call instead of one per statement.
        from collab.store.sqlite import SqliteStore

        return SqliteStore(settings.database_url)
    from collab.store.sql import SqlStore

    return SqlStore(settings.database_url)


def _default_pubsub(settings: Settings) -> PubSub:
    if settings.redis_url:
        from collab.pubsub.redis import RedisPubSub

        return RedisPubSub(settings.redis_url)
    from collab.pubsub.memory import MemoryPubSub

    return MemoryPubSub()


def _default_auth(settings: Settings) -> Authenticator:
    if settings.jwt_secret:
        from collab.jwt_auth import JwtAuth

        return JwtAuth(settings.jwt_secret)
    return OpenAuth()


class _CollabApp(FastAPI):
    """FastAPI, with ``/ws/{doc_id}`` served straight from the ASGI entry point.

    A WebSocket lives as long as its connection: going through the router and the
    middleware stack would keep their frames and exit stacks alive per connection (about a
    quarter of an idle connection's memory) and add a layer to every message sent.
    """

    ws_endpoint: Callable[[WebSocket, str], Awaitable[None]] | None = None
    guard: Guard | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.guard is not None:
            admitted = await self.guard.admit(scope, receive, send)
            if admitted is None:
                return
            receive = admitted
        if (
            scope["type"] == "websocket"
            and scope["path"].startswith("/ws/")
            and self.ws_endpoint is not None
        ):
            await self.ws_endpoint(WebSocket(scope, receive, send), scope["path"][4:])
            return
        await super().__call__(scope, receive, send)


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """PROTOCOL §5: no Origin (non-browser) passes; else the allow-list, or our own origin."""
    if origin is None:
        return True
    if allowed:
        return origin in allowed or "*" in allowed
    netloc = urlsplit(origin).netloc
    return bool(host) and netloc.lower() == (host or "").lower()


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    pubsub: PubSub | None = None,
    auth: Authenticator | None = None,
) -> FastAPI:
    """Build the application. Unset parts are chosen from ``settings``."""
    settings = settings or Settings.from_env()
    store = store if store is not None else _default_store(settings)
    pubsub = pubsub if pubsub is not None else _default_pubsub(settings)
    auth = auth if auth is not None else _default_auth(settings)
    metrics = Metrics()
    rooms = Rooms(store, pubsub, settings, metrics)
    services = Services(settings, store, pubsub, auth, rooms, metrics)
    redact_server_logs()
    live: set[Session] = set()
    metrics.queue_depth = lambda: sum(s.queued for s in live)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        await pubsub.start(rooms.on_message)
        log.info("started settings=%s", settings.masked())
        probe = None
        if settings.lag_probe_interval > 0:
            probe = asyncio.get_running_loop().create_task(
                metrics.probe_loop_lag(settings.lag_probe_interval)
            )
        try:
            yield
        finally:
            if probe is not None:
                probe.cancel()
            await rooms.close_all()  # each room bounded by settings.shutdown_timeout
            for closing in (pubsub.close(), store.close()):
                try:
                    await asyncio.wait_for(closing, settings.shutdown_timeout)
                except Exception:
                    log.warning("shutdown: a connection did not close cleanly", exc_info=True)

    app = _CollabApp(
        title="collab",
        summary="Collaborative plain-text editing over operational transformation.",
        description="WebSocket editing at `/ws/{doc_id}` (see docs/protocol.md); "
        "the HTTP API below manages documents and their history.",
        version="0.1.0",
        lifespan=lifespan,
        # With tokens, nothing but /healthz and the static editor shell answers without one.
        docs_url=None if settings.jwt_secret else "/docs",
        redoc_url=None if settings.jwt_secret else "/redoc",
        openapi_url=None if settings.jwt_secret else "/openapi.json",
    )
    app.state.services = services
    app.include_router(api_router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, and fails (500) on a body that is not
        # UTF-8; what was wrong, and where, is enough.
        detail = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
        return JSONResponse({"detail": detail}, 422)

    per_address: dict[str, int] = {}

    async def ws_endpoint(ws: WebSocket, doc_id: str) -> None:
        if not origin_allowed(
            ws.headers.get("origin"), ws.headers.get("host"), settings.allowed_origins
        ):
            log.info("refused origin=%s doc=%s", ws.headers.get("origin"), doc_id)
            await ws.close(code=int(Close.NO_ACCESS))
            return
        await ws.accept()
        if DOC_ID.fullmatch(doc_id) is None:
            await ws.close(code=int(Close.BAD_HELLO), reason="bad document id")
            return
        if rooms.closing:
            await ws.close(code=int(Close.GOING_AWAY))
            return
        address = ws.client.host if ws.client is not None else ""
        limit = settings.ws_per_address
        if limit and per_address.get(address, 0) >= limit:
            log.info("refused address=%s: %d connections open", address, limit)
            await ws.close(code=int(Close.ABUSE), reason="too many connections")
            return
        per_address[address] = per_address.get(address, 0) + 1
        metrics.connections += 1
        try:
            session = Session(ws, doc_id, services)
            live.add(session)
            await session.run()
        finally:
            live.discard(session)
            left = per_address[address] - 1
            if left:
                per_address[address] = left
            else:
                del per_address[address]

    app.ws_endpoint = ws_endpoint
    app.guard = Guard(
        auth,
        open_mode=isinstance(auth, OpenAuth),
        allowed_hosts=settings.allowed_hosts,
        max_body_bytes=settings.max_body_bytes,
    )

    @app.get("/healthz", summary="Liveness: 200 when the store answers", tags=["ops"])
    async def healthz() -> PlainTextResponse:
        ok = await store.ping()
        return PlainTextResponse("ok\n" if ok else "store unavailable\n", 200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", tags=["ops"])
    async def prometheus(who: Ident) -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/", include_in_schema=False, response_model=None)
    async def index() -> FileResponse | RedirectResponse:
        page = WEB_DIR / "index.html"
        if page.exists():
            return FileResponse(page)
        return RedirectResponse("/docs")

    @app.get("/d/{doc_id}", include_in_schema=False, response_model=None)
    async def editor(doc_id: str) -> FileResponse | RedirectResponse:
        page = WEB_DIR / "editor.html"
        if page.exists():
            return FileResponse(page)
        return RedirectResponse("/docs")

    if WEB_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        class _Revalidated(StaticFiles):
            # ES modules import each other: after an upgrade a browser must not mix cached
            # old modules with new ones, so every load revalidates (cheap, by ETag).
            def file_response(self, *args: Any, **kwargs: Any) -> Response:
                response = super().file_response(*args, **kwargs)
                response.headers["Cache-Control"] = "no-cache"
                return response

        app.mount("/web", _Revalidated(directory=WEB_DIR), name="web")
    return app
