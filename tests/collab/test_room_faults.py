"""Fault injection: no store failure leaves memory unlike the store.

A room on a :class:`~tests.collab.faults.FaultyStore` is driven by plain peers (no sockets)
through sessions, batches, resends, reconnects, restore, autosave and unload/reload, while
the store fails on purpose. After every step:

* the room's text and revision are what the store would load (or, while the room knows a
  fault may have hidden a commit from it, a prefix of it, caught up before its next job);
* every ack any peer received names an operation the store holds at that revision;
* every welcome's ``seq`` was committed, and its text is the stored text at its revision;
* each peer received the revisions after its welcome once each, in order;
* the stored log replays from revision 0, and every snapshot is the replay at its revision.

Two drivers: an exhaustive sweep (every store method, every k up to the calls the scenario
makes, failing before the call and, for writes, after it) and a Hypothesis state machine that
arms faults at random points.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from collab import wire
from collab.document import replay
from collab.errors import Close, ProtocolError
from collab.metrics import Metrics
from collab.pubsub.memory import MemoryPubSub
from collab.room import Contention, Room, RoomFault
from collab.settings import Settings
from collab.store.base import DocumentNotFound
from collab.store.memory import MemoryStore
from ot import TextOperation
from tests.collab.faults import METHODS, FaultyStore, InjectedFault

DOC = "doc"
SETTINGS = Settings(
    autosave_idle=10_000.0,  # no timers: autosave only when the test asks
    autosave_every=1_000_000,
    history_window=4,  # small, so that catch-ups and rebases read the store
    catch_up_limit=1000,
    commit_retries=3,
)
WRITES = ("commit", "save_snapshot", "add_version")


class FakePeer:
    """A connection as the room sees it; records what it is sent."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.user: dict[str, Any] = {"name": client}
        self.user_id: str | None = f"user-{client}"  # as with tokens: ids have owners
        self.role = "edit"
        self.inbox: list[dict[str, Any]] = []
        self.closed: Close | None = None

    def send(self, text: str) -> None:
        if self.closed is None:
            self.inbox.append(json.loads(text))

    def send_error(self, err: ProtocolError) -> None:
        self.send(wire.error(err))

    def close(self, code: Close, reason: str = "") -> None:
        if self.closed is None:
            self.closed = code


@dataclass
class Client:
    """A client's memory across connections: its next seq and what is unacknowledged."""

    name: str
    peer: FakePeer | None = None
    next_seq: int = 1
    pending: dict[int, tuple[int, TextOperation]] = field(default_factory=dict)
    sent: dict[int, tuple[int, TextOperation]] = field(default_factory=dict)
    read: int = 0  # how much of the current peer's inbox was looked at
    last_rev: int | None = None  # the last revision this connection received


