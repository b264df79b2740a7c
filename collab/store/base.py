"""The store seam: what the sequencer and the HTTP API need from durable storage.

The sequencer knows no SQL. It talks to an object satisfying :class:`Store`; the
composition root (``collab.app.create_app``) picks the implementation:
:class:`collab.store.memory.MemoryStore` for fast unit tests and
:class:`collab.store.sql.SqlStore` (SQLite via aiosqlite, PostgreSQL via asyncpg).

Every implementation runs the one contract suite in ``tests/collab/test_store_contract.py``.

Exceptions (all subclass :class:`StoreError`)::

    StoreError
    ├── DocumentExists       create_document on an id that is taken
    ├── DocumentNotFound     an operation on a document that does not exist
    ├── RevisionConflict     commit: a revision in the batch is already taken (another
    │                        process won the race); nothing of the batch was written
    └── DuplicateOperation   commit: a (client, seq) in the batch is already committed;
                             nothing of the batch was written
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args, runtime_checkable

JsonOp = list[int | str]
VersionKind = Literal["auto", "named", "restore"]
VERSION_KINDS: tuple[str, ...] = get_args(VersionKind)


class StoreError(Exception):
    """Base of every store error."""


class DocumentExists(StoreError):
    """The document id is already taken."""


class DocumentNotFound(StoreError):
    """No document with that id."""


class RevisionConflict(StoreError):
    """A revision in the committed batch is already taken; the batch was not written."""


class DuplicateOperation(StoreError):
    """A (client, seq) in the committed batch is already committed; nothing was written."""

    def __init__(self, client: str, seq: int) -> None:
        super().__init__(f"operation {client!r}/{seq} is already committed")
        self.client = client
        self.seq = seq


@dataclass(frozen=True, slots=True)
class DocInfo:
    """A document's header row."""

    id: str
    rev: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewOp:
    """An operation about to be committed as revision ``rev``.

    ``client``/``seq`` are ``None`` for server-made operations (restore).
    ``user`` is the public user object sent to peers; ``user_id`` is the authenticated
    subject (``None`` in open mode).
    """

    rev: int
    op: JsonOp
    client: str | None
    seq: int | None
    user: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class OpRecord:
    """A committed operation: revision ``rev`` takes the document from ``rev - 1`` to ``rev``."""

    rev: int
    op: JsonOp
    client: str | None
    seq: int | None
    user: dict[str, Any]
    user_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The full text of a document at revision ``rev``."""

    rev: int
    text: str


@dataclass(frozen=True, slots=True)
class Version:
    """A saved point in history."""

    rev: int
    kind: VersionKind
    label: str | None
    author: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """What opening a document reads: its header, latest snapshot and the operations after it."""

    info: DocInfo
    snapshot: Snapshot
    tail: list[OpRecord]


@runtime_checkable
class Store(Protocol):
    """Durable storage of documents, operations, snapshots and versions.

    All timestamps are timezone-aware UTC, set by the store.
    """

    async def open(self) -> None:
        """Connect and make sure the schema exists (the SQL store migrates SQLite files)."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    async def ping(self) -> bool:
        """True when the backing database answers."""

    async def create_document(self, doc_id: str, text: str = "") -> DocInfo:
        """Create a document at revision 0 with a snapshot of ``text`` at revision 0.

        Raises DocumentExists.
        """

    async def get_document(self, doc_id: str) -> DocInfo | None:
        """The header, or None."""

    async def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocInfo]:
        """Documents ordered by id, those with id > ``after`` only, at most ``limit``."""

    async def delete_document(self, doc_id: str) -> bool:
        """Delete the document with its operations, snapshots and versions. False if absent."""

    async def load(self, doc_id: str) -> LoadedDocument | None:
        """The header, the latest snapshot and every operation after the snapshot, in order."""

    async def commit(self, doc_id: str, ops: list[NewOp]) -> list[OpRecord]:
        """Atomically append ``ops`` (contiguous revisions, the first = current rev + 1).

        One transaction for the whole batch (group commit); durable when it returns.
        Updates the header's ``rev`` and ``updated_at``. Raises RevisionConflict if the
        first revision is not current + 1 (or any revision is taken), DuplicateOperation if
        a (client, seq) is already committed, DocumentNotFound. On any error nothing is
        written. Returns the committed records (with ``created_at``).
        """

    async def get_ops(self, doc_id: str, after: int, limit: int | None = None) -> list[OpRecord]:
        """Committed operations with rev > ``after``, oldest first, at most ``limit``."""

    async def find_seq(self, doc_id: str, client: str, seq: int) -> int | None:
        """The revision at which (client, seq) was committed on this document, or None."""

    async def last_seq(self, doc_id: str, client: str) -> int:
        """The highest seq committed by ``client`` on this document, 0 if none."""

    async def client_owner(self, doc_id: str, client: str) -> str | None:
        """The ``user_id`` of the first operation ``client`` committed on this document.

        None if it committed none, or committed them in open mode (no user).
        """

    async def save_snapshot(self, doc_id: str, rev: int, text: str) -> None:
        """Store the text at ``rev`` (idempotent: a second save of the same rev is ignored)."""

    async def nearest_snapshot(self, doc_id: str, rev: int) -> Snapshot | None:
        """The snapshot with the greatest revision <= ``rev``."""

    async def add_version(
        self, doc_id: str, rev: int, kind: VersionKind, label: str | None, author: str | None
    ) -> Version:
        """Record a version at ``rev``."""

    async def list_versions(self, doc_id: str, limit: int = 1000) -> list[Version]:
        """Versions, newest first (by revision, then creation)."""


# -- helpers shared by every implementation -------------------------------------------------


def now() -> datetime:
    """The store's clock: timezone-aware UTC."""
    return datetime.now(UTC)


def check_version_kind(kind: str) -> None:
    """Raise ValueError unless ``kind`` is a :data:`VersionKind`."""
    if kind not in VERSION_KINDS:
        raise ValueError(f"version kind must be one of {VERSION_KINDS}, not {kind!r}")


def batch_keys(ops: list[NewOp]) -> list[tuple[str, int]]:
    """The (client, seq) of each operation that has both, in batch order."""
    return [(o.client, o.seq) for o in ops if o.client is not None and o.seq is not None]


def check_batch(ops: list[NewOp]) -> None:
    """Reject a batch whose revisions are not contiguous or that repeats a (client, seq),
    so that every store reports the same errors for a malformed batch."""
    for i, new in enumerate(ops):
        if new.rev != ops[0].rev + i:
            raise ValueError(f"batch revisions are not contiguous: {[o.rev for o in ops]}")
    seen: set[tuple[str, int]] = set()
    for key in batch_keys(ops):
        if key in seen:
            raise DuplicateOperation(*key)
        seen.add(key)


def committed_records(ops: list[NewOp], at: datetime) -> list[OpRecord]:
    """The records a successful commit of ``ops`` at time ``at`` returns."""
    return [OpRecord(o.rev, list(o.op), o.client, o.seq, dict(o.user), o.user_id, at) for o in ops]


def commit_refused(
    doc_id: str, expected: int, *, exists: bool, duplicate: tuple[str, int] | None = None
) -> StoreError:
    """Why a commit expecting revision ``expected`` as current wrote nothing.

    The document is gone (DocumentNotFound), a (client, seq) of the batch is already
    committed (DuplicateOperation), or another writer moved the revision (RevisionConflict).
    """
    if not exists:
        return DocumentNotFound(doc_id)
    if duplicate is not None:
        return DuplicateOperation(*duplicate)
    return RevisionConflict(f"{doc_id}: rev {expected} is not current")
