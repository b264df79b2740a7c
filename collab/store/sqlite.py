"""The SQLite store on the standard library's ``sqlite3``, in one dedicated thread.

Same schema and file format as :class:`collab.store.sql.SqlStore` (which migrates the file
on open), but every store call is **one** hop to the database thread running plain
prepared SQL, instead of a SQLAlchemy + aiosqlite round trip per statement. A commit of a
batch is one ``BEGIN IMMEDIATE .. COMMIT`` with ``synchronous=FULL``: durable when it
returns. The composition root uses it for ``sqlite+aiosqlite://`` URLs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from collab.store.base import (
    DocInfo,
    DocumentExists,
    DocumentNotFound,
    LoadedDocument,
    NewOp,
    OpRecord,
    Snapshot,
    StoreError,
    Version,
    VersionKind,
    batch_keys,
    check_batch,
    check_version_kind,
    commit_refused,
    committed_records,
)
from collab.store.base import now as _now
from collab.store.dburl import SCHEMA_HEAD, sqlite_path, sqlite_schema_version

T = TypeVar("T")
_TS = "%Y-%m-%d %H:%M:%S.%f"  # what SQLAlchemy writes for DateTime on SQLite (UTC, naive)
_OP_COLUMNS = 'rev, op, client, seq, "user", user_id, created_at'


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_TS)


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _record(row: tuple[Any, ...]) -> OpRecord:
    rev, op, client, seq, user, user_id, created = row
    return OpRecord(rev, orjson.loads(op), client, seq, orjson.loads(user), user_id, _dt(created))


@dataclass(slots=True)
class _Commit:
    """A batch waiting for the next group transaction."""

    doc_id: str
    ops: list[NewOp]
    rows: list[tuple[Any, ...]]
    ts: str
    done: asyncio.Future[None]


class SqliteStore:
    """A :class:`~collab.store.base.Store` in one SQLite file."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        try:
            self.path = sqlite_path(url)
        except ValueError as e:
            raise StoreError(str(e)) from None
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._waiting: list[_Commit] = []
        self._flusher: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    # -- plumbing ----------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StoreError(f"{self!r} is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _c(self) -> sqlite3.Connection:
        assert self._conn is not None
        return self._conn

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            f"busy_timeout={int(self._busy_timeout_ms)}",
        ):
            conn.execute(f"PRAGMA {pragma}")
        self._conn = conn

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the file, migrating it through Alembic first if its schema is not current."""
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="collab-sqlite")
        if await self._run(sqlite_schema_version, self.path) != SCHEMA_HEAD:
            from collab.store.sql import SqlStore  # SQLAlchemy + Alembic, only when needed

            await SqlStore(self.url).migrate()
        await self._run(self._connect)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def ping(self) -> bool:
        if self._executor is None:
            return False
        try:
            await self._run(lambda: self._c().execute("SELECT 1").fetchone())
        except Exception:
            return False
        return True

    # -- documents ---------------------------------------------------------------------------

    async def create_document(self, doc_id: str, text: str = "") -> DocInfo:
        now = _now()

        def run() -> None:
            c = self._c()
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute(
                    "INSERT INTO documents (id, rev, created_at, updated_at) VALUES (?, 0, ?, ?)",
                    (doc_id, _ts(now), _ts(now)),
                )
                c.execute(
                    "INSERT INTO snapshots (doc_id, rev, text) VALUES (?, 0, ?)", (doc_id, text)
                )
            except sqlite3.IntegrityError:
                c.execute("ROLLBACK")
                raise DocumentExists(doc_id) from None
            c.execute("COMMIT")

        await self._run(run)
        return DocInfo(doc_id, 0, now, now)

    def _get(self, doc_id: str) -> DocInfo | None:
        row = (
            self._c()
            .execute(
                "SELECT id, rev, created_at, updated_at FROM documents WHERE id = ?", (doc_id,)
            )
            .fetchone()
        )
        return None if row is None else DocInfo(row[0], row[1], _dt(row[2]), _dt(row[3]))

    async def get_document(self, doc_id: str) -> DocInfo | None:
        return await self._run(self._get, doc_id)

    async def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocInfo]:
        def run() -> list[DocInfo]:
            sql = "SELECT id, rev, created_at, updated_at FROM documents"
            args: tuple[Any, ...] = ()
            if after is not None:
                sql += " WHERE id > ?"
                args = (after,)
            rows = self._c().execute(sql + " ORDER BY id LIMIT ?", (*args, max(limit, 0)))
            return [DocInfo(r[0], r[1], _dt(r[2]), _dt(r[3])) for r in rows]

        return await self._run(run)

    async def delete_document(self, doc_id: str) -> bool:
        def run() -> bool:
            return self._c().execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount > 0

        return await self._run(run)

    async def load(self, doc_id: str) -> LoadedDocument | None:
        def run() -> LoadedDocument | None:
            c = self._c()
            c.execute("BEGIN")  # one read snapshot for the three statements
            try:
                info = self._get(doc_id)
                if info is None:
                    return None
                snap = self._nearest(doc_id, info.rev)
                if snap is None:
                    raise StoreError(f"document {doc_id!r} has no snapshot at or before {info.rev}")
                rows = c.execute(
                    f"SELECT {_OP_COLUMNS} FROM operations WHERE doc_id = ? AND rev > ? "
                    "AND rev <= ? ORDER BY rev",
                    (doc_id, snap.rev, info.rev),
                )
                return LoadedDocument(info, snap, [_record(r) for r in rows])
            finally:
                c.execute("COMMIT")

        return await self._run(run)

    # -- operations --------------------------------------------------------------------------

    async def commit(self, doc_id: str, ops: list[NewOp]) -> list[OpRecord]:
        """Append ``ops``; see :meth:`collab.store.base.Store.commit`.

        Group commit across documents: commits that arrive while the database thread is
        busy wait in :attr:`_waiting` and go together in the next transaction (one fsync for
        all of them), each inside its own savepoint so that one failing batch (a conflict, a
        duplicate) leaves the others whole. Each caller still returns only once its
        operations are durable.
        """
        if not ops:
            if await self.get_document(doc_id) is None:
                raise DocumentNotFound(doc_id)
            return []
        check_batch(ops)
        now = _now()
        ts = _ts(now)
        rows = [
            (
                doc_id,
                o.rev,
                orjson.dumps(o.op).decode(),
                o.client,
                o.seq,
                orjson.dumps(o.user).decode(),
                o.user_id,
                ts,
            )
            for o in ops
        ]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Commit(doc_id, ops, rows, ts, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        await done
        return committed_records(ops, now)

    async def _flush(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                results = await self._run(self._commit_group, group)
            except BaseException as e:  # the transaction itself failed: every batch did
                for item in group:
                    if not item.done.done():
                        item.done.set_exception(e if isinstance(e, Exception) else StoreError(e))
                if not isinstance(e, Exception):
                    raise
                continue
            for item, err in zip(group, results, strict=True):
                if item.done.done():
                    continue
                if err is None:
                    item.done.set_result(None)
                else:
                    item.done.set_exception(err)

    def _commit_group(self, group: list[_Commit]) -> list[Exception | None]:
        """One transaction for every waiting batch, a savepoint each (database thread)."""
        c = self._c()
        results: list[Exception | None] = []
        c.execute("BEGIN IMMEDIATE")
        try:
            for item in group:
                results.append(self._commit_one(c, item))
            c.execute("COMMIT")
        except BaseException:
            if c.in_transaction:
                c.execute("ROLLBACK")
            raise
        return results

    def _commit_one(self, c: sqlite3.Connection, item: _Commit) -> Exception | None:
        doc_id, ops = item.doc_id, item.ops
        expected = ops[0].rev - 1
        c.execute("SAVEPOINT batch")
        try:
            moved = c.execute(
                "UPDATE documents SET rev = ?, updated_at = ? WHERE id = ? AND rev = ?",
                (ops[-1].rev, item.ts, doc_id, expected),
            ).rowcount
            if moved != 1:
                c.execute("ROLLBACK TO batch")
                return commit_refused(doc_id, expected, exists=self._get(doc_id) is not None)
            c.executemany(
                'INSERT INTO operations (doc_id, rev, op, client, seq, "user", user_id, '
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                item.rows,
            )
        except sqlite3.IntegrityError:
            c.execute("ROLLBACK TO batch")
            dup = self._first_committed(doc_id, ops)
            return commit_refused(doc_id, expected, exists=True, duplicate=dup)
        finally:
            c.execute("RELEASE batch")
        return None

    def _first_committed(self, doc_id: str, ops: list[NewOp]) -> tuple[str, int] | None:
        c = self._c()
        for client, seq in batch_keys(ops):
            hit = c.execute(
                "SELECT 1 FROM operations WHERE doc_id = ? AND client = ? AND seq = ?",
                (doc_id, client, seq),
            ).fetchone()
            if hit is not None:
                return client, seq
        return None

    async def get_ops(self, doc_id: str, after: int, limit: int | None = None) -> list[OpRecord]:
        def run() -> list[OpRecord]:
            rows = self._c().execute(
                f"SELECT {_OP_COLUMNS} FROM operations WHERE doc_id = ? AND rev > ? "
                "ORDER BY rev LIMIT ?",
                (doc_id, after, -1 if limit is None else max(limit, 0)),
            )
            return [_record(r) for r in rows]

        return await self._run(run)

    async def find_seq(self, doc_id: str, client: str, seq: int) -> int | None:
        def run() -> int | None:
            row = (
                self._c()
                .execute(
                    "SELECT rev FROM operations WHERE doc_id = ? AND client = ? AND seq = ?",
                    (doc_id, client, seq),
                )
                .fetchone()
            )
            return None if row is None else int(row[0])

        return await self._run(run)

    async def last_seq(self, doc_id: str, client: str) -> int:
        def run() -> int:
            row = (
                self._c()
                .execute(
                    "SELECT MAX(seq) FROM operations WHERE doc_id = ? AND client = ?",
                    (doc_id, client),
                )
                .fetchone()
            )
            return int(row[0] or 0)

        return await self._run(run)

    async def client_owner(self, doc_id: str, client: str) -> str | None:
        def run() -> str | None:
            row = (
                self._c()
                .execute(
                    "SELECT user_id FROM operations WHERE doc_id = ? AND client = ? "
                    "ORDER BY rev LIMIT 1",
                    (doc_id, client),
                )
                .fetchone()
            )
            return None if row is None else row[0]

        return await self._run(run)

    # -- snapshots and versions -------------------------------------------------------------

    async def save_snapshot(self, doc_id: str, rev: int, text: str) -> None:
        def run() -> None:
            try:
                self._c().execute(
                    "INSERT INTO snapshots (doc_id, rev, text) VALUES (?, ?, ?) "
                    "ON CONFLICT (doc_id, rev) DO NOTHING",
                    (doc_id, rev, text),
                )
            except sqlite3.IntegrityError:
                raise DocumentNotFound(doc_id) from None

        await self._run(run)

    def _nearest(self, doc_id: str, rev: int) -> Snapshot | None:
        row = (
            self._c()
            .execute(
                "SELECT rev, text FROM snapshots WHERE doc_id = ? AND rev <= ? "
                "ORDER BY rev DESC LIMIT 1",
                (doc_id, rev),
            )
            .fetchone()
        )
        return None if row is None else Snapshot(row[0], row[1])

    async def nearest_snapshot(self, doc_id: str, rev: int) -> Snapshot | None:
        return await self._run(self._nearest, doc_id, rev)

    async def add_version(
        self, doc_id: str, rev: int, kind: VersionKind, label: str | None, author: str | None
    ) -> Version:
        check_version_kind(kind)
        version = Version(rev=rev, kind=kind, label=label, author=author, created_at=_now())

        def run() -> None:
            try:
                self._c().execute(
                    "INSERT INTO versions (doc_id, rev, kind, label, author, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (doc_id, rev, kind, label, author, _ts(version.created_at)),
                )
            except sqlite3.IntegrityError:
                raise DocumentNotFound(doc_id) from None

        await self._run(run)
        return version

    async def list_versions(self, doc_id: str, limit: int = 1000) -> list[Version]:
        def run() -> list[Version]:
            rows = self._c().execute(
                "SELECT rev, kind, label, author, created_at FROM versions WHERE doc_id = ? "
                "ORDER BY rev DESC, id DESC LIMIT ?",
                (doc_id, max(limit, 0)),
            )
            return [Version(r[0], r[1], r[2], r[3], _dt(r[4])) for r in rows]

        return await self._run(run)