class World:
    """One document, its room and its clients, on a store that fails when armed."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.store = FaultyStore(self.inner)
        self.room: Room | None = None
        self.clients = {c: Client(c) for c in ("a", "b", "c")}
        self.acks: list[tuple[str, int, int]] = []
        self.welcomes: list[tuple[str, dict[str, Any]]] = []

    async def start(self) -> None:
        await self.inner.open()
        await self.inner.create_document(DOC, "hello")
        await self.open_room()

    async def open_room(self) -> None:
        for _ in range(5):  # an injected fault fails one load; the next one serves
            room = Room(DOC, self.store, MemoryPubSub(), SETTINGS, Metrics(), lambda r: None)
            try:
                assert await room.load()
            except InjectedFault:
                continue
            room.start()
            self.room = room
            return
        raise AssertionError("could not load")

    @property
    def r(self) -> Room:
        assert self.room is not None
        return self.room

    async def settle(self) -> None:
        await self.r.queue.join()
        for c in self.clients.values():
            self._read_inbox(c)
            if c.peer is not None and c.peer.closed is not None:
                self.r.leave(c.peer)
                c.peer = None

    def _read_inbox(self, c: Client) -> None:
        if c.peer is None:
            return
        for msg in c.peer.inbox[c.read :]:
            kind = msg["type"]
            if kind == "welcome":
                self.welcomes.append((c.name, msg))
                for seq in [s for s in c.pending if s <= msg["seq"]]:
                    del c.pending[seq]
                c.last_rev = msg["rev"]
            elif kind == "ack":
                self.acks.append((c.name, msg["seq"], msg["rev"]))
                c.pending.pop(msg["seq"], None)
                assert c.last_rev is not None
                if msg["rev"] > c.last_rev:
                    assert msg["rev"] == c.last_rev + 1, (c.name, msg, c.last_rev)
                    c.last_rev = msg["rev"]
            elif kind == "op":
                assert c.last_rev is not None
                assert msg["rev"] == c.last_rev + 1, (c.name, msg, c.last_rev)
                c.last_rev = msg["rev"]
        c.read = len(c.peer.inbox)

    # -- what clients and operators do -----------------------------------------------------

    async def connect(self, name: str) -> None:
        c = self.clients[name]
        if c.peer is not None:
            return
        c.peer, c.read, c.last_rev = FakePeer(name), 0, None
        await self.r.join(c.peer, wire.Hello(name, None, c.peer.user, None))
        self._read_inbox(c)
        if c.peer.closed is None:
            self.resend(name)

    def disconnect(self, name: str) -> None:
        c = self.clients[name]
        if c.peer is not None:
            c.peer.close(Close.NORMAL)
            self.r.leave(c.peer)
            c.peer = None

    def edit(self, name: str, frac: float, text: str) -> None:
        c = self.clients[name]
        if c.peer is None:
            return
        room = self.r
        length = len(room.text)
        pos = int(frac * length)
        if text:
            op = TextOperation().retain(pos).insert(text).retain(length - pos)
        elif length:
            op = TextOperation().retain(min(pos, length - 1)).delete(1)
            op = op.retain(length - op.base_length)
        else:
            return
        seq = c.next_seq
        c.next_seq += 1
        c.pending[seq] = c.sent[seq] = (room.rev, op)
        room.submit(c.peer, room.rev, seq, op)

    def resend(self, name: str) -> None:
        c = self.clients[name]
        if c.peer is None:
            return
        for seq in sorted(c.pending):
            rev, op = c.pending[seq]
            self.r.submit(c.peer, rev, seq, op)

    def resend_old(self, name: str, back: int) -> None:
        """Send an acknowledged operation again (a client that missed its ack): the answer
        is an ack with its revision, read from the store when it left the window."""
        c = self.clients[name]
        done = sorted(s for s in c.sent if s not in c.pending)
        if c.peer is None or not done:
            return
        seq = done[max(0, len(done) - 1 - back)]
        rev, op = c.sent[seq]
        self.r.submit(c.peer, rev, seq, op)

    async def restore(self, target: int) -> None:
        with contextlib.suppress(RoomFault, Contention, DocumentNotFound):
            await self.r.restore(min(target, self.r.rev), {"name": "op"}, None)

    async def reload(self) -> None:
        """Unload (everyone left) and open again, as the registry does."""
        for name in self.clients:
            self.disconnect(name)
        await self.r.stop()
        await self.open_room()

    # -- the checks ------------------------------------------------------------------------

    async def check(self) -> None:
        inner = self.inner
        loaded = await inner.load(DOC)
        assert loaded is not None
        stored_rev = loaded.info.rev
        stored_text = replay(loaded.snapshot.text, loaded.tail)
        log = await inner.get_ops(DOC, 0)
        # The log replays from revision 0; every snapshot is the replay at its revision.
        assert [r.rev for r in log] == list(range(1, stored_rev + 1))
        texts = ["hello"]
        for rec in log:
            texts.append(TextOperation.from_json(rec.op).apply(texts[-1]))
        assert texts[-1] == stored_text
        for rev, text in inner._docs[DOC].snapshots.items():
            assert texts[rev] == text, f"snapshot at {rev} is not the text at {rev}"
        # Memory is the store, or (while a catch-up is owed) a prefix of it.
        room = self.r
        if room._stale:
            assert room.rev <= stored_rev and room.text == texts[room.rev]
        else:
            assert (room.rev, room.text) == (stored_rev, stored_text)
        # Every ack names a committed operation at its revision.
        committed = {(r.client, r.seq): r.rev for r in log}
        for client, seq, rev in self.acks:
            assert committed.get((client, seq)) == rev, f"ack {client}/{seq} at {rev}"
        # Every welcome's seq was committed, and its text was the stored text.
        for client, w in self.welcomes:
            seqs = [r.seq for r in log if r.client == client and r.rev <= w["rev"]]
            assert w["seq"] == max(seqs, default=0), f"welcome seq {w['seq']} for {client}"
            if "text" in w:
                assert texts[w["rev"]] == w["text"]


def run(coro: Awaitable[None]) -> None:
    asyncio.run(_bounded(coro))


async def _bounded(coro: Awaitable[None]) -> None:
    await asyncio.wait_for(coro, 30)


# -- the exhaustive sweep -------------------------------------------------------------------

Step = Callable[[World], Awaitable[None]]


async def _burst(w: World, *edits: tuple[str, float, str]) -> None:
    for name, frac, text in edits:
        w.edit(name, frac, text)


SCRIPT: list[tuple[str, Step]] = [
    ("connect a, b", lambda w: _seq(w.connect("a"), w.connect("b"))),
    ("batch of three", lambda w: _burst(w, ("a", 0.0, "A"), ("b", 1.0, "B"), ("a", 0.5, "é"))),
    ("resend in a batch", lambda w: _seq(_burst(w, ("b", 0.2, "x")), _call(w.resend, "b"))),
    ("restore to 1", lambda w: w.restore(1)),
    ("edits past the window", lambda w: _burst(w, *[("a", i / 7, "w") for i in range(6)])),
    ("old resends", lambda w: _seq(_call(w.resend_old, "a", 0), _call(w.resend_old, "a", 5))),
    ("autosave", lambda w: _call(w.r.save_soon)),
    ("reconnect a", lambda w: _seq(_call(w.disconnect, "a"), w.connect("a"))),
    ("delete and insert", lambda w: _burst(w, ("a", 0.3, ""), ("b", 0.9, "😀"))),
    ("unload and reload", lambda w: w.reload()),
    ("reconnect all", lambda w: _seq(w.connect("a"), w.connect("b"), w.connect("c"))),
    ("three clients", lambda w: _burst(w, ("a", 0.1, "1"), ("b", 0.6, "2"), ("c", 1.0, "3"))),
    ("restore to 4", lambda w: w.restore(4)),
    ("autosave again", lambda w: _call(w.r.save_soon)),
]


async def _seq(*steps: Awaitable[None]) -> None:
    for s in steps:
        await s


async def _call(fn: Callable[..., None], *args: Any) -> None:
    fn(*args)


async def _play(w: World, arm: Callable[[FaultyStore], None] | None) -> None:
    if arm is not None:
        arm(w.store)
    await w.start()
    for name, step in SCRIPT:
        await step(w)
        await w.settle()
        try:
            await w.check()
        except AssertionError as e:
            raise AssertionError(f"after step {name!r}: {e}") from e
    # With the faults spent, every client gets its work in.
    w.store.disarm()
    for name in w.clients:
        await w.connect(name)
    await w.settle()
    for name in w.clients:
        w.resend(name)
    await w.settle()
    await w.check()
    assert not w.r._stale
    await w.r.stop()


def _clean_calls() -> dict[str, int]:
    w = World()
    run(_play(w, None))
    return dict(w.store.calls)


CALLS = _clean_calls()
CASES = [
    (method, k, after)
    for method in METHODS
    for k in range(1, CALLS.get(method, 0) + 1)
    for after in ((False, True) if method in WRITES else (False,))
]


def test_the_scenario_calls_the_methods_the_room_uses() -> None:
    for method in (
        "load",
        "commit",
        "get_ops",
        "last_seq",
        "find_seq",
        "client_owner",
        "save_snapshot",
        "add_version",
    ):
        assert CALLS.get(method, 0) > 0, method
    assert len(CASES) > 30


@pytest.mark.parametrize(("method", "k", "after"), CASES)
def test_one_fault_anywhere(method: str, k: int, after: bool) -> None:
    w = World()

    def arm(store: FaultyStore) -> None:
        store.arm(k, method, after=after)

    run(_play(w, arm))
    assert w.store.faults[method] == 1


# -- random faults at random points ---------------------------------------------------------


class RoomUnderFaults(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.w = World()
        self.loop.run_until_complete(self.w.start())

    def _do(self, step: Awaitable[None]) -> None:
        async def go() -> None:
            await step
            await self.w.settle()

        self.loop.run_until_complete(asyncio.wait_for(go(), 30))

    @rule(name=st.sampled_from("abc"))
    def connect(self, name: str) -> None:
        self._do(self.w.connect(name))

    @rule(name=st.sampled_from("abc"))
    def disconnect(self, name: str) -> None:
        self._do(_call(self.w.disconnect, name))

    @rule(
        edits=st.lists(
            st.tuples(
                st.sampled_from("abc"), st.floats(0, 1), st.sampled_from(["", "x", "😀", "e\u0301"])
            ),
            min_size=1,
            max_size=5,
        )
    )
    def batch(self, edits: list[tuple[str, float, str]]) -> None:
        self._do(_burst(self.w, *edits))

    @rule(name=st.sampled_from("abc"))
    def resend(self, name: str) -> None:
        self._do(_call(self.w.resend, name))

    @rule(name=st.sampled_from("abc"), back=st.integers(0, 10))
    def resend_old(self, name: str, back: int) -> None:
        self._do(_call(self.w.resend_old, name, back))

    @rule(to=st.integers(0, 30))
    def restore(self, to: int) -> None:
        self._do(self.w.restore(to))

    @rule()
    def autosave(self) -> None:
        self._do(_call(self.w.r.save_soon))

    @rule()
    def reload(self) -> None:
        self._do(self.w.reload())

    @rule(
        nth=st.integers(1, 4),
        method=st.one_of(st.none(), st.sampled_from(METHODS)),
        after=st.booleans(),
    )
    def arm(self, nth: int, method: str | None, after: bool) -> None:
        self.w.store.arm(nth, method, after=after and method in WRITES)

    @invariant()
    def memory_is_the_store(self) -> None:
        self.loop.run_until_complete(self.w.check())

    def teardown(self) -> None:
        self.w.store.disarm()
        self.loop.run_until_complete(self.w.r.stop())
        self.loop.close()


TestRoomUnderFaults = RoomUnderFaults.TestCase
TestRoomUnderFaults.settings = settings(
    stateful_step_count=40, suppress_health_check=[HealthCheck.too_slow]
)


def test_a_resend_in_a_batch_refused_for_contention_gets_no_ack() -> None:
    """Out of commit retries, the batch is refused as rate_limited: a resend of one of its
    operations in the same batch must not be acknowledged with the revision it never got."""
    from collab.store.base import NewOp, OpRecord, RevisionConflict

    class AlwaysRaced(MemoryStore):
        async def commit(self, doc_id: str, ops: list[NewOp]) -> list[OpRecord]:
            raise RevisionConflict("another process won")

    async def go() -> None:
        store = AlwaysRaced()
        await store.open()
        await store.create_document(DOC, "")
        settings = Settings(autosave_idle=10_000.0, commit_retries=1)
        room = Room(DOC, store, MemoryPubSub(), settings, Metrics(), lambda r: None)
        assert await room.load()
        room.start()
        peer = FakePeer("a")
        peer.user_id = None
        await room.join(peer, wire.Hello("a", None, peer.user, None))
        op = TextOperation().insert("x")
        room.submit(peer, 0, 1, op)
        room.submit(peer, 0, 1, op)  # the same operation again, in the same batch
        await room.queue.join()
        answers = [m for m in peer.inbox if m["type"] in ("ack", "error")]
        assert [m["type"] for m in answers] == ["error", "error"], answers
        assert {m["code"] for m in answers} == {"rate_limited"}
        await room.stop()

    run(go())
