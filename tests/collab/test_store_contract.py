"""The Store contract, run against every implementation.

``make_store`` is a factory fixture parametrised over MemoryStore, SqlStore on a SQLite file
and SqlStore on PostgreSQL: each call returns an open store over the same database (for
MemoryStore, the same object). PostgreSQL tests use one fresh database per session
(``collab_test_<random>``, dropped at the end) whose tables are emptied before each test.
They are skipped when PostgreSQL is unreachable, unless ``COLLAB_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from collab.store import migrate
from collab.store.base import (
    DocumentExists,
    DocumentNotFound,
    DuplicateOperation,
    NewOp,
    RevisionConflict,
    Store,
    StoreError,
)
from collab.store.dburl import SCHEMA_HEAD, is_sqlite_url, sqlite_path
from collab.store.memory import MemoryStore
from collab.store.migrate import (
    SchemaNotCurrent,
    alembic_config,
    current_revisions,
    head_revisions,
    upgrade_database,
)
from collab.store.schema import metadata, operations, snapshots, versions
from collab.store.sql import SqlStore
from collab.store.sqlite import SqliteStore
from tests.collab.services import drop_database

PG_URL = os.environ.get(
    "COLLAB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("COLLAB_REQUIRE_SERVICES") == "1"
TABLES = "documents, operations, snapshots, versions"

StoreFactory = Callable[[], Awaitable[Store]]


# --------------------------------------------------------------------------- fixtures


def _admin_engine(url: str = PG_URL) -> AsyncEngine:
    return create_async_engine(
        url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 5}
    )


async def create_pg_database() -> str:
    """Create an empty database on the test server; return its URL.

    It gets a linguistic collation when the server has ICU ("B" sorts after "a"), so the
    tests check that the store orders ids by code point whatever the database's collation.
    """
    name = f"collab_test_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    try:
        async with engine.connect() as conn:
            try:
                await conn.exec_driver_sql(
                    f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                    "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
                )
            except DBAPIError:  # no ICU, or PostgreSQL < 15
                await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        await engine.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server() -> None:
    """Skip (or fail, with COLLAB_REQUIRE_SERVICES=1) when PostgreSQL does not answer."""

    async def probe() -> None:
        engine = _admin_engine()
        try:
            async with engine.connect() as conn:
                await conn.execute(select(1))
        finally:
            await engine.dispose()

    try:
        asyncio.run(probe())
    except Exception as exc:
        where = make_url(PG_URL).render_as_string(hide_password=True)
        reason = f"PostgreSQL at {where} is unreachable ({exc!r}); set COLLAB_TEST_POSTGRES_URL"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} [COLLAB_REQUIRE_SERVICES=1]")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_url(pg_server: None) -> Iterator[str]:
    """A migrated database for this test session, dropped at the end."""
    url = asyncio.run(create_pg_database())
    try:
        asyncio.run(upgrade_database(url))
        yield url
    finally:
        asyncio.run(drop_database(url))


def _url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    if backend == "memory":
        return None
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'collab.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(params=["memory", "sqlite", "sqlite3", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None for MemoryStore, else the database URL (``sqlite3+`` selects SqliteStore)."""
    if request.param == "sqlite3":
        return "sqlite3+" + str(_url("sqlite", request, tmp_path))
    return _url(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = _url(request.param, request, tmp_path)
    assert url is not None
    return url


async def _factory(url: str | None) -> AsyncIterator[StoreFactory]:
    made: list[Store] = []
    shared = MemoryStore()

    async def make() -> Store:
        if url is None:
            await shared.open()
            made.append(shared)
            return shared
        if url.startswith("sqlite3+"):
            fast = SqliteStore(url.removeprefix("sqlite3+"))
            await fast.open()
            made.append(fast)
            return fast
        store = SqlStore(url)
        await store.open()
        if not made and not is_sqlite_url(url):  # one PostgreSQL database per session
            async with store.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY"))
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


@pytest.fixture
async def make_store(backend_url: str | None) -> AsyncIterator[StoreFactory]:
    """Open stores over one database, all implementations."""
    async for factory in _factory(backend_url):
        yield factory


@pytest.fixture
async def make_sql_store(sql_url: str) -> AsyncIterator[StoreFactory]:
    """Open SqlStores over one database (SQLite and PostgreSQL)."""
    async for factory in _factory(sql_url):
        yield factory


@pytest.fixture
async def store(make_store: StoreFactory) -> Store:
    return await make_store()


def new(rev: int, client: str | None = "c1", seq: int | None = None, **kw: Any) -> NewOp:
    """A NewOp; ``seq`` defaults to ``rev`` for a client's op."""
    if client is not None and seq is None:
        seq = rev
    return NewOp(rev=rev, op=kw.pop("op", [rev, "x"]), client=client, seq=seq, **kw)


def assert_utc(value: datetime) -> None:
    assert value.tzinfo is not None and value.utcoffset() == UTC.utcoffset(None)


async def assert_unchanged(store: Store, doc_id: str, rev: int, updated_at: datetime) -> None:
    info = await store.get_document(doc_id)
    assert info is not None and info.rev == rev and info.updated_at == updated_at
    assert [r.rev for r in await store.get_ops(doc_id, 0)] == list(range(1, rev + 1))


# --------------------------------------------------------------------------- documents


async def test_create_get_load(store: Store) -> None:
    info = await store.create_document("doc", "héllo 🎉")
    assert (info.id, info.rev) == ("doc", 0)
    assert info.created_at == info.updated_at
    assert_utc(info.created_at)
    assert await store.get_document("doc") == info
    assert await store.get_document("nope") is None
    loaded = await store.load("doc")
    assert loaded is not None
    assert (loaded.info, loaded.snapshot.rev, loaded.snapshot.text) == (info, 0, "héllo 🎉")
    assert loaded.tail == []
    assert await store.load("nope") is None
    assert await store.ping()


async def test_create_existing_raises(store: Store) -> None:
    await store.create_document("doc", "one")
    with pytest.raises(DocumentExists):
        await store.create_document("doc", "two")
    loaded = await store.load("doc")
    assert loaded is not None and loaded.snapshot.text == "one"


async def test_list_documents_orders_by_code_point_and_pages(store: Store) -> None:
    ids = ["b", "a", "B", "a-1", "a.2", "a_3", "0", "Z9", "a"]
    for doc_id in dict.fromkeys(ids):
        await store.create_document(doc_id)
    expected = sorted(set(ids))
    assert [d.id for d in await store.list_documents()] == expected
    assert [d.id for d in await store.list_documents(limit=3)] == expected[:3]
    after_a = expected[expected.index("a") + 1 :]
    assert [d.id for d in await store.list_documents(after="a")] == after_a
    assert await store.list_documents(after="b") == []
    assert await store.list_documents(limit=0) == []
    paged: list[str] = []
    after: str | None = None
    while page := await store.list_documents(limit=2, after=after):
        paged += [d.id for d in page]
        after = page[-1].id
    assert paged == expected


async def test_delete_cascades(store: Store) -> None:
    await store.create_document("doc", "abc")
    await store.commit("doc", [new(1), new(2, None)])
    await store.save_snapshot("doc", 2, "abcxx")
    await store.add_version("doc", 2, "named", "v", "ada")
    await store.create_document("other")
    await store.commit("other", [new(1)])

    assert await store.delete_document("doc") is True
    assert await store.delete_document("doc") is False
    assert await store.get_document("doc") is None
    assert await store.load("doc") is None
    assert await store.get_ops("doc", 0) == []
    assert await store.nearest_snapshot("doc", 10) is None
    assert await store.list_versions("doc") == []
    assert await store.find_seq("doc", "c1", 1) is None
    assert await store.last_seq("doc", "c1") == 0
    # A new document with the same id starts from nothing.
    await store.create_document("doc")
    assert await store.get_ops("doc", 0) == []
    assert await store.last_seq("doc", "c1") == 0
    assert await store.list_versions("doc") == []
    snapshot = await store.nearest_snapshot("doc", 10)
    assert snapshot is not None and (snapshot.rev, snapshot.text) == (0, "")
    # Other documents are untouched.
    assert [r.rev for r in await store.get_ops("other", 0)] == [1]


# --------------------------------------------------------------------------- commit


async def test_commit_single(store: Store) -> None:
    created = await store.create_document("doc", "ab")
    user = {"name": "Ada 🎉", "color": "#e91e63"}
    [record] = await store.commit("doc", [NewOp(1, [2, "ü🎉"], "c1", 1, user=user, user_id="u-1")])
    assert (record.rev, record.op, record.client, record.seq) == (1, [2, "ü🎉"], "c1", 1)
    assert (record.user, record.user_id) == (user, "u-1")
    assert_utc(record.created_at)
    assert await store.get_ops("doc", 0) == [record]
    info = await store.get_document("doc")
    assert info is not None and info.rev == 1
    assert info.created_at == created.created_at
    assert info.updated_at == record.created_at >= created.updated_at


async def test_commit_batch_is_contiguous(store: Store) -> None:
    await store.create_document("doc")
    records = await store.commit("doc", [new(1), new(2), new(3, "c2", 1)])
    assert [r.rev for r in records] == [1, 2, 3]
    assert await store.get_ops("doc", 0) == records
    records += await store.commit("doc", [new(4), new(5)])
    assert await store.get_ops("doc", 0) == records
    info = await store.get_document("doc")
    assert info is not None and info.rev == 5
    with pytest.raises(ValueError):
        await store.commit("doc", [new(6), new(8)])
    assert await store.commit("doc", []) == []
    await assert_unchanged(store, "doc", 5, info.updated_at)


async def test_commit_revision_conflict_writes_nothing(store: Store) -> None:
    await store.create_document("doc")
    await store.commit("doc", [new(1), new(2)])
    info = await store.get_document("doc")
    assert info is not None
    for batch in (
        [new(2, "c2", 1)],
        [new(4, "c2", 1)],
        [new(1, "c2", 1)],
        [new(2, "c2", 1), new(3, "c2", 2)],
    ):
        with pytest.raises(RevisionConflict):
            await store.commit("doc", batch)
        await assert_unchanged(store, "doc", 2, info.updated_at)
    assert await store.last_seq("doc", "c2") == 0


async def test_commit_missing_document(store: Store) -> None:
    with pytest.raises(DocumentNotFound):
        await store.commit("nope", [new(1)])
    with pytest.raises(DocumentNotFound):
        await store.commit("nope", [])
    assert await store.get_document("nope") is None


async def test_duplicate_operation_writes_nothing(store: Store) -> None:
    await store.create_document("doc")
    await store.commit("doc", [new(1, "c1", 1)])
    info = await store.get_document("doc")
    assert info is not None
    batches = [
        [new(2, "c1", 1)],
        [new(2, "c1", 2), new(3, "c1", 1), new(4, "c1", 3)],  # in the middle of a batch
        [new(2, "c2", 1), new(3, "c2", 1)],  # repeated within the batch
    ]
    for batch in batches:
        with pytest.raises(DuplicateOperation) as caught:
            await store.commit("doc", batch)
        assert (caught.value.client, caught.value.seq) in {("c1", 1), ("c2", 1)}
        await assert_unchanged(store, "doc", 1, info.updated_at)
    assert await store.last_seq("doc", "c1") == 1
    assert await store.last_seq("doc", "c2") == 0
    # The same seq is fine for another client and for the same client on another document.
    await store.commit("doc", [new(2, "c2", 1)])
    await store.create_document("other")
    await store.commit("other", [new(1, "c1", 1)])
    assert await store.find_seq("other", "c1", 1) == 1


async def test_server_ops_without_client_may_repeat(store: Store) -> None:
    await store.create_document("doc")
    await store.commit("doc", [new(1, None), new(2, None)])
    records = await store.commit("doc", [new(3, None, user={"name": "Ada"}, user_id="u")])
    assert (records[0].client, records[0].seq, records[0].user_id) == (None, None, "u")
    assert [(r.client, r.seq) for r in await store.get_ops("doc", 0)] == [(None, None)] * 3


async def test_get_ops_after_and_limit(store: Store) -> None:
    await store.create_document("doc")
    await store.commit("doc", [new(r) for r in range(1, 6)])
    assert [r.rev for r in await store.get_ops("doc", 2)] == [3, 4, 5]
    assert [r.rev for r in await store.get_ops("doc", 2, limit=2)] == [3, 4]
    assert [r.rev for r in await store.get_ops("doc", 0, limit=1)] == [1]
    assert await store.get_ops("doc", 0, limit=0) == []
    assert await store.get_ops("doc", 5) == []
    assert await store.get_ops("doc", 99) == []
    assert await store.get_ops("nope", 0) == []


async def test_find_seq_and_last_seq(store: Store) -> None:
    await store.create_document("doc")
    await store.commit("doc", [new(1, "a", 1), new(2, "b", 1)])
    await store.commit("doc", [new(3, None), new(4, "a", 2), new(5, "b", 2), new(6, "a", 3)])
    assert await store.find_seq("doc", "a", 1) == 1
    assert await store.find_seq("doc", "a", 2) == 4
    assert await store.find_seq("doc", "a", 3) == 6
    assert await store.find_seq("doc", "b", 2) == 5
    assert await store.find_seq("doc", "a", 4) is None
    assert await store.find_seq("doc", "zz", 1) is None
    assert await store.find_seq("nope", "a", 1) is None
    assert await store.last_seq("doc", "a") == 3
    assert await store.last_seq("doc", "b") == 2
    assert await store.last_seq("doc", "zz") == 0
    assert await store.last_seq("nope", "a") == 0


async def test_client_owner(store: Store) -> None:
    await store.create_document("doc")
    await store.commit(
        "doc",
        [new(1, "a", 1, user_id="alice"), new(2, "open", 1), new(3, "a", 2, user_id="alice")],
    )
    assert await store.client_owner("doc", "a") == "alice"
    assert await store.client_owner("doc", "open") is None
    assert await store.client_owner("doc", "zz") is None
    assert await store.client_owner("nope", "a") is None


# --------------------------------------------------------------------------- snapshots


async def test_snapshots_and_nearest(store: Store) -> None:
    await store.create_document("doc", "v0")
    await store.commit("doc", [new(r) for r in range(1, 8)])
    await store.save_snapshot("doc", 3, "v3")
    await store.save_snapshot("doc", 3, "ignored")  # idempotent: the first one stays
    await store.save_snapshot("doc", 6, "v6")
    nearest = {rev: await store.nearest_snapshot("doc", rev) for rev in (0, 2, 3, 5, 6, 7)}
    assert {rev: (s.rev, s.text) for rev, s in nearest.items() if s} == {
        0: (0, "v0"),
        2: (0, "v0"),
        3: (3, "v3"),
        5: (3, "v3"),
        6: (6, "v6"),
        7: (6, "v6"),
    }
    assert await store.nearest_snapshot("doc", -1) is None
    assert await store.nearest_snapshot("nope", 5) is None
    with pytest.raises(DocumentNotFound):
        await store.save_snapshot("nope", 1, "x")


async def test_load_is_latest_snapshot_plus_tail(store: Store) -> None:
    await store.create_document("doc", "ab")
    ops = [new(1, op=[2, "c"]), new(2, op=[3, "d"]), new(3, op=[-1, 3]), new(4, op=["x", 3])]
    records = await store.commit("doc", ops)
    loaded = await store.load("doc")
    assert loaded is not None and loaded.snapshot.rev == 0 and loaded.tail == records
    await store.save_snapshot("doc", 2, "abcd")
    loaded = await store.load("doc")
    assert loaded is not None
    assert (loaded.info.rev, loaded.snapshot.rev, loaded.snapshot.text) == (4, 2, "abcd")
    assert loaded.tail == records[2:]
    await store.save_snapshot("doc", 4, "xbcd")
    loaded = await store.load("doc")
    assert loaded is not None and (loaded.snapshot.rev, loaded.tail) == (4, [])


# --------------------------------------------------------------------------- versions


async def test_versions_newest_first(store: Store) -> None:
    await store.create_document("doc")
    made = [
        await store.add_version("doc", 2, "auto", None, None),
        await store.add_version("doc", 5, "named", "release", "ada"),
        await store.add_version("doc", 3, "auto", None, None),
        await store.add_version("doc", 5, "restore", None, "bob"),
    ]
    named = made[1]
    assert (named.rev, named.kind, named.label, named.author) == (5, "named", "release", "ada")
    for version in made:
        assert_utc(version.created_at)
    listed = await store.list_versions("doc")
    assert listed == [made[3], made[1], made[2], made[0]]
    assert await store.list_versions("doc", limit=2) == [made[3], made[1]]
    assert await store.list_versions("nope") == []
    with pytest.raises(DocumentNotFound):
        await store.add_version("nope", 1, "auto", None, None)
    with pytest.raises(ValueError):
        await store.add_version("doc", 1, "bogus", None, None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- concurrency


async def test_concurrent_commits_one_wins(make_store: StoreFactory) -> None:
    """Two stores (two connection pools) race for each revision: exactly one wins."""
    first, second = await make_store(), await make_store()
    await first.create_document("doc")
    winners: list[str | None] = []
    for rev in range(1, 11):
        results = await asyncio.gather(
            first.commit("doc", [new(rev, "a")]),
            second.commit("doc", [new(rev, "b")]),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, list)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], RevisionConflict), lost
        winners.append(won[0][0].client)
    history = await second.get_ops("doc", 0)
    assert [(r.rev, r.client) for r in history] == list(enumerate(winners, start=1))
    info = await first.get_document("doc")
    assert info is not None and info.rev == 10


