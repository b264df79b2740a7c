"""Engines for :class:`collab.store.sql.SqlStore`: SQLite connection settings, migrating.

SQLite gets, on every new connection: WAL (readers do not block the writer),
``synchronous=FULL`` (a commit survives power loss once it returns), foreign keys (for
ON DELETE CASCADE) and a busy timeout (wait for another writer's lock instead of failing).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from collab.store.base import StoreError
from collab.store.dburl import is_sqlite_url as is_sqlite
from collab.store.migrate import ensure_sqlite_parent, upgrade_connection


def make_engine(url: str, *, busy_timeout_ms: int = 10_000, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; ``options`` go to ``create_async_engine``.

    Raises StoreError for in-memory SQLite (each pooled connection would see its own empty
    database). Creates the folder of a SQLite file.
    """
    if not is_sqlite(url):
        return create_async_engine(url, **options)
    database = make_url(url).database
    if not database or database == ":memory:":
        raise StoreError("in-memory SQLite is not supported; use MemoryStore")
    ensure_sqlite_parent(url)
    engine = create_async_engine(url, **options)
    pragmas = (
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=ON",
        f"busy_timeout={int(busy_timeout_ms)}",
    )

    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    event.listen(engine.sync_engine, "connect", on_connect)
    return engine


async def upgrade_engine(engine: AsyncEngine) -> None:
    """Migrate the engine's database to the newest schema, in one transaction. Idempotent."""
    sqlite = engine.dialect.name == "sqlite"
    async with engine.connect() as conn:
        if sqlite:
            # A batch migration recreates tables: dropping one must not cascade deletes, and
            # the pragma cannot change inside a transaction. IMMEDIATE takes the write lock
            # first, so processes that open the same new file at once migrate one by one.
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            await conn.run_sync(upgrade_connection)
            await conn.commit()
        finally:
            if sqlite:  # never reuse a connection with foreign keys off: discard it
                await conn.invalidate()
