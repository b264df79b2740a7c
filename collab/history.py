"""A document's recent committed history in memory: a bounded window of operations.

Holds the committed operations ``base+1..rev``, parsed (to rebase against) and as records
(to catch clients up). It does no I/O: what it lacks is read from the store by the room and
handed in through :meth:`History.prepend`.
"""

from __future__ import annotations

from collab.store.base import OpRecord
from ot import TextOperation


class History:
    """Committed operations ``base+1..rev``; older ones are trimmed in quarter-window steps."""

    __slots__ = ("_ops", "_records", "_window", "base", "rev")

    def __init__(self, base: int, window: int) -> None:
        self.base = base
        self.rev = base  # the last committed revision: base + len(ops)
        self._window = max(1, window)
        self._ops: list[TextOperation] = []
        self._records: list[OpRecord] = []

    def append(self, op: TextOperation, record: OpRecord) -> None:
        """Revision ``rev + 1`` was committed as ``record`` (``op`` parsed from it)."""
        if record.rev != self.rev + 1:
            raise ValueError(f"revision {record.rev} does not follow {self.rev}")
        self._ops.append(op)
        self._records.append(record)
        self.rev = record.rev
        # Trim in steps of a quarter window, so that the cost of trimming stays small
        # without holding twice the window.
        if len(self._ops) > self._window + self._window // 4:
            drop = len(self._ops) - self._window
            del self._ops[:drop]
            del self._records[:drop]
            self.base += drop

    def prepend(self, records: list[OpRecord]) -> None:
        """Older committed records read from the store: revisions ``base-len+1..base``."""
        if not records:
            return
        first = self.base - len(records) + 1
        if first < 1 or [r.rev for r in records] != list(range(first, self.base + 1)):
            raise ValueError(f"records do not end at revision {self.base}")
        self._ops[:0] = [TextOperation.from_json(r.op) for r in records]
        self._records[:0] = records
        self.base = first - 1

    def ops_since(self, rev: int) -> list[TextOperation] | None:
        """Operations ``rev+1..rev``; None when the window does not reach back to ``rev``."""
        if rev < self.base or rev > self.rev:
            return None
        return self._ops[rev - self.base :]

    def records_since(self, rev: int) -> list[OpRecord] | None:
        """Records ``rev+1..rev``; None when the window does not reach back to ``rev``."""
        if rev < self.base or rev > self.rev:
            return None
        return self._records[rev - self.base :]

    def find_seq(self, client: str, seq: int) -> int | None:
        """The revision of (client, seq) if it is in the window."""
        for rec in reversed(self._records):
            if rec.client == client and rec.seq == seq:
                return rec.rev
        return None

    def length_at(self, rev: int, current: int) -> int | None:
        """The document length at committed revision ``rev`` if in the window
        (``current``: the length at ``rev``)."""
        if rev < self.base or rev > self.rev:
            return None
        if rev < self.rev:
            return self._ops[rev - self.base].base_length
        return current