async def test_concurrent_batches_never_interleave(make_store: StoreFactory) -> None:
    """Batches racing for overlapping revisions: the history is one winner's batch."""
    first, second = await make_store(), await make_store()
    await first.create_document("doc")
    results = await asyncio.gather(
        first.commit("doc", [new(1, "a"), new(2, "a"), new(3, "a")]),
        second.commit("doc", [new(1, "b"), new(2, "b")]),
        return_exceptions=True,
    )
    [won] = [r for r in results if isinstance(r, list)]
    assert sum(isinstance(r, RevisionConflict) for r in results) == 1
    assert await first.get_ops("doc", 0) == won


async def test_ping_and_close(make_store: StoreFactory) -> None:
    store = await make_store()
    assert await store.ping()
    await store.close()
    assert not await store.ping()
    await store.close()  # idempotent


# --------------------------------------------------------------------------- SQL only


async def test_persists_across_reopen(make_sql_store: StoreFactory) -> None:
    store = await make_sql_store()
    await store.create_document("doc", "hi")
    records = await store.commit("doc", [new(1, user={"name": "Ada"}, user_id="u1")])
    await store.save_snapshot("doc", 1, "hi!")
    version = await store.add_version("doc", 1, "named", "first", "ada")
    info = await store.get_document("doc")
    await store.close()

    reopened = await make_sql_store()
    assert await reopened.get_document("doc") == info
    assert await reopened.get_ops("doc", 0) == records
    assert await reopened.list_versions("doc") == [version]
    loaded = await reopened.load("doc")
    assert loaded is not None and (loaded.snapshot.text, loaded.tail) == ("hi!", [])


