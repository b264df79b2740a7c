"""One document as a sans-I/O state machine: the sequencing rules and nothing else.

No asyncio, no sessions, no store calls: plain values in, plain values out, so the rules can
be tested as ot.js tests its server. The room (:mod:`collab.room`) owns the I/O around it.

State: the committed text and revision, a window of committed history
(:class:`collab.history.History`), the last committed seq of each client it knows, and the
**tentative batch**: operations accepted by :meth:`Document.prepare` but not yet durable.
The committed text is never touched by a tentative operation, so whatever happens to a
batch (a store error, a lost race), :meth:`Document.rollback` leaves the document exactly as
the store holds it.

A submission goes through :meth:`Document.prepare`, which answers with one outcome:

* :class:`Accepted`: rebased and added to the tentative batch; commit ``new``;
* :class:`Duplicate`: that (client, seq) is already committed (or tentative) as revision ``rev``;
* :class:`Refused`: a protocol error for the client;
* a **need**, a fact the document lacks and the room must read from the store before asking
  again: :class:`NeedLastSeq`, :class:`NeedSeqRev`, :class:`NeedOps`, or :class:`Behind`
  (the store holds revisions this document has not integrated: roll back, catch up, retry).

Every committed revision enters memory through **one** method, :meth:`Document.integrate`,
whether it was committed by this process (:meth:`Document.confirm`), by another process, or by
a restore (:meth:`Document.propose`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from collab.errors import ErrorCode, ProtocolError
from collab.history import History
from collab.store.base import LoadedDocument, NewOp, OpRecord
from ot import LengthMismatch, TextBuffer, TextOperation, rebase


@dataclass(slots=True)
class Submission:
    """An operation a client sent: ``op`` based on revision ``rev``, its ``seq``-th."""

    client: str
    rev: int
    seq: int
    op: TextOperation
    user: dict[str, Any]
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """Tentatively applied: ``new`` is to be committed."""

    new: NewOp


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A resend of an operation already committed (or tentative in this batch) as ``rev``."""

    rev: int


@dataclass(frozen=True, slots=True)
class Refused:
    """Answered with ``error``; nothing changed."""

    error: ProtocolError


@dataclass(frozen=True, slots=True)
class NeedLastSeq:
    """Read the client's last committed seq (``store.last_seq``), then ``learn_last_seq``."""

    client: str


@dataclass(frozen=True, slots=True)
class NeedSeqRev:
    """Read where (client, seq) was committed (``store.find_seq``), then ``learn_seq_rev``."""

    client: str
    seq: int


@dataclass(frozen=True, slots=True)
class NeedOps:
    """Read ``count`` records after ``after`` (``store.get_ops``), :meth:`Document.backfill`."""

    after: int
    count: int


@dataclass(frozen=True, slots=True)
class Behind:
    """The store has revisions this document lacks: roll back, catch up, prepare again."""


class Limits(TypedDict, total=False):
    """What bounds a document: history ``window``, ``catch_up_limit``, ``max_chars``."""

    window: int
    catch_up_limit: int
    max_chars: int


Need = NeedLastSeq | NeedSeqRev | NeedOps | Behind
Outcome = Accepted | Duplicate | Refused | Need

_UNKNOWN = -1  # a seq revision looked up in the store and not found


