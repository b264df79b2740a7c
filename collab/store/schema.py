"""The SQL schema, defined once: used by :mod:`collab.store.sql` and by the Alembic env.

The hand-written migrations in ``alembic/versions`` must produce exactly these tables;
``tests/collab/test_store_contract.py`` checks that with Alembic's ``compare_metadata``.

Below the tables: how values are encoded in their columns. Operations and user objects are
compact JSON text (not a JSON column type), so the bytes are identical on SQLite and
PostgreSQL. Timestamps are written as UTC and read back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from collab.store.base import DocInfo, NewOp, OpRecord, Version

# Deterministic constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _doc_fk() -> ForeignKey:
    return ForeignKey("documents.id", ondelete="CASCADE")


documents = Table(
    "documents",
    metadata,
    Column("id", String(128), nullable=False),
    Column("rev", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("id"),
)

operations = Table(
    "operations",
    metadata,
    Column("doc_id", String(128), _doc_fk(), nullable=False),
    Column("rev", Integer, nullable=False),
    Column("op", Text, nullable=False),
    Column("client", String(64), nullable=True),
    Column("seq", Integer, nullable=True),
    Column("user", Text, nullable=False),
    Column("user_id", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("doc_id", "rev"),
    # NULLs are distinct in a UNIQUE constraint on both backends, so server-made
    # operations (client and seq NULL) may repeat.
    UniqueConstraint("doc_id", "client", "seq"),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("doc_id", String(128), _doc_fk(), nullable=False),
    Column("rev", Integer, nullable=False),
    Column("text", Text, nullable=False),
    PrimaryKeyConstraint("doc_id", "rev"),
)

versions = Table(
    "versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("doc_id", String(128), _doc_fk(), nullable=False),
    Column("rev", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("label", Text, nullable=True),
    Column("author", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('auto', 'named', 'restore')", name="kind"),
    Index("ix_versions_doc_id_rev", "doc_id", "rev"),
)


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite returns naive ones: they were written as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def doc_info(row: Row[Any]) -> DocInfo:
    """A ``documents`` row as a DocInfo."""
    return DocInfo(row.id, row.rev, utc(row.created_at), utc(row.updated_at))


def op_row(doc_id: str, new: NewOp, created_at: datetime) -> dict[str, Any]:
    """The ``operations`` row for a new operation."""
    return {
        "doc_id": doc_id,
        "rev": new.rev,
        "op": _json(new.op),
        "client": new.client,
        "seq": new.seq,
        "user": _json(new.user),
        "user_id": new.user_id,
        "created_at": created_at,
    }


def op_record(row: Row[Any]) -> OpRecord:
    """An ``operations`` row as an OpRecord."""
    return OpRecord(
        rev=row.rev,
        op=orjson.loads(row.op),
        client=row.client,
        seq=row.seq,
        user=orjson.loads(row.user),
        user_id=row.user_id,
        created_at=utc(row.created_at),
    )


def version_record(row: Row[Any]) -> Version:
    """A ``versions`` row as a Version."""
    return Version(row.rev, row.kind, row.label, row.author, utc(row.created_at))
