"""The PubSub contract (collab/pubsub/base.py), run against every implementation.

``pair`` is parametrised over two :class:`MemoryPubSub` on one :class:`MemoryBroker` and two
:class:`RedisPubSub` on one Redis (``COLLAB_TEST_REDIS_URL``, skipped when unreachable unless
``COLLAB_REQUIRE_SERVICES=1``): two processes' views of one bus. The restart tests run a
private ``redis-server`` on a free port, so that killing it disturbs nobody else.

"Not delivered" needs a fence: the publisher also subscribes to what it publishes, waits for
its own copy (the bus has then handed the message to every subscriber), and sends a second
message on a document the receiver does subscribe to; when that one arrives, the first would
have arrived before it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collab.pubsub.base import PubSub
from collab.pubsub.memory import MemoryBroker, MemoryPubSub
from collab.pubsub.redis import RedisPubSub
from tests.collab.services import REDIS_URL, RedisServer, redis_problem, unavailable

TIMEOUT = 5.0
Message = tuple[str, dict[str, Any]]


class Inbox:
    """A handler that records ``(doc_id, msg)`` and lets a test wait for one."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._arrived = asyncio.Event()

    def __call__(self, doc_id: str, msg: dict[str, Any]) -> None:
        self.messages.append((doc_id, msg))
        self._arrived.set()

    def about(self, doc_id: str) -> list[dict[str, Any]]:
        """Messages about ``doc_id`` other than ``resync`` (which may come at any time, e.g.
        when the connection to the bus is first made)."""
        return [m for d, m in self.messages if d == doc_id and not m.get("resync")]

    async def wait_for(
        self, predicate: Callable[[Message], bool], timeout: float = TIMEOUT
    ) -> Message:
        async with asyncio.timeout(timeout):
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_msg(self, doc_id: str, msg: dict[str, Any], timeout: float = TIMEOUT) -> None:
        await self.wait_for(lambda m: m == (doc_id, msg), timeout)


@dataclass
class Member:
    """One process's pub/sub and what its handler received."""

    pubsub: PubSub
    inbox: Inbox


Pair = tuple[Member, Member]


def doc() -> str:
    """A document id no other test (or process on the shared Redis) uses."""
    return f"psc-{uuid.uuid4().hex[:10]}"


async def _started(pubsubs: list[PubSub]) -> list[Member]:
    members = []
    for ps in pubsubs:
        inbox = Inbox()
        await ps.start(inbox)
        members.append(Member(ps, inbox))
    return members


