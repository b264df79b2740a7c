"""One open document in this process: the queue of its work, the store calls around its
:class:`~collab.document.Document`, and fan-out to its peers.

Everything that changes the document goes through :attr:`Room.queue` and is handled by one
task, :meth:`Room._run`, in arrival order. Submissions are prepared by the document (rebased
onto the current revision, tentatively), **committed durably (one transaction per batch), and
only then** integrated, acknowledged and broadcast. Because one task both commits and
broadcasts, every peer receives every revision once and in order. Joins go through the same
queue so that a welcome's revision and the stream that follows it line up exactly.

Nobody else builds the room's jobs: it offers :meth:`Room.submit`, :meth:`Room.join`,
:meth:`Room.read`, :meth:`Room.restore` and :meth:`Room.notify`.

Faults. The document's committed state is changed only by integrating records the store
returned, so a failing store call (a read while a batch is prepared, the commit itself, a
write after it) leaves memory equal to the store or behind it, never ahead. A fault fails the
jobs it concerns and no others, and marks the room *stale*: before its next job the room
reads whatever the store has that memory lacks (a commit whose outcome is unknown may have
landed), and reloads the document if that does not fit.

When several processes share the database (PROTOCOL §6), the store is the arbiter: a commit
that finds its revision taken raises RevisionConflict, the room rolls back its tentative
batch, reads what it missed, and prepares again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collab import wire
from collab.document import (
    Accepted,
    Behind,
    Document,
    Duplicate,
    Limits,
    NeedLastSeq,
    NeedOps,
    NeedSeqRev,
    Refused,
    Submission,
    diff,
    replay,
)
from collab.errors import Close, ErrorCode, ProtocolError
from collab.metrics import Metrics
from collab.peer import Peer
from collab.presence import PresenceBoard
from collab.pubsub.base import PubSub
from collab.settings import Settings
from collab.store.base import (
    DocumentNotFound,
    DuplicateOperation,
    OpRecord,
    RevisionConflict,
    Store,
)
from collab.wire import Hello
from ot import InvalidOperation, LengthMismatch, Selection, TextOperation

log = logging.getLogger("collab.room")


class RoomFault(Exception):
    """The room could not do what was asked (a store failure); nothing was changed."""


class Contention(Exception):
    """Too many commit races lost in a row; nothing was changed (try again later)."""


@dataclass(slots=True)
class _Submit:
    peer: Peer
    sub: Submission
    received: float


@dataclass(slots=True)
class _Join:
    peer: Peer
    hello: Hello
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Restore:
    target_rev: int
    user: dict[str, Any]
    user_id: str | None
    done: asyncio.Future[int]


@dataclass(slots=True)
class _Autosave:
    pass


@dataclass(slots=True)
class _Read:
    done: asyncio.Future[tuple[int, str]]


@dataclass(slots=True)
class _Remote:
    """Revisions committed elsewhere: up to ``upto`` (None: look at the store anyway)."""

    upto: int | None
    records: list[OpRecord] | None = None


_Job = _Submit | _Join | _Restore | _Autosave | _Read | _Remote


class _BehindStore(Exception):
    """Raised inside a batch: the store has revisions this process has not integrated."""


class _Diverged(Exception):
    """Records from the store do not fit the document in memory."""


class Room:
    """The single writer of one document in this process."""

    def __init__(
        self,
        doc_id: str,
        store: Store,
        pubsub: PubSub,
        settings: Settings,
        metrics: Metrics,
        on_empty: Callable[[Room], None],
        on_gone: Callable[[Room], None] | None = None,
    ) -> None:
        self.doc_id = doc_id
        self.store = store
        self.pubsub = pubsub
        self.settings = settings
        self.metrics = metrics
        self._on_empty = on_empty
        self._on_gone = on_gone
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.sessions: dict[str, Peer] = {}
        self.doc = Document("", 0, **self._document_options())
        self.created_at: datetime | None = None  # which incarnation of the document
        self.presence = PresenceBoard(
            lambda: self.doc, self.sessions, self.broadcast, settings.presence_interval
        )
        self._task: asyncio.Task[None] | None = None
        self._ops_since_version = 0
        self._version_rev = 0
        self._snapshot_rev = 0
        self._idle_handle: asyncio.TimerHandle | None = None
        self._stale = False  # the store may hold revisions memory lacks
        self.gone = False  # the document was deleted (or re-created) under this room
        self.closed = False
        self._close_code = Close.GOING_AWAY

    def _document_options(self) -> Limits:
        s = self.settings
        return Limits(
            window=s.history_window, catch_up_limit=s.catch_up_limit, max_chars=s.max_doc_chars
        )

    @property
    def rev(self) -> int:
        """The last committed revision this process knows."""
        return self.doc.rev

    @property
    def text(self) -> str:
        """The committed text."""
        return str(self.doc.text)

    # -- lifecycle ----------------------------------------------------------------------------

    async def load(self) -> bool:
        """Read the latest snapshot and the tail; False if the document does not exist."""
        loaded = await self.store.load(self.doc_id)
        if loaded is None:
            return False
        self.doc = Document.from_loaded(loaded, **self._document_options())
        self.created_at = loaded.info.created_at
        self._snapshot_rev = self._version_rev = loaded.snapshot.rev
        self._ops_since_version = len(loaded.tail)
        self._stale = False
        return True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"room:{self.doc_id}")

    async def stop(self, close_code: Close | None = None) -> None:
        """Finish queued work, save a final snapshot, close peers with ``close_code``."""
        if self.closed:
            return
        self.closed = True  # from now on new work is turned away (see _closed_to)
        self._close_code = close_code or Close.GOING_AWAY
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        self.presence.close()
        bound = self.settings.shutdown_timeout
        if self._task is not None:
            try:
                await asyncio.wait_for(self.queue.join(), bound)
            except TimeoutError:
                # The store (or a client) does not answer: give up on what is queued.
                log.warning("room work unfinished after %.1fs doc=%s", bound, self.doc_id)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            while not self.queue.empty():
                closed = RoomFault("the document was closed")
                self._fail([self.queue.get_nowait()], closed, close_code or Close.GOING_AWAY)
                self.queue.task_done()
        if close_code is not None:
            for p in list(self.sessions.values()):
                p.close(close_code)
        if close_code != Close.DELETED and not self.gone:
            try:
                await asyncio.wait_for(self._autosave(), bound)
            except Exception:
                log.exception("final autosave failed doc=%s", self.doc_id)

    def idle(self) -> bool:
        return not self.sessions and self.queue.empty()

    # -- what others ask of the room ----------------------------------------------------------

    def submit(self, peer: Peer, rev: int, seq: int, op: TextOperation) -> None:
        """An operation from ``peer``; answered with an ack, an error, or by closing."""
        if self.closed:
            peer.close(self._close_code)
            return
        sub = Submission(peer.client, rev, seq, op, peer.user, peer.user_id)
        self.queue.put_nowait(_Submit(peer, sub, time.perf_counter()))

    async def join(self, peer: Peer, hello: Hello) -> None:
        """Welcome ``peer`` (or close it); returns once the welcome is queued."""
        if self.closed:
            peer.close(self._close_code)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Join(peer, hello, done))
        await done

    async def read(self) -> tuple[int, str]:
        """The committed ``(rev, text)``, read between batches. Raises RoomFault,
        DocumentNotFound."""
        if self.closed:
            raise RoomFault("the document was closed")
        done: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Read(done))
        return await done

    async def restore(self, target_rev: int, user: dict[str, Any], user_id: str | None) -> int:
        """Commit one operation that brings back the text of ``target_rev``; the new revision.
        Raises RoomFault, Contention, DocumentNotFound."""
        if self.closed:
            raise RoomFault("the document was closed")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Restore(target_rev, user, user_id, done))
        return await done

    def save_soon(self) -> None:
        """Queue an autosave (a snapshot and an ``auto`` version if anything changed)."""
        self.queue.put_nowait(_Autosave())

    def notify(self, notice: wire.Committed | wire.Resync) -> None:
        """Another process committed (or messages may have been lost)."""
        if self.closed:
            return
        if isinstance(notice, wire.Resync):
            self.queue.put_nowait(_Remote(None))
        elif notice.rev > self.rev:
            self.queue.put_nowait(_Remote(notice.rev, notice.records))

    def update_presence(self, peer: Peer, rev: int, selection: Selection | None) -> None:
        """A presence message; raises ProtocolError."""
        self.presence.update(peer, rev, selection)

    def leave(self, peer: Peer) -> None:
        if self.sessions.get(peer.client) is peer:
            del self.sessions[peer.client]
            self.presence.forget(peer.client)
            self.broadcast(wire.leave(peer.client), peer)
        if not self.sessions:
            self._on_empty(self)

    def broadcast(self, text: str, exclude: Peer | None = None) -> None:
        for p in self.sessions.values():
            if p is not exclude:
                p.send(text)

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
            except Exception:  # pragma: no cover - _guarded handles every job's failure
                log.exception("room failure doc=%s", self.doc_id)
            except asyncio.CancelledError:
                # Stopped with work in flight (a store that does not answer): nobody waits
                # for an answer that will not come; a commit in flight may or may not land,
                # and its clients resend after reconnecting.
                self.doc.rollback()
                self._fail(jobs, RoomFault("the document was closed"), Close.GOING_AWAY)
                raise
            finally:
                for _ in jobs:
                    q.task_done()

    async def _handle(self, jobs: list[_Job]) -> None:
        batch: list[_Submit] = []
        for job in jobs:
            if isinstance(job, _Submit):
                batch.append(job)
                continue
            if batch:
                await self._guarded(batch)
                batch = []
            await self._guarded([job])
        if batch:
            await self._guarded(batch)

    async def _guarded(self, jobs: Sequence[_Job]) -> None:
        """Run ``jobs`` (one job, or a batch of submissions); a fault fails them alone."""
        try:
            if self.gone:
                self._refuse_gone(jobs)
                return
            if self._stale:
                await self._resync()
            first = jobs[0]
            if isinstance(first, _Submit):
                await self._commit_batch(jobs)  # type: ignore[arg-type]  # a batch: all _Submit
            else:
                await self._handle_one(first)
        except (Contention, DocumentNotFound) as e:
            # Refusals, not faults: memory is as the store holds it.
            self.doc.rollback()
            self._fail(jobs, e)
        except Exception:
            log.exception("fault doc=%s job=%s", self.doc_id, type(jobs[0]).__name__)
            self.doc.rollback()
            self._fail(jobs, RoomFault("the store failed; nothing was changed"))
            self._stale = True
            with contextlib.suppress(Exception):
                await self._resync()

    async def _handle_one(self, job: _Job) -> None:
        if isinstance(job, _Join):
            try:
                await self._join(job)
            finally:
                if not job.done.done():
                    job.done.set_result(None)
        elif isinstance(job, _Restore):
            await self._restore(job)
        elif isinstance(job, _Autosave):
            await self._autosave()
        elif isinstance(job, _Read):
            if not job.done.done():
                job.done.set_result((self.doc.rev, str(self.doc.text)))
        elif isinstance(job, _Remote):
            await self._catch_up(job.upto, job.records)

    def _fail(self, jobs: Sequence[_Job], exc: Exception, code: Close | None = None) -> None:
        """Close the submitters and joiners of failed jobs (their clients reconnect and
        resend: nothing unacknowledged is lost), and raise ``exc`` to the callers."""
        if code is None:
            code = Close.DELETED if isinstance(exc, DocumentNotFound) else Close.SERVER_FAULT
        for job in jobs:
            if isinstance(job, _Submit | _Join):
                job.peer.close(code)
            if isinstance(job, _Join) and not job.done.done():
                job.done.set_result(None)
            elif isinstance(job, _Restore | _Read) and not job.done.done():
                job.done.set_exception(exc)

    def _refuse_gone(self, jobs: Sequence[_Job]) -> None:
        for job in jobs:
            if isinstance(job, _Submit | _Join):
                job.peer.close(Close.DELETED)
            if isinstance(job, _Join) and not job.done.done():
                job.done.set_result(None)
            elif isinstance(job, _Restore | _Read) and not job.done.done():
                job.done.set_exception(DocumentNotFound(self.doc_id))

    def _gone(self) -> None:
        """The document no longer exists as this room knows it: deleted, or deleted and
        created again (a ghost). Close every peer with 4410 and leave the registry."""
        if self.gone:
            return
        log.info("document gone doc=%s", self.doc_id)
        self.gone = True
        for p in list(self.sessions.values()):
            p.close(Close.DELETED)
        if self._on_gone is not None:
            self._on_gone(self)

    # -- submissions --------------------------------------------------------------------------

    async def _commit_batch(self, batch: Sequence[_Submit]) -> None:
        doc = self.doc
        outcomes: list[Accepted | Duplicate | Refused] = []
        for attempt in range(self.settings.commit_retries + 1):
            doc = self.doc
            try:
                outcomes = []
                for job in batch:
                    out = doc.prepare(job.sub)
                    if not isinstance(out, Accepted | Duplicate | Refused):
                        out = await self._prepare(job.sub)
                    outcomes.append(out)
            except _BehindStore:
                # A resend of an operation committed through another process that we have
                # not heard of yet: integrate it first, so that the ack does not run ahead of
                # what this process has sent (the client's next op would be based on it).
                doc.rollback()
                await self._catch_up(None)
                continue
            except BaseException:
                doc.rollback()
                raise
            if doc.tentative_rev == doc.rev:  # nothing to commit
                self._answer(batch, outcomes)
                return
            records = await self._commit(attempt)
            if records is None:
                continue
            self._integrate_committed(records)
            self._answer(batch, outcomes)
            return
        # Out of retries: the operations to commit are refused as rate_limited (the client
        # resends later), and so are resends of them (a duplicate of a tentative revision);
        # the rest get the answer they would have had.
        doc.rollback()
        busy = [
            Refused(ProtocolError(ErrorCode.RATE_LIMITED, "too much contention, resend", j.sub.seq))
            if isinstance(o, Accepted) or (isinstance(o, Duplicate) and o.rev > doc.rev)
            else o
            for j, o in zip(batch, outcomes, strict=True)
        ]
        self._answer(batch, busy)

    async def _commit(self, attempt: int) -> list[OpRecord] | None:
        """Commit the document's tentative batch; the records, or None when another process
        won the race (rolled back, caught up, backed off: prepare again). Any other failure
        is rolled back and raised (DocumentNotFound once the room is gone)."""
        doc = self.doc
        t0 = time.perf_counter()
        try:
            records = await self.store.commit(self.doc_id, doc.tentative())
        except (RevisionConflict, DuplicateOperation) as e:
            doc.rollback()
            self.metrics.commit_conflicts += 1
            if isinstance(e, DuplicateOperation):
                doc.forget_client(e.client)
            log.info("commit conflict doc=%s attempt=%d: %s", self.doc_id, attempt, e)
            await self._catch_up(None, conflicted=True)
            if self.gone:
                raise DocumentNotFound(self.doc_id) from None
            if attempt:
                # Several processes racing for one hot document: back off with full jitter
                # so that the race does not repeat in lockstep; the batch also grows
                # meanwhile, so each win commits more.
                await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
            return None
        except DocumentNotFound:
            doc.rollback()
            self._gone()
            raise
        except BaseException:
            doc.rollback()
            raise
        self.metrics.observe_commit(len(records), time.perf_counter() - t0)
        return records

    async def _prepare(self, sub: Submission) -> Accepted | Duplicate | Refused:
        """The document's answer, making the reads it asks for first."""
        doc = self.doc
        for _ in range(8):
            out = doc.prepare(sub)
            if isinstance(out, NeedLastSeq):
                doc.learn_last_seq(out.client, await self.store.last_seq(self.doc_id, out.client))
            elif isinstance(out, NeedSeqRev):
                rev = await self.store.find_seq(self.doc_id, out.client, out.seq)
                doc.learn_seq_rev(out.client, out.seq, rev)
            elif isinstance(out, NeedOps):
                doc.backfill(await self.store.get_ops(self.doc_id, out.after, out.count))
            elif isinstance(out, Behind):
                raise _BehindStore
            else:
                return out
        raise RuntimeError(f"the document kept asking for reads: {sub}")  # pragma: no cover

    def _integrate_committed(self, records: list[OpRecord]) -> None:
        """The tentative batch is durable as ``records``: into memory, out to everyone."""
        try:
            self.doc.confirm(records)
        except Exception:
            # Committed, but memory could not take it (a bug): read it back from the store.
            self._stale = True
            raise
        self.metrics.ops_committed += len(records)  # by this process (not those integrated)
        for rec in records:
            self._fan_out(rec)
        self._after_commit(records)

    def _answer(
        self, batch: Sequence[_Submit], outcomes: Sequence[Accepted | Duplicate | Refused]
    ) -> None:
        for job, out in zip(batch, outcomes, strict=True):
            if isinstance(out, Refused):
                job.peer.send_error(out.error)
            elif isinstance(out, Duplicate):
                job.peer.send(wire.ack(job.sub.seq, out.rev))
            else:  # acknowledged by the fan-out
                self.metrics.observe_ack(time.perf_counter() - job.received)

    def _fan_out(self, rec: OpRecord) -> None:
        """Send revision ``rec.rev`` to every peer: an ack to its author, op to the rest."""
        msg = wire.op_message(rec)
        author = self.sessions.get(rec.client) if rec.client is not None else None
        for p in self.sessions.values():
            if p is not author:
                p.send(msg)
        if author is not None and rec.seq is not None:
            author.send(wire.ack(rec.seq, rec.rev))

    def _publish(self, records: list[OpRecord]) -> None:
        """Tell other processes."""
        notice = wire.committed_notice(records)
        self.pubsub.publish_nowait(self.doc_id, wire.encode_notice(notice))

    def _after_commit(self, records: list[OpRecord]) -> None:
        if not records:
            return
        self._publish(records)
        self._ops_since_version += len(records)
        if self._ops_since_version >= self.settings.autosave_every:
            self.queue.put_nowait(_Autosave())
        loop = asyncio.get_running_loop()
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        self._idle_handle = loop.call_later(
            self.settings.autosave_idle, self.queue.put_nowait, _Autosave()
        )

    # -- what the store has and memory lacks ----------------------------------------------------

    async def _catch_up(
        self,
        upto: int | None,
        announced: list[OpRecord] | None = None,
        conflicted: bool = False,
    ) -> None:
        """Integrate operations committed elsewhere (announced, or read from the store).

        ``conflicted``: a commit just found its revision taken; if the store has nothing
        after ours, the document is not the one this room loaded (see :meth:`_check_identity`).
        """
        doc = self.doc
        if upto is not None and upto <= doc.rev:
            return
        fresh = [r for r in announced or [] if r.rev > doc.rev]
        if fresh and fresh[0].rev == doc.rev + 1 and fresh[-1].rev == upto:
            records = fresh
        else:
            records = await self.store.get_ops(self.doc_id, doc.rev)
        for rec in records:
            try:
                doc.integrate(rec)
            except (ValueError, LengthMismatch, InvalidOperation):
                if await self._check_identity():
                    raise _Diverged(f"stored revision {rec.rev} does not fit") from None
                return
            self._fan_out(rec)
        self._ops_since_version += len(records)
        if conflicted and not records:
            await self._check_identity()

    async def _check_identity(self) -> bool:
        """Is the stored document still the one in memory? If not, the room is gone."""
        info = await self.store.get_document(self.doc_id)
        if info is None or info.created_at != self.created_at or info.rev < self.doc.rev:
            self._gone()
            return False
        return True

    async def _resync(self) -> None:
        """After a fault: read what the store has, reloading if it does not fit."""
        try:
            await self._catch_up(None)
        except _Diverged:
            log.error("memory diverged from the store doc=%s: reloading", self.doc_id)
            if not await self.load():
                self._gone()
                return
            self.presence.drop_stale()
            for p in list(self.sessions.values()):
                p.close(Close.SERVER_FAULT)  # their texts may differ: they reconnect
        self._stale = False

    # -- joins ------------------------------------------------------------------------------

    async def _join(self, job: _Join) -> None:
        peer, hello = job.peer, job.hello
        if not await self._client_id_free(peer):
            peer.close(Close.BAD_HELLO, "this client id belongs to another user")
            return
        if hello.rev is not None and hello.rev > self.doc.rev:
            # The client comes from another process with revisions we have not heard of
            # yet (the pub/sub message is late, or was lost while Redis was down): read
            # them, rather than sending it back to an older text.
            await self._catch_up(None)
            if self.gone:
                peer.close(Close.DELETED)
                return
        doc = self.doc
        doc.learn_last_seq(peer.client, await self.store.last_seq(self.doc_id, peer.client))
        ops: list[OpRecord] | None = None
        if hello.rev is not None:
            got = doc.catch_up(hello.rev)
            if isinstance(got, NeedOps):
                doc.backfill(await self.store.get_ops(self.doc_id, got.after, got.count))
                got = doc.catch_up(hello.rev)
            ops = got if isinstance(got, list) else None
        old = self.sessions.get(peer.client)
        if old is not None and old is not peer:
            old.close(Close.REPLACED)
            self.presence.forget(peer.client)
        self.sessions[peer.client] = peer
        peer.send(
            wire.welcome(
                self.doc_id,
                doc.rev,
                peer.role,
                doc.last_seq(peer.client) or 0,
                self.presence.peers(exclude=peer.client),
                text=str(doc.text) if ops is None else None,
                ops=ops,
            )
        )
        self.broadcast(wire.join(peer.client, peer.user), peer)

    async def _client_id_free(self, peer: Peer) -> bool:
        """With tokens, a client id belongs to the user who first used it on this document:
        deduplication is by (client, seq), so another user reusing the id could otherwise
        make the owner's operations be taken for duplicates."""
        if peer.user_id is None:
            return True
        live = self.sessions.get(peer.client)
        if live is not None and live.user_id != peer.user_id:
            return False
        owner = await self.store.client_owner(self.doc_id, peer.client)
        return owner is None or owner == peer.user_id

    # -- history ------------------------------------------------------------------------------

    async def _text_at(self, rev: int) -> str:
        """The committed text at ``rev``: nearest snapshot plus replay."""
        if rev == self.doc.rev:
            return str(self.doc.text)
        snap = await self.store.nearest_snapshot(self.doc_id, rev)
        if snap is None:
            raise DocumentNotFound(self.doc_id)
        records = (
            await self.store.get_ops(self.doc_id, snap.rev, rev - snap.rev)
            if snap.rev < rev
            else []
        )
        return replay(snap.text, records)

    async def _restore(self, job: _Restore) -> None:
        for attempt in range(self.settings.commit_retries + 1):
            target = await self._text_at(job.target_rev)
            doc = self.doc
            current = str(doc.text)
            if target == current:
                job.done.set_result(doc.rev)
                return
            doc.propose(diff(current, target), job.user, job.user_id)
            records = await self._commit(attempt)
            if records is None:
                continue
            self._integrate_committed(records)
            rev = records[-1].rev
            # The restore is committed and published: what follows is bookkeeping, and its
            # failure must not make the caller believe the restore failed.
            try:
                await self.store.save_snapshot(self.doc_id, rev, target)
                self._snapshot_rev = max(self._snapshot_rev, rev)
                name = job.user.get("name")
                author = name if isinstance(name, str) else job.user_id
                await self.store.add_version(self.doc_id, rev, "restore", None, author)
                self._version_rev = max(self._version_rev, rev)
                self._ops_since_version = 0
            except Exception:
                log.exception("restore committed, version not recorded doc=%s", self.doc_id)
            job.done.set_result(rev)
            return
        raise Contention("too many commit races lost in a row")

    async def _autosave(self) -> None:
        """Record an ``auto`` version and a snapshot when anything changed since the last one."""
        doc = self.doc
        rev, text = doc.rev, str(doc.text)
        if rev > self._snapshot_rev:
            await self.store.save_snapshot(self.doc_id, rev, text)
            self._snapshot_rev = rev
        if rev > self._version_rev:
            await self.store.add_version(self.doc_id, rev, "auto", None, None)
            self._version_rev = rev
            self._ops_since_version = 0