class Document:
    """The in-memory state of one document and its sequencing rules."""

    def __init__(
        self,
        text: str = "",
        rev: int = 0,
        *,
        window: int = 1000,
        catch_up_limit: int = 1000,
        max_chars: int = 10_000_000,
    ) -> None:
        self._text = TextBuffer(text)
        self._history = History(rev, window)
        self.catch_up_limit = catch_up_limit
        self.max_chars = max_chars
        self._last_seq: dict[str, int] = {}  # committed, as far as this document knows
        self._fresh: set[str] = set()  # clients whose last seq was read during this batch
        self._seq_revs: dict[tuple[str, int], int] = {}  # looked up during this batch
        self._tentative: list[tuple[TextOperation, NewOp]] = []
        self._tentative_seq: dict[str, int] = {}
        self._tentative_keys: dict[tuple[str, int], int] = {}
        self._tentative_len = len(self._text)

    @classmethod
    def from_loaded(cls, loaded: LoadedDocument, **options: Unpack[Limits]) -> Document:
        """The document a store's :meth:`~collab.store.base.Store.load` describes."""
        doc = cls(loaded.snapshot.text, loaded.snapshot.rev, **options)
        for rec in loaded.tail:
            doc.integrate(rec)
        return doc

    # -- reading -------------------------------------------------------------------------------

    @property
    def rev(self) -> int:
        """The last committed revision."""
        return self._history.rev

    @property
    def text(self) -> TextBuffer:
        """The committed text (never includes the tentative batch). Do not mutate."""
        return self._text

    @property
    def tentative_rev(self) -> int:
        return self.rev + len(self._tentative)

    def tentative(self) -> list[NewOp]:
        """The batch to commit, in order."""
        return [new for _, new in self._tentative]

    def last_seq(self, client: str) -> int | None:
        """The client's last committed seq, if known."""
        return self._last_seq.get(client)

    def catch_up(self, rev: int) -> list[OpRecord] | NeedOps | None:
        """What a welcome sends a client at ``rev``: the records after it, a read to make
        first, or None when the text must be sent instead (unknown or too old a revision)."""
        if rev < 0 or rev > self.rev or rev < self.rev - self.catch_up_limit:
            return None
        records = self._history.records_since(rev)
        if records is None:
            return NeedOps(rev, self._history.base - rev)
        return records

    def committed_since(self, rev: int) -> list[TextOperation] | None:
        """Committed operations after ``rev`` if the window has them (for presence)."""
        return self._history.ops_since(rev)

    def length_at(self, rev: int) -> int | None:
        """The length at committed revision ``rev`` if the window reaches it."""
        return self._history.length_at(rev, len(self._text))

    # -- facts read from the store --------------------------------------------------------------

    def learn_last_seq(self, client: str, seq: int) -> None:
        """The store says ``client``'s last committed seq is ``seq``."""
        known = self._last_seq.get(client, 0)
        self._last_seq[client] = max(known, seq)
        self._fresh.add(client)

    def learn_seq_rev(self, client: str, seq: int, rev: int | None) -> None:
        """The store says (client, seq) was committed as ``rev`` (None: not at all)."""
        self._seq_revs[(client, seq)] = _UNKNOWN if rev is None else rev

    def forget_client(self, client: str) -> None:
        """Drop what is cached about ``client`` (the store disagreed with it)."""
        self._last_seq.pop(client, None)
        self._fresh.discard(client)

    def backfill(self, records: list[OpRecord]) -> None:
        """Committed records older than the window, read from the store."""
        self._history.prepend(records)

    # -- the batch ------------------------------------------------------------------------------

    def prepare(self, sub: Submission) -> Outcome:
        """Decide what to do with ``sub``; on :class:`Accepted` it joins the tentative batch."""
        client, seq = sub.client, sub.seq
        last = self._tentative_seq.get(client)
        if last is None:
            last = self._last_seq.get(client)
        if last is None or (seq > last + 1 and client not in self._fresh):
            # Not known, or apparently skipping ahead: the client may have committed
            # through another process meanwhile, so the store has the last word.
            return NeedLastSeq(client)
        if seq <= last:
            return self._duplicate(client, seq)
        if seq > last + 1:
            return _refuse(ErrorCode.BAD_SEQ, f"seq {seq} skips ahead of {last + 1}", seq)
        if sub.rev < 0 or sub.rev > self.rev:
            return _refuse(ErrorCode.BAD_REV, f"rev {sub.rev} is outside 0..{self.rev}", seq)
        if sub.rev < self.rev - self.catch_up_limit:
            return _refuse(
                ErrorCode.BAD_REV,
                f"rev {sub.rev} is more than {self.catch_up_limit} revisions behind "
                f"{self.rev}: reload",
                seq,
            )
        against = self._history.ops_since(sub.rev)
        if against is None:
            return NeedOps(sub.rev, self._history.base - sub.rev)
        if self._tentative:
            against = against + [op for op, _ in self._tentative]
        try:
            op = rebase(sub.op, against)
            if op.base_length != self._tentative_len:
                raise LengthMismatch("base length")
        except LengthMismatch:
            return _refuse(
                ErrorCode.BAD_OP,
                f"the operation does not fit the document at revision {sub.rev}",
                seq,
            )
        if op.target_length > self.max_chars and op.target_length > op.base_length:
            return _refuse(
                ErrorCode.TOO_LARGE, f"the document would exceed {self.max_chars} characters", seq
            )
        return Accepted(self._push(op, client, seq, sub.user, sub.user_id))

    def propose(self, op: TextOperation, user: dict[str, Any], user_id: str | None) -> NewOp:
        """Add a server-made operation (a restore) to the batch; it must fit the text as the
        batch leaves it (raises LengthMismatch)."""
        if op.base_length != self._tentative_len:
            raise LengthMismatch(f"{op.base_length} != {self._tentative_len}")
        return self._push(op, None, None, user, user_id)

    def rollback(self) -> None:
        """Forget the tentative batch: the document is as the store holds it."""
        self._tentative.clear()
        self._tentative_seq.clear()
        self._tentative_keys.clear()
        self._tentative_len = len(self._text)
        self._end_batch()

    def confirm(self, records: list[OpRecord]) -> None:
        """The tentative batch was committed as ``records``."""
        batch = self._tentative
        if len(records) != len(batch) or any(
            r.rev != n.rev or r.client != n.client or r.seq != n.seq
            for r, (_, n) in zip(records, batch, strict=False)
        ):
            self.rollback()
            raise ValueError("the records are not the batch prepared for them")
        self._tentative = []
        try:
            for (op, _), rec in zip(batch, records, strict=True):
                self.integrate(rec, op)
        finally:
            self.rollback()

    def integrate(self, record: OpRecord, op: TextOperation | None = None) -> None:
        """Committed revision ``rev + 1`` enters memory (``op``: ``record.op`` already parsed).

        Raises ValueError for a record that does not follow, LengthMismatch for one that does
        not fit the text (both leave the document unchanged).
        """
        if record.rev != self.rev + 1:
            raise ValueError(f"revision {record.rev} does not follow {self.rev}")
        if op is None:
            if self._tentative:
                raise ValueError("a committed record cannot overtake a tentative batch")
            op = TextOperation.from_json(record.op)
        self._text.apply(op)
        self._history.append(op, record)
        self._tentative_len = len(self._text)
        client, seq = record.client, record.seq
        if client is not None and seq is not None and seq > self._last_seq.get(client, 0):
            self._last_seq[client] = seq

    def _push(
        self,
        op: TextOperation,
        client: str | None,
        seq: int | None,
        user: dict[str, Any],
        user_id: str | None,
    ) -> NewOp:
        new = NewOp(self.tentative_rev + 1, op.ops, client, seq, user, user_id)
        self._tentative.append((op, new))
        self._tentative_len = op.target_length
        if client is not None and seq is not None:
            self._tentative_seq[client] = seq
            self._tentative_keys[(client, seq)] = new.rev
        return new

    def _duplicate(self, client: str, seq: int) -> Outcome:
        rev = self._tentative_keys.get((client, seq))
        if rev is not None:
            return Duplicate(rev)
        rev = self._history.find_seq(client, seq)
        if rev is None:
            rev = self._seq_revs.get((client, seq))
            if rev is None:
                return NeedSeqRev(client, seq)
            if rev == _UNKNOWN:
                # The cached last seq was wrong (the store holds no such operation).
                self.forget_client(client)
                return _refuse(ErrorCode.BAD_SEQ, f"seq {seq} was never committed", seq)
        if rev > self.rev:
            return Behind()
        return Duplicate(rev)

    def _end_batch(self) -> None:
        self._fresh.clear()
        self._seq_revs.clear()


def _refuse(code: ErrorCode, message: str, seq: int) -> Refused:
    return Refused(ProtocolError(code, message, seq))


def replay(text: str, records: Iterable[OpRecord]) -> str:
    """The text after applying ``records`` in order (raises LengthMismatch)."""
    for rec in records:
        text = TextOperation.from_json(rec.op).apply(text)
    return text


def diff(old: str, new: str) -> TextOperation:
    """One operation turning ``old`` into ``new``: common prefix and suffix kept."""
    p = _common_length(old, new, min(len(old), len(new)), lambda t, i, j: t[i:j])
    s = _common_length(
        old, new, min(len(old), len(new)) - p, lambda t, i, j: t[len(t) - j : len(t) - i]
    )
    op = TextOperation().retain(p).insert(new[p : len(new) - s]).delete(len(old) - p - s)
    return op.retain(s)


def _common_length(a: str, b: str, bound: int, part: Callable[[str, int, int], str]) -> int:
    """How many leading units ``part`` gives equal for ``a`` and ``b`` (at most ``bound``):
    a binary search over slice comparisons, linear in C rather than per character."""
    lo, hi = 0, bound
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if part(a, lo, mid) == part(b, lo, mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
