"""The in-memory reference implementation of :class:`collab.store.base.Store`.

Plain dicts. No method awaits while it reads or changes state, so every call is atomic
with respect to other tasks on the event loop (a commit is all-or-nothing without a lock).
Nothing is durable: it is for unit tests and for trying the server out.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from collab.store.base import (
    DocInfo,
    DocumentExists,
    DocumentNotFound,
    LoadedDocument,
    NewOp,
    OpRecord,
    Snapshot,
    Version,
    VersionKind,
    batch_keys,
    check_batch,
    check_version_kind,
    commit_refused,
)
from collab.store.base import now as _now


@dataclass
class _Doc:
    info: DocInfo
    ops: list[OpRecord] = field(default_factory=list)  # ops[i].rev == i + 1
    seqs: dict[tuple[str, int], int] = field(default_factory=dict)  # (client, seq) -> rev
    snapshots: dict[int, str] = field(default_factory=dict)
    versions: list[tuple[int, int, Version]] = field(default_factory=list)  # (rev, n, v)


class MemoryStore:
    """A :class:`~collab.store.base.Store` kept in dicts; lost when the process ends."""

    def __init__(self) -> None:
        self._docs: dict[str, _Doc] = {}
        self._open = False
        self._counter = 0  # orders versions created at the same revision

    async def open(self) -> None:
        """Mark the store open (there is nothing to connect to)."""
        self._open = True

    async def close(self) -> None:
        """Mark the store closed. The data stays, so a reopen sees it. Idempotent."""
        self._open = False

    async def ping(self) -> bool:
        """True while the store is open."""
        return self._open

    def _doc(self, doc_id: str) -> _Doc:
        doc = self._docs.get(doc_id)
        if doc is None:
            raise DocumentNotFound(doc_id)
        return doc

    async def create_document(self, doc_id: str, text: str = "") -> DocInfo:
        """Create a document at revision 0 with a snapshot of ``text``."""
        if doc_id in self._docs:
            raise DocumentExists(doc_id)
        now = _now()
        info = DocInfo(id=doc_id, rev=0, created_at=now, updated_at=now)
        self._docs[doc_id] = _Doc(info=info, snapshots={0: text})
        return info

    async def get_document(self, doc_id: str) -> DocInfo | None:
        """The header, or None."""
        doc = self._docs.get(doc_id)
        return None if doc is None else doc.info

    async def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocInfo]:
        """Documents ordered by id (code point order), ids > ``after`` only, at most ``limit``."""
        ids = sorted(i for i in self._docs if after is None or i > after)
        return [self._docs[i].info for i in ids[: max(limit, 0)]]

    async def delete_document(self, doc_id: str) -> bool:
        """Delete the document and everything recorded about it."""
        return self._docs.pop(doc_id, None) is not None

    async def load(self, doc_id: str) -> LoadedDocument | None:
        """The header, the latest snapshot and the operations after it."""
        doc = self._docs.get(doc_id)
        if doc is None:
            return None
        rev = max(r for r in doc.snapshots if r <= doc.info.rev)
        return LoadedDocument(
            info=doc.info, snapshot=Snapshot(rev, doc.snapshots[rev]), tail=doc.ops[rev:]
        )

    async def commit(self, doc_id: str, ops: list[NewOp]) -> list[OpRecord]:
        """Append ``ops`` atomically; see :meth:`collab.store.base.Store.commit`."""
        check_batch(ops)
        doc = self._doc(doc_id)
        if not ops:
            return []
        # A taken revision is reported before a duplicate, as the SQL stores do.
        moved = ops[0].rev != doc.info.rev + 1
        duplicate = None if moved else next((k for k in batch_keys(ops) if k in doc.seqs), None)
        if moved or duplicate is not None:
            raise commit_refused(doc_id, ops[0].rev - 1, exists=True, duplicate=duplicate)
        now = _now()
        records = [
            OpRecord(o.rev, list(o.op), o.client, o.seq, copy.deepcopy(o.user), o.user_id, now)
            for o in ops
        ]
        doc.ops.extend(records)
        for record in records:
            if record.client is not None and record.seq is not None:
                doc.seqs[(record.client, record.seq)] = record.rev
        doc.info = DocInfo(doc_id, records[-1].rev, doc.info.created_at, now)
        return records

    async def get_ops(self, doc_id: str, after: int, limit: int | None = None) -> list[OpRecord]:
        """Operations with rev > ``after``, oldest first, at most ``limit``."""
        doc = self._docs.get(doc_id)
        if doc is None:
            return []
        tail = doc.ops[max(after, 0) :]
        return tail if limit is None else tail[: max(limit, 0)]

    async def find_seq(self, doc_id: str, client: str, seq: int) -> int | None:
        """The revision (client, seq) became, or None."""
        doc = self._docs.get(doc_id)
        return None if doc is None else doc.seqs.get((client, seq))

    async def last_seq(self, doc_id: str, client: str) -> int:
        """The highest seq committed by ``client``, 0 if none."""
        doc = self._docs.get(doc_id)
        if doc is None:
            return 0
        return max((s for c, s in doc.seqs if c == client), default=0)

    async def client_owner(self, doc_id: str, client: str) -> str | None:
        """The user_id of ``client``'s first operation here, or None."""
        doc = self._docs.get(doc_id)
        if doc is None:
            return None
        revs = [rev for (c, _), rev in doc.seqs.items() if c == client]
        return doc.ops[min(revs) - 1].user_id if revs else None

    async def save_snapshot(self, doc_id: str, rev: int, text: str) -> None:
        """Store the text at ``rev``; a second save of the same rev is ignored."""
        self._doc(doc_id).snapshots.setdefault(rev, text)

    async def nearest_snapshot(self, doc_id: str, rev: int) -> Snapshot | None:
        """The snapshot with the greatest revision <= ``rev``."""
        doc = self._docs.get(doc_id)
        if doc is None:
            return None
        best = max((r for r in doc.snapshots if r <= rev), default=None)
        return None if best is None else Snapshot(best, doc.snapshots[best])

    async def add_version(
        self, doc_id: str, rev: int, kind: VersionKind, label: str | None, author: str | None
    ) -> Version:
        """Record a version at ``rev``."""
        check_version_kind(kind)
        doc = self._doc(doc_id)
        version = Version(rev=rev, kind=kind, label=label, author=author, created_at=_now())
        self._counter += 1
        doc.versions.append((rev, self._counter, version))
        return version

    async def list_versions(self, doc_id: str, limit: int = 1000) -> list[Version]:
        """Versions, newest first (by revision, then creation)."""
        doc = self._docs.get(doc_id)
        if doc is None:
            return []
        ordered = sorted(doc.versions, key=lambda e: (e[0], e[1]), reverse=True)
        return [v for _, _, v in ordered[: max(limit, 0)]]
