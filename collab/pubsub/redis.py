"""Redis pub/sub: fan-out of committed revisions between server processes.

Redis delivers at most once. A message only says "document X is at revision N"; the room
reads what it lacks from the store, so a lost message delays but never loses anything. When
the connection to Redis drops, the listener reconnects with backoff and tells every
subscribed room to look at the store (``resync``), which covers what was missed meanwhile.

:meth:`RedisPubSub.subscribe` returns once Redis has confirmed the subscription (the
registry subscribes *before* it loads a document), or at once while Redis is unreachable:
the listener then subscribes to everything and resyncs when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from collab.pubsub.base import Handler

log = logging.getLogger("collab.pubsub")

PREFIX = "collab:doc:"
CONFIRM_TIMEOUT = 2.0  # seconds to wait for Redis to confirm a connection or subscription
PUBLISH_TIMEOUT = 5.0  # seconds one publish may take before it is given up
OUTBOX_DOCS = 10_000  # documents with a notice waiting; past it the oldest is dropped


class RedisPubSub:
    """A :class:`collab.pubsub.base.PubSub` on Redis."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._redis: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._handler: Handler | None = None
        self._docs: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        # Notices waiting to be published, one per document (a newer commit notice
        # replaces an older one: "at revision N" says all the earlier ones said), drained
        # by one task: a Redis that does not answer costs a bounded dict, not a task per
        # commit.
        self._outbox: dict[str, dict[str, Any]] = {}
        self._publisher: asyncio.Task[None] | None = None
        self.dropped = 0  # notices given up (Redis slow or away; rooms catch up anyway)
        self._last_reset = 0.0
        self._closed = False
        # True while the listener's connection is subscribed and read; only then do
        # subscribe() and unsubscribe() use it (the listener owns (re)connecting).
        self._up = False
        self._attempted = asyncio.Event()  # the listener's first connection attempt ended
        self._confirm: dict[str, list[asyncio.Future[None]]] = {}  # channel -> subscribers

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._redis = aioredis.from_url(self._url, decode_responses=False)
        self._task = asyncio.get_running_loop().create_task(self._listen())
        # Let the first connection be made, so that the first subscribe() calls find the
        # listener up (or known down) rather than racing it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), CONFIRM_TIMEOUT)

    async def close(self) -> None:
        self._closed = True
        self._up = False
        self._release_waiters()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._publisher
        self._outbox.clear()
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    async def subscribe(self, doc_id: str) -> None:
        self._docs.add(doc_id)
        if not self._up or self._pubsub is None:
            return  # the listener subscribes to everything and resyncs when it is back
        channel = PREFIX + doc_id
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(channel, []).append(waiter)
        try:
            await asyncio.wait_for(self._pubsub.subscribe(channel), CONFIRM_TIMEOUT)
            await asyncio.wait_for(waiter, CONFIRM_TIMEOUT)
        except Exception as e:
            # Not confirmed in time: the connection cannot be trusted to carry this
            # document's notices. Start it again; the listener subscribes everything and
            # has every room read what it missed once Redis answers.
            log.warning("subscribe failed doc=%s: %r; reconnecting", doc_id, e)
            self._reset()
        finally:
            waiters = self._confirm.get(channel, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._confirm.pop(channel, None)

    async def unsubscribe(self, doc_id: str) -> None:
        self._docs.discard(doc_id)
        if self._up and self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(PREFIX + doc_id)

    def publish_nowait(self, doc_id: str, msg: dict[str, Any]) -> None:
        if self._redis is None or self._closed:
            return
        waiting = self._outbox.pop(doc_id, None)
        if waiting is not None and "rev" in waiting and "rev" in msg:
            msg = {"rev": max(waiting["rev"], msg["rev"])}  # the records go: read from the store
        elif waiting is not None and waiting.get("deleted"):
            msg = waiting  # a deletion is not overtaken by a commit notice
        self._outbox[doc_id] = msg
        if len(self._outbox) > OUTBOX_DOCS:
            self._outbox.pop(next(iter(self._outbox)))
            self.dropped += 1
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.get_running_loop().create_task(self._drain())

    @property
    def publishing(self) -> bool:
        """Notices are waiting or on their way."""
        return bool(self._outbox) or (self._publisher is not None and not self._publisher.done())

    async def _drain(self) -> None:
        while self._outbox:
            doc_id = next(iter(self._outbox))
            msg = self._outbox.pop(doc_id)
            try:
                await asyncio.wait_for(self._publish(doc_id, msg), PUBLISH_TIMEOUT)
            except TimeoutError:
                self.dropped += 1
                log.warning("publish timed out doc=%s", doc_id)

    async def _publish(self, doc_id: str, msg: dict[str, Any]) -> None:
        assert self._redis is not None
        for attempt in (1, 2):
            try:
                await self._redis.publish(PREFIX + doc_id, orjson.dumps(msg))
                return
            except RedisConnectionError as e:
                # After Redis restarted, a pooled connection fails on first use (and is
                # dropped); one more try goes out on a fresh connection.
                if attempt == 2:
                    log.warning("publish failed doc=%s: %s", doc_id, e)
            except Exception as e:
                log.warning("publish failed doc=%s: %s", doc_id, e)
                return

    async def _listen(self) -> None:
        delay = 0.1
        while not self._closed:
            assert self._redis is not None
            try:
                self._pubsub = self._redis.pubsub()
                # A placeholder channel keeps the connection in subscribe mode with no docs.
                subscribed = set(self._docs)
                await asyncio.wait_for(
                    self._pubsub.subscribe(PREFIX + "_", *(PREFIX + d for d in subscribed)),
                    CONFIRM_TIMEOUT,
                )
                while self._docs != subscribed:  # changed while we were connecting
                    added, removed = self._docs - subscribed, subscribed - self._docs
                    subscribed = set(self._docs)
                    if added:
                        await self._pubsub.subscribe(*(PREFIX + d for d in added))
                    if removed:
                        await self._pubsub.unsubscribe(*(PREFIX + d for d in removed))
                self._up = True
                self._attempted.set()
                # Whatever was published while we were away: let every room check the store.
                self._resync()
                delay = 0.1
                async for message in self._pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        self._confirmed(message["channel"].decode())
                    if kind != "message":
                        continue
                    channel = message["channel"].decode()
                    try:
                        payload = orjson.loads(message["data"])
                    except orjson.JSONDecodeError:
                        continue
                    if self._handler is not None and isinstance(payload, dict):
                        self._handler(channel[len(PREFIX) :], payload)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._up = False
                self._attempted.set()
                self._release_waiters()
                log.warning("redis connection lost: %s; retrying in %.1fs", e, delay)
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 5.0)

    def _reset(self) -> None:
        """Drop the listener's connection and start a new one (at most every few seconds)."""
        loop = asyncio.get_running_loop()
        if self._closed or loop.time() - self._last_reset < CONFIRM_TIMEOUT:
            return
        self._last_reset = loop.time()
        self._up = False
        self._release_waiters()
        if self._task is not None:
            self._task.cancel()  # a read on a stalled socket ends only so
        old = self._pubsub
        self._pubsub = None
        if old is not None:
            closing = loop.create_task(self._close_quietly(old))
            closing.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._task = loop.create_task(self._listen())

    @staticmethod
    async def _close_quietly(pubsub: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pubsub.aclose(), CONFIRM_TIMEOUT)

    def _confirmed(self, channel: str) -> None:
        """Redis confirmed one SUBSCRIBE to ``channel``: the oldest waiter may go on."""
        waiters = self._confirm.get(channel)
        if waiters:
            waiter = waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)

    def _release_waiters(self) -> None:
        """The connection is gone: subscribe() calls stop waiting (the resync covers them)."""
        for waiters in self._confirm.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        self._confirm.clear()

    def _resync(self) -> None:
        if self._handler is None:
            return
        for doc in list(self._docs):
            self._handler(doc, {"resync": True})
