"""One open document: its text, its recent history, its sessions, and its single writer.

Everything that changes the document goes through :attr:`Room.queue` and is handled by one
task, :meth:`Room._run`, in arrival order: submissions are validated, rebased onto the
current revision, applied, **committed durably (one transaction per batch), and only then**
acknowledged and broadcast. Because one task both commits and broadcasts, every session
receives every revision once and in order. Joins go through the same queue so that a
welcome's revision and the stream that follows it line up exactly.

When several processes share the database (PROTOCOL §6), the store is the arbiter: a commit
that finds its revision taken raises RevisionConflict, the room rolls back its tentative
batch, reads what it missed, and rebases again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from collab.errors import Close, ErrorCode, ProtocolError
from collab.history import History
from collab.presence import PresenceBoard
from collab.pubsub.base import PubSub
from collab.settings import Settings
from collab.store.base import (
    DocumentNotFound,
    DuplicateOperation,
    NewOp,
    OpRecord,
    RevisionConflict,
    Store,
)
from collab.wire import Hello, encode
from ot import LengthMismatch, TextBuffer, TextOperation, rebase

if TYPE_CHECKING:
    from collab.metrics import Metrics
    from collab.session import Session

log = logging.getLogger("collab.room")


@dataclass(slots=True)
class Submit:
    session: Session
    rev: int
    seq: int
    op: TextOperation
    received: float


@dataclass(slots=True)
class Join:
    session: Session
    hello: Hello
    done: asyncio.Future[None]


@dataclass(slots=True)
class Restore:
    target_rev: int
    user: dict[str, Any]
    user_id: str | None
    done: asyncio.Future[int]


@dataclass(slots=True)
class Autosave:
    pass


@dataclass(slots=True)
class Read:
    """Read the committed ``(rev, text)`` between batches."""

    done: asyncio.Future[tuple[int, str]]


@dataclass(slots=True)
class Remote:
    """Operations committed elsewhere (another process), to integrate.

    ``upto`` is the revision announced (None: look at the store anyway, e.g. after the
    pub/sub connection came back); ``records`` the announced operations when they came
    along, which saves a read when they continue our history exactly.
    """

    upto: int | None
    records: list[OpRecord] | None = None


Job = Submit | Join | Restore | Autosave | Remote | Read


@dataclass(slots=True)
class _Prepared:
    job: Submit
    new: NewOp | None = None  # to commit
    dup_rev: int | None = None  # already committed at this revision
    error: ProtocolError | None = None
    inverse: TextOperation | None = None
    dup_of: _Prepared | None = None  # a resend of an operation earlier in the same batch


class Room:
    """The in-memory state and single writer of one document."""

    def __init__(
        self,
        doc_id: str,
        store: Store,
        pubsub: PubSub,
        settings: Settings,
        metrics: Metrics,
        on_empty: Callable[[Room], None],
    ) -> None:
        self.doc_id = doc_id
        self.store = store
        self.pubsub = pubsub
        self.settings = settings
        self.metrics = metrics
        self._on_empty = on_empty
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.sessions: dict[str, Session] = {}
        self.text = TextBuffer()
        self.history = History(store, doc_id, settings.history_window)
        self.last_seq: dict[str, int] = {}
        self.presence = PresenceBoard(self, settings.presence_interval)
        self._task: asyncio.Task[None] | None = None
        self._ops_since_version = 0
        self._version_rev = 0
        self._snapshot_rev = 0
        self._idle_handle: asyncio.TimerHandle | None = None
        self.closed = False

    @property
    def rev(self) -> int:
        """The last committed revision."""
        return self.history.rev

    # -- lifecycle ----------------------------------------------------------------------------

    async def load(self) -> bool:
        """Read the latest snapshot and the tail; False if the document does not exist."""
        loaded = await self.store.load(self.doc_id)
        if loaded is None:
            return False
        text = TextBuffer(loaded.snapshot.text)
        ops = []
        for rec in loaded.tail:
            op = TextOperation.from_json(rec.op)
            text.apply(op)
            ops.append((op, rec))
        self.text = text
        self.history.reset(loaded.snapshot.rev, ops)
        self._snapshot_rev = self._version_rev = loaded.snapshot.rev
        self._ops_since_version = len(ops)
        return True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"room:{self.doc_id}")

    async def stop(self, close_code: Close | None = None) -> None:
        """Finish queued work, save a final snapshot, close sessions with ``close_code``."""
        if self.closed:
            return
        self.closed = True
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        self.presence.close()
        if self._task is not None:
            await self.queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if close_code is not None:
            for s in list(self.sessions.values()):
                s.close(close_code)
        if close_code != Close.DELETED:
            try:
                await self._autosave(final=True)
            except Exception:
                log.exception("final autosave failed doc=%s", self.doc_id)

    # -- sessions -----------------------------------------------------------------------------

    def leave(self, session: Session) -> None:
        if self.sessions.get(session.client) is session:
            del self.sessions[session.client]
            self.presence.forget(session.client)
            self.broadcast(encode({"type": "leave", "client": session.client}), exclude=session)
        if not self.sessions:
            self._on_empty(self)

    def broadcast(self, text: str, exclude: Session | None = None) -> None:
        for s in self.sessions.values():
            if s is not exclude:
                s.send(text)

    # -- the single writer --------------------------------------------------------------------

    async def _run(self) -> None:
        q = self.queue
        while True:
            job = await q.get()
            jobs = [job]
            while not q.empty() and len(jobs) < 512:
                jobs.append(q.get_nowait())
            try:
                await self._handle(jobs)
            except Exception:
                log.exception("room failure doc=%s", self.doc_id)
                await self._fault(jobs)
            finally:
                for _ in jobs:
                    q.task_done()

    async def _handle(self, jobs: list[Job]) -> None:
        batch: list[Submit] = []
        for job in jobs:
            if isinstance(job, Submit):
                batch.append(job)
                continue
            if batch:
                await self._commit_batch(batch)
                batch = []
            try:
                await self._handle_one(job)
            except Exception:
                # One failing join or restore affects only its own requester.
                log.exception("job failed doc=%s job=%s", self.doc_id, type(job).__name__)
                await self._fault([job])
        if batch:
            await self._commit_batch(batch)

    async def _handle_one(self, job: Job) -> None:
        if isinstance(job, Join):
            await self._join(job)
        elif isinstance(job, Restore):
            await self._restore(job)
        elif isinstance(job, Autosave):
            await self._autosave()
        elif isinstance(job, Read):
            if not job.done.done():
                job.done.set_result((self.rev, str(self.text)))
        elif isinstance(job, Remote):
            await self._catch_up_remote(job.upto, job.records)

    async def _fault(self, jobs: list[Job]) -> None:
        """A bug or store failure: fail the jobs and close their sessions (their clients
        reconnect and resend: nothing unacknowledged is lost), and reload from the store if
        the in-memory state may have diverged."""
        for job in jobs:
            if isinstance(job, Submit | Join):
                job.session.close(Close.SERVER_FAULT)
            if isinstance(job, Join | Restore | Read) and not job.done.done():
                job.done.set_exception(RuntimeError("server fault"))
        if self.history.tentative_rev != self.rev or any(isinstance(j, Submit) for j in jobs):
            try:
                await self.load()
            except Exception:
                log.exception("reload failed doc=%s", self.doc_id)

    # -- submissions --------------------------------------------------------------------------

    async def _commit_batch(self, batch: list[Submit]) -> None:
        for attempt in range(self.settings.commit_retries + 1):
            in_batch: dict[tuple[str, int], _Prepared] = {}
            prepared = [await self._prepare(job, in_batch) for job in batch]
            if any(p.dup_rev is not None and p.dup_rev > self.rev for p in prepared):
                # A resend of an operation committed through another process that we have
                # not heard of yet: integrate it first, so that the ack does not run ahead of
                # what this process has sent (the client's next op would be based on it).
                self._rollback(prepared)
                await self._catch_up_remote(None)
                continue
            new = [p.new for p in prepared if p.new is not None]
            if not new:
                self._reply(prepared, [])
                return
            t0 = time.perf_counter()
            try:
                records = await self.store.commit(self.doc_id, new)
            except (RevisionConflict, DuplicateOperation) as e:
                self._rollback(prepared)
                self.metrics.commit_conflicts += 1
                if isinstance(e, DuplicateOperation):
                    self.last_seq.pop(e.client, None)
                await self._catch_up_remote(None)
                log.info("commit conflict doc=%s attempt=%d: %s", self.doc_id, attempt, e)
                if attempt:
                    # Several processes racing for one hot document: back off with full
                    # jitter so that the race does not repeat in lockstep; the batch also
                    # grows meanwhile, so each win commits more.
                    await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                continue
            except DocumentNotFound:
                self._rollback(prepared)
                for p in prepared:
                    p.job.session.close(Close.DELETED)
                return
            except BaseException:
                self._rollback(prepared)
                raise
            self.metrics.observe_commit(len(records), time.perf_counter() - t0)
            self._reply(prepared, records)
            self._after_commit(records)
            return
        # Out of retries: the operations to commit are refused as rate_limited (the client
        # resends later); the rest get the answer they would have had.
        self._rollback(prepared)
        for p in prepared:
            if p.new is not None:
                p.new = None
                p.error = ProtocolError(
                    ErrorCode.RATE_LIMITED, "too much contention, resend", p.job.seq
                )
        self._reply(prepared, [])

    async def _prepare(self, job: Submit, in_batch: dict[tuple[str, int], _Prepared]) -> _Prepared:
        p = _Prepared(job)
        client = job.session.client
        last = self.last_seq.get(client)
        if last is None or job.seq > last + 1:
            # Not cached, or apparently skipping ahead: the client may have committed through
            # another process meanwhile, so the store has the last word.
            last = self.last_seq[client] = await self.store.last_seq(self.doc_id, client)
        if job.seq <= last:
            p.dup_of = in_batch.get((client, job.seq))
            if p.dup_of is None:
                p.dup_rev = await self._find_seq(client, job.seq)
            return p
        if job.seq > last + 1:
            p.error = ProtocolError(
                ErrorCode.BAD_SEQ, f"seq {job.seq} skips ahead of {last + 1}", job.seq
            )
            return p
        tentative = self.history.tentative_rev
        if job.rev < 0 or job.rev > self.history.rev:
            p.error = ProtocolError(
                ErrorCode.BAD_REV, f"rev {job.rev} is outside 0..{self.history.rev}", job.seq
            )
            return p
        try:
            against = await self.history.ops_since(job.rev)
            op = rebase(job.op, against)
            if op.base_length != len(self.text):
                raise LengthMismatch("base length")
        except LengthMismatch:
            p.error = ProtocolError(
                ErrorCode.BAD_OP,
                f"the operation does not fit the document at revision {job.rev}",
                job.seq,
            )
            return p
        if op.target_length > self.settings.max_doc_chars and op.target_length > op.base_length:
            p.error = ProtocolError(
                ErrorCode.TOO_LARGE,
                f"the document would exceed {self.settings.max_doc_chars} characters",
                job.seq,
            )
            return p
        p.inverse = self.text.invert(op)
        self.text.apply(op)
        self.history.push_tentative(op)
        self.last_seq[client] = job.seq
        s = job.session
        p.new = NewOp(tentative + 1, op.ops, client, job.seq, s.user, s.user_id)
        in_batch[(client, job.seq)] = p
        return p

    def _rollback(self, prepared: list[_Prepared]) -> None:
        for p in reversed(prepared):
            if p.inverse is not None:
                self.text.apply(p.inverse)
                p.inverse = None
            if p.new is not None:
                self.last_seq.pop(p.new.client or "", None)
        self.history.drop_tentative()

    async def _find_seq(self, client: str, seq: int) -> int:
        rev = self.history.find_seq(client, seq)
        if rev is None:
            rev = await self.store.find_seq(self.doc_id, client, seq)
        if rev is None:  # pragma: no cover - last_seq said it was committed
            raise RuntimeError(f"committed op {client}/{seq} not found")
        return rev

    def _reply(self, prepared: list[_Prepared], records: list[OpRecord]) -> None:
        self.history.commit(records)
        self.metrics.ops_committed += len(records)  # by this process (not those integrated)
        for rec in records:
            self._broadcast_record(rec)
        for p in prepared:
            s, job = p.job.session, p.job
            if p.error is not None:
                s.send_error(p.error)
            elif p.dup_of is not None and p.dup_of.new is not None:
                s.send(encode({"type": "ack", "seq": job.seq, "rev": p.dup_of.new.rev}))
            elif p.dup_rev is not None:
                s.send(encode({"type": "ack", "seq": job.seq, "rev": p.dup_rev}))
            else:
                self.metrics.observe_ack(time.perf_counter() - job.received)

    def _broadcast_record(self, rec: OpRecord) -> None:
        """Send revision ``rec.rev`` to every session: an ack to its author, op to the rest."""
        msg = encode(
            {
                "type": "op",
                "rev": rec.rev,
                "op": rec.op,
                "client": rec.client,
                "seq": rec.seq,
                "user": rec.user,
            }
        )
        author = self.sessions.get(rec.client) if rec.client is not None else None
        for s in self.sessions.values():
            if s is not author:
                s.send(msg)
        if author is not None:
            author.send(encode({"type": "ack", "seq": rec.seq, "rev": rec.rev}))

    def _publish(self, records: list[OpRecord]) -> None:
        """Tell other processes; small batches travel whole, saving them a read."""
        msg: dict[str, Any] = {"rev": records[-1].rev}
        if sum(len(r.op) for r in records) <= 64:
            msg["records"] = [record_to_json(r) for r in records]
        self.pubsub.publish_nowait(self.doc_id, msg)

    def _after_commit(self, records: list[OpRecord]) -> None:
        if not records:
            return
        self._publish(records)
        self._ops_since_version += len(records)
        if self._ops_since_version >= self.settings.autosave_every:
            self.queue.put_nowait(Autosave())
        loop = asyncio.get_running_loop()
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        self._idle_handle = loop.call_later(
            self.settings.autosave_idle, self.queue.put_nowait, Autosave()
        )

    async def _catch_up_remote(
        self, upto: int | None, announced: list[OpRecord] | None = None
    ) -> None:
        """Integrate operations other processes committed (after a conflict or a publish)."""
        if upto is not None and upto <= self.rev:
            return
        fresh = [r for r in announced or [] if r.rev > self.rev]
        if fresh and fresh[0].rev == self.rev + 1 and fresh[-1].rev == upto:
            records = fresh
        else:
            records = await self.store.get_ops(self.doc_id, self.rev)
        for rec in records:
            if rec.rev != self.rev + 1:  # pragma: no cover - the store keeps revisions contiguous
                raise RuntimeError(f"gap in stored history at {rec.rev}")
            op = TextOperation.from_json(rec.op)
            self.text.apply(op)
            self.history.push_tentative(op)
            self.history.commit([rec])
            if rec.client is not None and rec.seq is not None and rec.client in self.last_seq:
                self.last_seq[rec.client] = max(rec.seq, self.last_seq[rec.client])
            self._broadcast_record(rec)
        if records:
            self._ops_since_version += len(records)

    # -- joins ------------------------------------------------------------------------------

    async def _join(self, job: Join) -> None:
        s, hello = job.session, job.hello
        try:
            if not await self._client_id_free(s):
                s.close(Close.BAD_HELLO, "this client id belongs to another user")
                return
            if hello.rev is not None and hello.rev > self.rev:
                # The client comes from another process with revisions we have not heard of
                # yet (the pub/sub message is late, or was lost while Redis was down): read
                # them, rather than sending it back to an older text.
                await self._catch_up_remote(None)
            last = await self.store.last_seq(self.doc_id, s.client)
            self.last_seq[s.client] = max(last, self.last_seq.get(s.client, 0))
            welcome: dict[str, Any] = {"type": "welcome", "doc": self.doc_id, "rev": self.rev}
            welcome["role"] = s.role
            r = hello.rev
            if r is not None and 0 <= r <= self.rev:
                welcome["ops"] = [_wire_record(rec) for rec in await self.history.records_since(r)]
            else:
                welcome["text"] = str(self.text)
            welcome["seq"] = self.last_seq[s.client]
            welcome["peers"] = self.presence.peers(exclude=s.client)
            old = self.sessions.get(s.client)
            if old is not None and old is not s:
                old.close(Close.REPLACED)
                self.presence.forget(s.client)
            self.sessions[s.client] = s
            s.send(encode(welcome))
            self.broadcast(encode({"type": "join", "client": s.client, "user": s.user}), exclude=s)
        finally:
            if not job.done.done():
                job.done.set_result(None)

    async def _client_id_free(self, s: Session) -> bool:
        """With tokens, a client id belongs to the user who first used it on this document:
        deduplication is by (client, seq), so another user reusing the id could otherwise
        make the owner's operations be taken for duplicates."""
        if s.user_id is None:
            return True
        live = self.sessions.get(s.client)
        if live is not None and live.user_id != s.user_id:
            return False
        owner = await self.store.client_owner(self.doc_id, s.client)
        return owner is None or owner == s.user_id

    # -- history ------------------------------------------------------------------------------

    async def _restore(self, job: Restore) -> None:
        target = await self.history.text_at(job.target_rev, str(self.text))
        current = str(self.text)
        if target == current:
            job.done.set_result(self.rev)
            return
        op = _diff(current, target)
        rec = NewOp(self.rev + 1, op.ops, None, None, job.user, job.user_id)
        self.history.push_tentative(op)
        try:
            records = await self.store.commit(self.doc_id, [rec])
        except BaseException:
            self.history.drop_tentative()
            raise
        self.text.apply(op)
        self.history.commit(records)
        self._broadcast_record(records[0])
        self.metrics.ops_committed += 1
        await self.store.save_snapshot(self.doc_id, self.rev, target)
        author = job.user.get("name") if isinstance(job.user.get("name"), str) else job.user_id
        await self.store.add_version(self.doc_id, self.rev, "restore", None, author)
        self._version_rev = self._snapshot_rev = self.rev
        self._ops_since_version = 0
        self._publish(records)
        job.done.set_result(self.rev)

    async def _autosave(self, final: bool = False) -> None:
        """Record an ``auto`` version and a snapshot when anything changed since the last one."""
        rev = self.rev
        if rev > self._snapshot_rev:
            await self.store.save_snapshot(self.doc_id, rev, str(self.text))
            self._snapshot_rev = rev
        if rev > self._version_rev:
            await self.store.add_version(self.doc_id, rev, "auto", None, None)
            self._version_rev = rev
            self._ops_since_version = 0

    def idle(self) -> bool:
        return not self.sessions and self.queue.empty()


def record_to_json(rec: OpRecord) -> dict[str, Any]:
    """An OpRecord as JSON for pub/sub (all fields, unlike the wire record)."""
    return {**_wire_record(rec), "user_id": rec.user_id, "created_at": rec.created_at.isoformat()}


def record_from_json(d: dict[str, Any]) -> OpRecord:
    """Inverse of :func:`record_to_json`; raises on malformed input."""
    return OpRecord(
        rev=int(d["rev"]),
        op=list(d["op"]),
        client=d["client"],
        seq=d["seq"],
        user=dict(d["user"]),
        user_id=d["user_id"],
        created_at=datetime.fromisoformat(d["created_at"]),
    )


def _wire_record(rec: OpRecord) -> dict[str, Any]:
    return {"rev": rec.rev, "op": rec.op, "client": rec.client, "seq": rec.seq, "user": rec.user}


def _diff(old: str, new: str) -> TextOperation:
    """One operation turning ``old`` into ``new``: common prefix and suffix kept."""
    p = len(os.path.commonprefix([old, new]))
    s = len(os.path.commonprefix([old[p:][::-1], new[p:][::-1]]))
    op = TextOperation().retain(p).insert(new[p : len(new) - s]).delete(len(old) - p - s)
    return op.retain(s)