@pytest.fixture(params=["memory", "redis"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    if request.param == "memory":
        broker = MemoryBroker()
        pubsubs: list[PubSub] = [MemoryPubSub(broker), MemoryPubSub(broker)]
    else:
        problem = await redis_problem(REDIS_URL)
        if problem is not None:
            unavailable(problem)
        pubsubs = [RedisPubSub(REDIS_URL), RedisPubSub(REDIS_URL)]
    a, b = await _started(pubsubs)
    try:
        yield a, b
    finally:
        for m in (a, b):
            await m.pubsub.close()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A private redis-server that the test may kill and restart."""
    server = RedisServer(log_path=tmp_path / "redis.log")
    await server.start()
    try:
        yield server
    finally:
        server.kill()


async def fence(a: Member, b: Member, fence_doc: str) -> None:
    """Make sure everything ``b`` published before now has reached ``a`` if it ever will.

    ``a`` must be subscribed to ``fence_doc``. The marker travels after every earlier
    message that ``b`` saw come back to itself.
    """
    marker = {"fence": uuid.uuid4().hex}
    b.pubsub.publish_nowait(fence_doc, marker)
    await a.inbox.wait_msg(fence_doc, marker)


async def published_and_seen(b: Member, doc_id: str, msg: dict[str, Any]) -> None:
    """``b`` publishes on ``doc_id`` (which it subscribes to) and waits for its own copy."""
    b.pubsub.publish_nowait(doc_id, msg)
    await b.inbox.wait_msg(doc_id, msg)


# -- delivery ---------------------------------------------------------------------------------


async def test_subscribe_then_publish_from_the_other_reaches_the_handler(pair: Pair) -> None:
    a, b = pair
    d = doc()
    await a.pubsub.subscribe(d)
    msg = {
        "rev": 7,
        "records": [{"rev": 7, "op": [3, "é😀\u0301", -2], "client": "c1", "seq": 1}],
    }
    b.pubsub.publish_nowait(d, msg)
    await a.inbox.wait_msg(d, msg)
    assert a.inbox.about(d) == [msg]


async def test_subscription_is_active_when_subscribe_returns(pair: Pair) -> None:
    """The registry subscribes *before* loading a document: a message published right after
    ``subscribe()`` returns must not be missed (else a commit made by another process between
    the subscription and the load would stay unknown)."""
    a, b = pair
    docs = [doc() for _ in range(20)]
    for i, d in enumerate(docs):
        await a.pubsub.subscribe(d)
        b.pubsub.publish_nowait(d, {"rev": i})
    for i, d in enumerate(docs):
        await a.inbox.wait_msg(d, {"rev": i})


async def test_each_subscriber_gets_a_copy_and_publishers_hear_themselves(pair: Pair) -> None:
    a, b = pair
    d = doc()
    await a.pubsub.subscribe(d)
    await b.pubsub.subscribe(d)
    a.pubsub.publish_nowait(d, {"rev": 1})
    await a.inbox.wait_msg(d, {"rev": 1})
    await b.inbox.wait_msg(d, {"rev": 1})


async def test_documents_not_subscribed_are_not_delivered(pair: Pair) -> None:
    a, b = pair
    mine, other, fence_doc = doc(), doc(), doc()
    await a.pubsub.subscribe(mine)
    await a.pubsub.subscribe(fence_doc)
    await b.pubsub.subscribe(other)
    await published_and_seen(b, other, {"rev": 1})
    b.pubsub.publish_nowait(mine, {"rev": 2})
    await fence(a, b, fence_doc)
    await a.inbox.wait_msg(mine, {"rev": 2})
    assert a.inbox.about(other) == []


async def test_unsubscribed_documents_are_not_delivered(pair: Pair) -> None:
    a, b = pair
    d, fence_doc = doc(), doc()
    await a.pubsub.subscribe(fence_doc)
    await a.pubsub.subscribe(d)
    await b.pubsub.subscribe(d)
    await published_and_seen(b, d, {"rev": 1})
    await a.inbox.wait_msg(d, {"rev": 1})

    await a.pubsub.unsubscribe(d)
    await fence(a, b, fence_doc)  # the unsubscribe has taken effect before what follows
    await published_and_seen(b, d, {"rev": 2})
    await fence(a, b, fence_doc)
    assert a.inbox.about(d) == [{"rev": 1}]


async def test_unsubscribing_twice_or_unknown_documents_is_harmless(pair: Pair) -> None:
    a, b = pair
    d = doc()
    await a.pubsub.unsubscribe(d)
    await a.pubsub.subscribe(d)
    await a.pubsub.unsubscribe(d)
    await a.pubsub.unsubscribe(d)
    await a.pubsub.subscribe(d)
    b.pubsub.publish_nowait(d, {"rev": 3})
    await a.inbox.wait_msg(d, {"rev": 3})


# -- failures ---------------------------------------------------------------------------------


async def test_publish_nowait_never_raises_after_close(pair: Pair) -> None:
    a, b = pair
    d = doc()
    await a.pubsub.subscribe(d)
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    await a.pubsub.close()
    a.pubsub.publish_nowait(d, {"rev": 1})
    b.pubsub.publish_nowait(d, {"rev": 2})  # a is closed: nobody hears it
    await b.pubsub.close()
    b.pubsub.publish_nowait(d, {"rev": 3})
    await asyncio.sleep(0.05)  # let any background task run (nothing to wait for by design)
    assert errors == []
    assert a.inbox.about(d) == []


async def test_close_is_idempotent_and_stops_delivery(pair: Pair) -> None:
    a, b = pair
    d, fence_doc = doc(), doc()
    await a.pubsub.subscribe(d)
    await b.pubsub.subscribe(d)
    await b.pubsub.subscribe(fence_doc)
    await a.pubsub.close()
    await a.pubsub.close()
    await published_and_seen(b, d, {"rev": 1})
    await published_and_seen(b, fence_doc, {"rev": 2})
    assert a.inbox.about(d) == []
    await b.pubsub.close()
    await b.pubsub.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_close_before_start_is_harmless(kind: str) -> None:
    ps: PubSub = MemoryPubSub() if kind == "memory" else RedisPubSub("redis://127.0.0.1:1/0")
    await ps.close()
    await ps.close()
    ps.publish_nowait("x", {"rev": 1})


# -- Redis outages (a private redis-server) ---------------------------------------------------


async def test_redis_publish_nowait_never_raises_while_redis_is_down(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    (a,) = await _started([RedisPubSub(own_redis.url)])
    try:
        d = doc()
        await a.pubsub.subscribe(d)
        await published_and_seen(a, d, {"rev": 1})
        own_redis.kill()
        with caplog.at_level(logging.WARNING, logger="collab.pubsub"):
            for i in range(20):
                a.pubsub.publish_nowait(d, {"rev": 2 + i})
            # Every background publish ends (logged), none escapes to the loop.
            async with asyncio.timeout(15):
                while a.pubsub.publishing:
                    await asyncio.sleep(0.05)
        assert errors == []
        assert any("publish failed" in r.getMessage() for r in caplog.records)
    finally:
        await a.pubsub.close()


@pytest.mark.parametrize("outage", [0.0, 1.0])
async def test_redis_restart_resubscribes_and_asks_every_room_to_resync(
    own_redis: RedisServer, outage: float
) -> None:
    """After its Redis comes back, a RedisPubSub is subscribed again and has told the handler
    ``{"resync": True}`` once per subscribed document (what was published meanwhile is
    lost, so every room must look at the store). ``outage=0`` is a quick restart, which a
    client library may heal by itself without the caller noticing."""
    a, b = await _started([RedisPubSub(own_redis.url), RedisPubSub(own_redis.url)])
    try:
        docs, gone, fence_doc = [doc(), doc(), doc()], doc(), doc()
        for d in [*docs, gone, fence_doc]:
            await a.pubsub.subscribe(d)
        await b.pubsub.subscribe(fence_doc)
        await a.pubsub.unsubscribe(gone)
        await published_and_seen(b, fence_doc, {"rev": 0})
        await a.inbox.wait_msg(fence_doc, {"rev": 0})
        a.inbox.messages.clear()

        own_redis.kill()
        if outage:
            await asyncio.sleep(outage)  # the outage itself: nothing to wait for
        await own_redis.start()

        for d in [*docs, fence_doc]:
            await a.inbox.wait_msg(d, {"resync": True}, timeout=15)
        # Subscribed again: messages flow (b reconnects too; retry until it has).
        await b.inbox.wait_msg(fence_doc, {"resync": True}, timeout=15)
        for i, d in enumerate(docs):
            b.pubsub.publish_nowait(d, {"rev": 10 + i})
            await a.inbox.wait_msg(d, {"rev": 10 + i})
        await fence(a, b, fence_doc)
        assert a.inbox.about(gone) == []
        resyncs = [d for d, m in a.inbox.messages if m.get("resync")]
        assert sorted(resyncs) == sorted([*docs, fence_doc])
    finally:
        await a.pubsub.close()
        await b.pubsub.close()
