"""Real services for tests that need them: PostgreSQL databases, redis-server, ``collab serve``.

Everything here is bounded in time: a service that does not come up fails (or skips) the
test instead of hanging it. Tests that need PostgreSQL or Redis skip with the reason when
the service is unreachable, and fail instead when ``COLLAB_REQUIRE_SERVICES=1`` (CI).

- PostgreSQL: ``COLLAB_TEST_POSTGRES_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:
  5432/test``) is the admin database; :func:`create_database` makes a fresh, migrated
  ``collab_mp_<random>`` beside it, :func:`drop_database` removes it.
- Redis: ``COLLAB_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) is shared; a test
  that stops Redis starts its own :class:`RedisServer` on a free port instead.
- :class:`ServerProcess`: ``collab serve`` as a subprocess on a free port, configured through
  ``COLLAB_DATABASE_URL`` / ``COLLAB_REDIS_URL``, killed with SIGKILL or stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from collab.store.migrate import upgrade_database

PG_URL = os.environ.get(
    "COLLAB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("COLLAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("COLLAB_REQUIRE_SERVICES") == "1"

NO_PERSISTENCE = ("--save", "", "--appendonly", "no")
STARTUP_TIMEOUT = 30.0  # seconds for a process to answer (three start at once on small CI boxes)


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when ``COLLAB_REQUIRE_SERVICES=1``."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} [COLLAB_REQUIRE_SERVICES=1]")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _deadline_loop(timeout: float, interval: float = 0.05) -> AsyncIterator[None]:
    """Yield until ``timeout`` has passed, sleeping ``interval`` between rounds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        yield
        await asyncio.sleep(interval)


# -- PostgreSQL -------------------------------------------------------------------------------


def _admin_engine() -> AsyncEngine:
    return create_async_engine(
        PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 5}
    )


async def postgres_problem() -> str | None:
    """None when the admin database answers, else why not."""
    engine = _admin_engine()
    try:
        async with engine.connect() as conn:
            await conn.execute(select(1))
    except Exception as exc:
        where = make_url(PG_URL).render_as_string(hide_password=True)
        return f"PostgreSQL at {where} is unreachable ({exc!r}); set COLLAB_TEST_POSTGRES_URL"
    finally:
        await engine.dispose()
    return None


async def create_database(prefix: str = "collab_mp") -> str:
    """A fresh database migrated to the newest schema; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        await engine.dispose()
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    await upgrade_database(url)
    return url


async def drop_database(url: str) -> None:
    engine = _admin_engine()
    try:
        async with engine.connect() as conn:
            name = make_url(url).database
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await engine.dispose()


@contextlib.contextmanager
def fresh_database(prefix: str, *, with_redis: bool = False) -> Iterator[str]:
    """A migrated PostgreSQL database for a test module, dropped afterwards; skips (or
    fails with COLLAB_REQUIRE_SERVICES=1) when PostgreSQL (or Redis) is unreachable."""
    problem = asyncio.run(postgres_problem())
    if problem is None and with_redis:
        problem = asyncio.run(redis_problem(REDIS_URL))
    if problem is not None:
        unavailable(problem)
    url = asyncio.run(create_database(prefix))
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


# -- Redis ------------------------------------------------------------------------------------


async def redis_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Redis server answers PING at ``host:port``."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(b"PING\r\n")
                await writer.drain()
                return (await reader.readline()).startswith(b"+PONG")
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return False


async def redis_problem(url: str = REDIS_URL) -> str | None:
    """None when the Redis at ``url`` answers, else why not."""
    parsed = urlsplit(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 6379
    if await redis_ping(host, port):
        return None
    return f"Redis at {host}:{port} is unreachable; set COLLAB_TEST_REDIS_URL"


def redis_server_binary() -> str:
    """The path of ``redis-server``; skips (or fails) the test without it."""
    path = shutil.which("redis-server")
    if path is None:
        unavailable("the redis-server binary is not installed (needed to stop/restart Redis)")
    return path


@dataclass
class RedisServer:
    """A private ``redis-server`` on a free port that a test may kill and restart."""

    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start (or restart, on the same port) and wait until it answers PING."""
        binary = redis_server_binary()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [binary, *("--port", str(self.port), "--bind", "127.0.0.1"), *NO_PERSISTENCE],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            if not isinstance(log, int):
                log.close()
        async for _ in _deadline_loop(10.0, 0.02):
            if await redis_ping("127.0.0.1", self.port, 0.5):
                return
            if self.proc.poll() is not None:
                break
        self.kill()
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL: connections drop at once, nothing is saved."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