async def test_delete_removes_child_rows(make_sql_store: StoreFactory) -> None:
    store = await make_sql_store()
    assert isinstance(store, SqlStore)
    await store.create_document("doc")
    await store.commit("doc", [new(1)])
    await store.add_version("doc", 1, "auto", None, None)
    assert await store.delete_document("doc")
    async with store.engine.connect() as conn:
        for table in (operations, snapshots, versions):
            count = await conn.scalar(select(func.count()).select_from(table))
            assert count == 0, table.name


async def test_sqlite_connection_settings(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "collab.db"
    store = SqlStore(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=4321)
    await store.open()
    try:
        assert path.is_file()
        async with store.engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
            assert await conn.run_sync(current_revisions) == head_revisions()
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 2,  # FULL
            "foreign_keys": 1,
            "busy_timeout": 4321,
        }
    finally:
        await store.close()


def test_missing_migration_scripts_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrate, "__file__", "/nonexistent/collab/store/migrate.py")
    with pytest.raises(StoreError, match="migration scripts not found"):
        migrate.alembic_config()


async def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(StoreError, match="MemoryStore"):
        await SqlStore("sqlite+aiosqlite://").open()


def _schema_diffs(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diffs: list[Any] = compare_metadata(context, metadata)
    return diffs


async def _diffs(url: str) -> list[Any]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_schema_diffs)
    finally:
        await engine.dispose()


