"""The SQL implementation of :class:`collab.store.base.Store` (SQLAlchemy 2 async Core).

Works with ``sqlite+aiosqlite:///path.db`` and ``postgresql+asyncpg://...``.

Several processes may commit to one database. :meth:`SqlStore.commit` is optimistic: one
transaction moves ``documents.rev`` from ``expected`` to the batch's last revision with a
conditional UPDATE and inserts the operations. The UPDATE is the first statement, so it takes
the row lock (PostgreSQL) or the write lock (SQLite) before anything is read: of two racing
committers the second sees zero rows updated and gets RevisionConflict. The primary key
``(doc_id, rev)`` and the unique ``(doc_id, client, seq)`` back that up.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

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
from collab.store.dburl import is_sqlite_url
from collab.store.engine import make_engine, upgrade_engine
from collab.store.migrate import check_connection, safe_url
from collab.store.schema import (
    doc_info,
    documents,
    op_record,
    op_row,
    operations,
    snapshots,
    version_record,
    versions,
)


class _Moved(Exception):
    """The conditional UPDATE matched no row: rolls the commit transaction back."""


class SqlStore:
    """A :class:`~collab.store.base.Store` in a SQL database.

    ``open()`` migrates a SQLite file to the newest schema (creating its folder); any other
    database must already be migrated (``collab db upgrade``, or :meth:`migrate`), else
    ``open()`` raises :class:`collab.store.migrate.SchemaNotCurrent`. Extra keyword
    arguments go to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 10_000, **engine_options: Any) -> None:
        self.url = url
        self._sqlite = is_sqlite_url(url)
        self._busy_timeout_ms = busy_timeout_ms
        self._engine_options = engine_options
        self._engine: AsyncEngine | None = None

    def __repr__(self) -> str:
        return f"SqlStore({safe_url(self.url)!r})"

    def _make_engine(self) -> AsyncEngine:
        return make_engine(self.url, busy_timeout_ms=self._busy_timeout_ms, **self._engine_options)

    @property
    def engine(self) -> AsyncEngine:
        """The open engine. Raises StoreError before ``open()`` and after ``close()``."""
        if self._engine is None:
            raise StoreError(f"{self!r} is not open")
        return self._engine

    async def migrate(self) -> None:
        """Upgrade the database to the newest schema (idempotent; open or not)."""
        if self._engine is not None:
            await upgrade_engine(self._engine)
            return
        engine = self._make_engine()
        try:
            await upgrade_engine(engine)
        finally:
            await engine.dispose()

    async def open(self) -> None:
        """Connect; migrate a SQLite file, check that another database is migrated."""
        if self._engine is not None:
            return
        engine = self._make_engine()
        try:
            if self._sqlite:
                await upgrade_engine(engine)
            else:
                async with engine.connect() as conn:
                    await conn.run_sync(check_connection, self.url)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        """Dispose of the connection pool. Idempotent."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    async def ping(self) -> bool:
        """True when the database answers ``SELECT 1``."""
        if self._engine is None:
            return False
        try:
            async with self._engine.connect() as conn:
                await conn.execute(select(1))
        except Exception:
            return False
        return True

    async def create_document(self, doc_id: str, text: str = "") -> DocInfo:
        """Create a document at revision 0 with a snapshot of ``text``."""
        now = _now()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(documents).values(id=doc_id, rev=0, created_at=now, updated_at=now)
                )
                await conn.execute(insert(snapshots).values(doc_id=doc_id, rev=0, text=text))
        except IntegrityError as exc:
            raise DocumentExists(doc_id) from exc
        return DocInfo(doc_id, 0, now, now)

    async def get_document(self, doc_id: str) -> DocInfo | None:
        """The header, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(documents).where(documents.c.id == doc_id))).first()
        return None if row is None else doc_info(row)

    async def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocInfo]:
        """Documents ordered by id (code point order), ids > ``after`` only, at most ``limit``."""
        key: ColumnElement[str] = documents.c.id
        if self.engine.dialect.name == "postgresql":
            key = key.collate("C")  # the same order as Python's and SQLite's
        stmt = select(documents).order_by(key).limit(max(limit, 0))
        if after is not None:
            stmt = stmt.where(key > after)
        async with self.engine.connect() as conn:
            return [doc_info(row) for row in await conn.execute(stmt)]

    async def delete_document(self, doc_id: str) -> bool:
        """Delete the document; its operations, snapshots and versions go by ON DELETE CASCADE."""
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(documents).where(documents.c.id == doc_id))
        return result.rowcount > 0

    async def load(self, doc_id: str) -> LoadedDocument | None:
        """The header, the latest snapshot and the operations after it, up to the header's rev."""
        async with self.engine.connect() as conn:
            # Each read is bounded by the header's rev, so a commit landing between the
            # statements cannot make the result inconsistent.
            row = (await conn.execute(select(documents).where(documents.c.id == doc_id))).first()
            if row is None:
                return None
            info = doc_info(row)
            snapshot = await self._nearest(conn, doc_id, info.rev)
            if snapshot is None:
                raise StoreError(f"document {doc_id!r} has no snapshot at or before {info.rev}")
            tail = await conn.execute(
                select(operations)
                .where(operations.c.doc_id == doc_id)
                .where(operations.c.rev > snapshot.rev, operations.c.rev <= info.rev)
                .order_by(operations.c.rev)
            )
            return LoadedDocument(info, snapshot, [op_record(r) for r in tail])

    async def commit(self, doc_id: str, ops: list[NewOp]) -> list[OpRecord]:
        """Append ``ops`` in one transaction; see :meth:`collab.store.base.Store.commit`."""
        if not ops:
            if await self.get_document(doc_id) is None:
                raise DocumentNotFound(doc_id)
            return []
        check_batch(ops)
        now = _now()
        expected = ops[0].rev - 1
        try:
            async with self.engine.begin() as conn:
                moved = await conn.execute(
                    update(documents)
                    .where(documents.c.id == doc_id, documents.c.rev == expected)
                    .values(rev=ops[-1].rev, updated_at=now)
                )
                if moved.rowcount != 1:
                    raise _Moved
                await conn.execute(insert(operations), [op_row(doc_id, o, now) for o in ops])
        except _Moved:
            exists = await self.get_document(doc_id) is not None
            raise commit_refused(doc_id, expected, exists=exists) from None
        except IntegrityError as exc:
            # Rolled back; find out which constraint it was from the data, not the message.
            duplicate = await self._first_committed(doc_id, ops)
            raise commit_refused(doc_id, expected, exists=True, duplicate=duplicate) from exc
        return committed_records(ops, now)

    async def _first_committed(self, doc_id: str, ops: list[NewOp]) -> tuple[str, int] | None:
        keys = batch_keys(ops)
        if not keys:
            return None
        stmt = select(operations.c.client, operations.c.seq).where(
            operations.c.doc_id == doc_id, tuple_(operations.c.client, operations.c.seq).in_(keys)
        )
        async with self.engine.connect() as conn:
            found = {(row.client, row.seq) for row in await conn.execute(stmt)}
        return next((key for key in keys if key in found), None)

    async def get_ops(self, doc_id: str, after: int, limit: int | None = None) -> list[OpRecord]:
        """Operations with rev > ``after``, oldest first, at most ``limit``."""
        stmt = (
            select(operations)
            .where(operations.c.doc_id == doc_id, operations.c.rev > after)
            .order_by(operations.c.rev)
        )
        if limit is not None:
            stmt = stmt.limit(max(limit, 0))
        async with self.engine.connect() as conn:
            return [op_record(row) for row in await conn.execute(stmt)]

    async def find_seq(self, doc_id: str, client: str, seq: int) -> int | None:
        """The revision (client, seq) became, or None."""
        stmt = select(operations.c.rev).where(
            operations.c.doc_id == doc_id, operations.c.client == client, operations.c.seq == seq
        )
        async with self.engine.connect() as conn:
            rev: int | None = (await conn.execute(stmt)).scalar_one_or_none()
        return rev

    async def last_seq(self, doc_id: str, client: str) -> int:
        """The highest seq committed by ``client``, 0 if none."""
        stmt = select(func.max(operations.c.seq)).where(
            operations.c.doc_id == doc_id, operations.c.client == client
        )
        async with self.engine.connect() as conn:
            seq: int | None = (await conn.execute(stmt)).scalar_one()
        return seq or 0

    async def client_owner(self, doc_id: str, client: str) -> str | None:
        """The user_id of ``client``'s first operation here, or None."""
        stmt = (
            select(operations.c.user_id)
            .where(operations.c.doc_id == doc_id, operations.c.client == client)
            .order_by(operations.c.rev)
            .limit(1)
        )
        async with self.engine.connect() as conn:
            owner: str | None = (await conn.execute(stmt)).scalar_one_or_none()
        return owner

    async def save_snapshot(self, doc_id: str, rev: int, text: str) -> None:
        """Store the text at ``rev``; a second save of the same rev is ignored."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(snapshots)
            .values(doc_id=doc_id, rev=rev, text=text)
            .on_conflict_do_nothing(index_elements=["doc_id", "rev"])
        )
        try:
            async with self.engine.begin() as conn:
                await conn.execute(stmt)
        except IntegrityError as exc:  # the foreign key: no such document
            raise DocumentNotFound(doc_id) from exc

    async def nearest_snapshot(self, doc_id: str, rev: int) -> Snapshot | None:
        """The snapshot with the greatest revision <= ``rev``."""
        async with self.engine.connect() as conn:
            return await self._nearest(conn, doc_id, rev)

    @staticmethod
    async def _nearest(conn: AsyncConnection, doc_id: str, rev: int) -> Snapshot | None:
        row = (
            await conn.execute(
                select(snapshots.c.rev, snapshots.c.text)
                .where(snapshots.c.doc_id == doc_id, snapshots.c.rev <= rev)
                .order_by(snapshots.c.rev.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else Snapshot(row.rev, row.text)

    async def add_version(
        self, doc_id: str, rev: int, kind: VersionKind, label: str | None, author: str | None
    ) -> Version:
        """Record a version at ``rev``."""
        check_version_kind(kind)
        version = Version(rev=rev, kind=kind, label=label, author=author, created_at=_now())
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(versions).values(doc_id=doc_id, **asdict(version)))
        except IntegrityError as exc:  # the foreign key: no such document
            raise DocumentNotFound(doc_id) from exc
        return version

    async def list_versions(self, doc_id: str, limit: int = 1000) -> list[Version]:
        """Versions, newest first (by revision, then creation)."""
        stmt = (
            select(versions)
            .where(versions.c.doc_id == doc_id)
            .order_by(versions.c.rev.desc(), versions.c.id.desc())  # id: creation order
            .limit(max(limit, 0))
        )
        async with self.engine.connect() as conn:
            return [version_record(r) for r in await conn.execute(stmt)]