# -- collab serve -----------------------------------------------------------------------------


def _collab_command() -> list[str]:
    script = Path(sys.executable).with_name("collab")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "collab.cli"]


@dataclass
class ServerProcess:
    """One ``collab serve`` subprocess."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, doc_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{doc_id}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final snapshot, sockets reset."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 15.0) -> None:
        """SIGTERM (graceful: sessions closed with 1001), SIGKILL if it takes too long."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    async def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll ``/healthz`` until it answers 200 (bounded)."""
        async with httpx.AsyncClient(timeout=1.0) as http:
            async for _ in _deadline_loop(timeout):
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"collab serve on port {self.port} exited with {self.proc.returncode}:"
                        f"\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url + "/healthz")).status_code == 200:
                        return
        self.kill()
        raise RuntimeError(f"collab serve on port {self.port} not ready:\n{self.log_tail()}")


def spawn_server(
    database_url: str,
    redis_url: str | None,
    log_dir: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> ServerProcess:
    """Start ``collab serve`` on ``port`` or a free one (not yet ready: see :meth:`wait_ready`)."""
    port = port or free_port()
    log_path = log_dir / f"collab-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COLLAB_")}
    full_env["COLLAB_DATABASE_URL"] = database_url
    if redis_url:
        full_env["COLLAB_REDIS_URL"] = redis_url
    full_env.update(env or {})
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [*_collab_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=log_dir,
        )
    return ServerProcess(proc, port, log_path)


async def start_servers(
    n: int,
    database_url: str,
    redis_url: str | None,
    log_dir: Path,
    env: dict[str, str] | None = None,
) -> list[ServerProcess]:
    """Start ``n`` processes at once and wait until all answer ``/healthz``."""
    servers = [spawn_server(database_url, redis_url, log_dir, env) for _ in range(n)]
    try:
        await asyncio.gather(*(s.wait_ready() for s in servers))
    except BaseException:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: list[ServerProcess]) -> None:
    for s in servers:
        s.terminate()


# -- HTTP reads -------------------------------------------------------------------------------


async def doc_state(http: httpx.AsyncClient, base_url: str, doc_id: str) -> tuple[int, str]:
    """``(rev, text)`` from ``GET /api/docs/{id}`` on one process."""
    r = await http.get(f"{base_url}/api/docs/{doc_id}")
    r.raise_for_status()
    body = r.json()
    return int(body["rev"]), str(body["text"])


async def ops_log(http: httpx.AsyncClient, base_url: str, doc_id: str) -> list[dict[str, Any]]:
    """Every committed op record of a document, paging through ``/ops`` (1000 at a time)."""
    out: list[dict[str, Any]] = []
    while True:
        r = await http.get(
            f"{base_url}/api/docs/{doc_id}/ops", params={"after": len(out), "limit": 1000}
        )
        r.raise_for_status()
        page = r.json()
        if not page:
            return out
        out.extend(page)


async def metric(http: httpx.AsyncClient, base_url: str, name: str) -> float:
    """One unlabelled sample from a process's ``/metrics`` page (0 when absent)."""
    r = await http.get(f"{base_url}/metrics")
    r.raise_for_status()
    for line in r.text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return float(parts[1])
    return 0.0
