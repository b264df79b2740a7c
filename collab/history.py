"""A document's recent history in memory, with the store behind it for anything older.

Holds the committed operations ``base+1..rev`` (a bounded window) and the tentative ones of
the batch being committed. Incoming operations are rebased against ``ops_since(R)``.
"""

from __future__ import annotations

from collab.store.base import OpRecord, Store
from ot import TextOperation


class History:
    """Committed operations ``base+1..rev`` plus the tentative batch."""

    def __init__(self, store: Store, doc_id: str, window: int) -> None:
        self._store = store
        self._doc_id = doc_id
        self._window = max(1, window)
        self.base = 0
        self._ops: list[TextOperation] = []
        self._records: list[OpRecord] = []
        self._tentative: list[TextOperation] = []

    def reset(self, base: int, ops: list[tuple[TextOperation, OpRecord]]) -> None:
        self.base = base
        self._ops = [op for op, _ in ops]
        self._records = [rec for _, rec in ops]
        self._tentative = []

    @property
    def rev(self) -> int:
        """The last committed revision."""
        return self.base + len(self._ops)

    @property
    def tentative_rev(self) -> int:
        """The revision after the tentative batch."""
        return self.rev + len(self._tentative)

    def push_tentative(self, op: TextOperation) -> None:
        self._tentative.append(op)

    def drop_tentative(self) -> None:
        self._tentative = []

    def commit(self, records: list[OpRecord]) -> None:
        """The first ``len(records)`` tentative operations are now committed as ``records``."""
        n = len(records)
        self._ops.extend(self._tentative[:n])
        self._records.extend(records)
        del self._tentative[:n]
        # Trim in steps of a quarter window, so that the cost of trimming stays small
        # without holding twice the window.
        excess = len(self._ops) - self._window - self._window // 4
        if excess > 0 and not self._tentative:
            drop = len(self._ops) - self._window
            del self._ops[:drop]
            del self._records[:drop]
            self.base += drop

    async def ops_since(self, rev: int) -> list[TextOperation]:
        """Operations ``rev+1..tentative_rev`` (reading the store for what the window lacks)."""
        if rev >= self.base:
            return self._ops[rev - self.base :] + self._tentative
        older = await self._store.get_ops(self._doc_id, rev, self.base - rev)
        return [TextOperation.from_json(r.op) for r in older] + self._ops + self._tentative

    async def records_since(self, rev: int) -> list[OpRecord]:
        """Committed records ``rev+1..rev``."""
        if rev >= self.base:
            return self._records[rev - self.base :]
        older = await self._store.get_ops(self._doc_id, rev, self.base - rev)
        return older + self._records

    def find_seq(self, client: str, seq: int) -> int | None:
        """The revision of (client, seq) if it is in the window."""
        for rec in reversed(self._records):
            if rec.client == client and rec.seq == seq:
                return rec.rev
        return None

    def length_at(self, rev: int, current: int) -> int | None:
        """The document length at committed revision ``rev``, if in the window.

        ``current`` is the length of the in-memory text, which includes the tentative batch.
        """
        if rev < self.base or rev > self.rev:
            return None
        if rev < self.rev:
            return self._ops[rev - self.base].base_length
        return self._tentative[0].base_length if self._tentative else current

    def committed_since(self, rev: int) -> list[TextOperation] | None:
        """Committed operations after ``rev`` if the window has them (no store access)."""
        if rev < self.base or rev > self.rev:
            return None
        return self._ops[rev - self.base :]

    async def text_at(self, rev: int, current: str) -> str:
        """The text at committed revision ``rev``: nearest snapshot plus replay."""
        if rev == self.rev:
            return current
        snap = await self._store.nearest_snapshot(self._doc_id, rev)
        if snap is None:  # pragma: no cover - revision 0 always has a snapshot
            raise LookupError(f"no snapshot at or before revision {rev}")
        text = snap.text
        if snap.rev < rev:
            for rec in await self._store.get_ops(self._doc_id, snap.rev, rev - snap.rev):
                text = TextOperation.from_json(rec.op).apply(text)
        return text