async def test_sqlite_migration_matches_schema_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new' / 'm.db'}"
    await upgrade_database(url)
    await upgrade_database(url)  # idempotent
    assert await _diffs(url) == []
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    assert len(await _diffs(url)) > 0
    await upgrade_database(url)
    assert await _diffs(url) == []


@pytest.fixture
def empty_pg_url(pg_server: None) -> Iterator[str]:
    url = asyncio.run(create_pg_database())
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


async def test_postgresql_requires_upgrade_then_upgrades_idempotently(empty_pg_url: str) -> None:
    store = SqlStore(empty_pg_url)
    with pytest.raises(SchemaNotCurrent, match="collab db upgrade"):
        await store.open()
    await upgrade_database(empty_pg_url)
    await upgrade_database(empty_pg_url)  # idempotent
    assert await _diffs(empty_pg_url) == []
    await store.migrate()  # the store's own path is idempotent too
    await store.open()
    try:
        await store.create_document("doc")
        assert [r.rev for r in await store.commit("doc", [new(1)])] == [1]
        async with store.engine.connect() as conn:
            assert await conn.run_sync(current_revisions) == head_revisions()
    finally:
        await store.close()


async def test_concurrent_commits_to_many_documents(store: Store) -> None:
    """Commits in flight together (one group transaction in SqliteStore) succeed or fail
    each on its own: a conflict in one batch leaves the others committed."""
    docs = [f"d{i}" for i in range(12)]
    for d in docs:
        await store.create_document(d)
    await store.commit("d0", [new(1)])
    results = await asyncio.gather(
        *(store.commit(d, [new(1), new(2)]) for d in docs), return_exceptions=True
    )
    assert isinstance(results[0], RevisionConflict)  # d0 is already at revision 1
    for d, result in zip(docs[1:], results[1:], strict=True):
        assert not isinstance(result, BaseException), (d, result)
        assert [r.rev for r in await store.get_ops(d, 0)] == [1, 2]
    assert [r.rev for r in await store.get_ops("d0", 0)] == [1]
    dup = await asyncio.gather(
        store.commit("d1", [new(3, "c1", 1)]), store.commit("d2", [new(3)]), return_exceptions=True
    )
    assert isinstance(dup[0], DuplicateOperation)
    assert not isinstance(dup[1], BaseException)
    assert (await store.get_document("d2")).rev == 3  # type: ignore[union-attr]


def test_schema_head_constant_matches_the_migrations() -> None:
    """SqliteStore skips Alembic when a file is at SCHEMA_HEAD; it must be the real head."""
    assert migrate.head_revisions() == {SCHEMA_HEAD}


def test_sqlite_urls_without_sqlalchemy() -> None:
    assert sqlite_path("sqlite+aiosqlite:///./x.db") == "./x.db"
    assert sqlite_path("sqlite+aiosqlite:////abs/x.db") == "/abs/x.db"
    assert sqlite_path("sqlite:///rel/x.db?mode=rwc") == "rel/x.db"
    assert is_sqlite_url("SQLITE+aiosqlite:///x") and not is_sqlite_url("postgresql+asyncpg://h/d")
    for bad in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:", "postgresql://h/d"):
        with pytest.raises(ValueError):
            sqlite_path(bad)
