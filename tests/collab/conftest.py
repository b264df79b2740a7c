"""Fixtures for server tests: a real uvicorn server on a free port, in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

from collab.app import Services, create_app
from collab.pubsub.base import PubSub
from collab.settings import Settings
from collab.store.base import Store


@dataclass
class RunningServer:
    """A started server: ``url`` for HTTP, ``ws(doc)`` for WebSocket addresses."""

    app: FastAPI
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, doc_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{doc_id}"

    @property
    def services(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]

    async def stop(self) -> None:
        """Graceful stop, as on SIGTERM: sessions are closed with 1001 first."""
        if self.task.done():
            return
        await self.services.rooms.close_all()
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start_server(
    settings: Settings,
    *,
    store: Store | None = None,
    pubsub: PubSub | None = None,
    port: int = 0,
) -> RunningServer:
    app = create_app(settings, store=store, pubsub=pubsub)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=settings.max_message_bytes,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        ws_per_message_deflate=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server did not start")
        await asyncio.sleep(0.01)
    sock_port = server.servers[0].sockets[0].getsockname()[1]
    return RunningServer(app, server, task, sock_port)


ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'collab.db'}"


@pytest.fixture
async def server_factory(db_url: str) -> AsyncIterator[ServerFactory]:
    """``await server_factory(**settings_overrides)`` starts a server on a fresh SQLite file."""
    started: list[RunningServer] = []

    async def make(
        store: Store | None = None, pubsub: PubSub | None = None, **overrides: Any
    ) -> RunningServer:
        overrides.setdefault("database_url", db_url)
        overrides.setdefault("unload_grace", 0.2)
        settings = Settings.from_env({}, **overrides)
        srv = await start_server(settings, store=store, pubsub=pubsub)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        await srv.stop()


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    """One running server with default settings on a fresh SQLite file."""
    return await server_factory()


# -- one server per module, for long tables of small cases ------------------------------------
#
# Starting and stopping a server costs about 0.3 s; a module of many small, per-document
# cases shares one instead. Such a module runs its tests in the module's event loop
# (``pytestmark = pytest.mark.asyncio(loop_scope="module")``), asks for ``shared_server`` and
# gives each test its own document (``doc_id``), so that no test sees another's state.


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    """A server with default settings shared by one test module, on its own SQLite file."""
    path = tmp_path_factory.mktemp("shared") / "collab.db"
    settings = Settings.from_env({}, database_url=f"sqlite+aiosqlite:///{path}", unload_grace=0.2)
    srv = await start_server(settings)
    yield srv
    await srv.stop()


@pytest.fixture
def doc_id(request: pytest.FixtureRequest) -> str:
    """A document id that belongs to this test alone."""
    return "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]
