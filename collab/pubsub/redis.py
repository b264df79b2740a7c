"""Redis pub/sub: fan-out of committed revisions between server processes.

Redis delivers at most once. A message only says "document X is at revision N"; the room
reads what it lacks from the store, so a lost message delays but never loses anything. When
the connection to Redis drops, the listener reconnects with backoff and tells every
subscribed room to look at the store (``resync``), which covers what was missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import orjson
import redis.asyncio as aioredis

from collab.pubsub.base import Handler

log = logging.getLogger("collab.pubsub")

PREFIX = "collab:doc:"


class RedisPubSub:
    """A :class:`collab.pubsub.base.PubSub` on Redis."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._redis: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._handler: Handler | None = None
        self._docs: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._redis = aioredis.from_url(self._url, decode_responses=False)
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for t in list(self._pending):
            t.cancel()
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    async def subscribe(self, doc_id: str) -> None:
        self._docs.add(doc_id)
        if self._pubsub is not None:
            try:
                await self._pubsub.subscribe(PREFIX + doc_id)
            except Exception as e:  # the listener resubscribes everything on reconnect
                log.warning("subscribe failed doc=%s: %s", doc_id, e)

    async def unsubscribe(self, doc_id: str) -> None:
        self._docs.discard(doc_id)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(PREFIX + doc_id)

    def publish_nowait(self, doc_id: str, msg: dict[str, Any]) -> None:
        if self._redis is None or self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._publish(doc_id, msg))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, doc_id: str, msg: dict[str, Any]) -> None:
        assert self._redis is not None
        try:
            await self._redis.publish(PREFIX + doc_id, orjson.dumps(msg))
        except Exception as e:
            log.warning("publish failed doc=%s: %s", doc_id, e)

    async def _listen(self) -> None:
        delay = 0.1
        while not self._closed:
            assert self._redis is not None
            try:
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                # A placeholder channel keeps the connection in subscribe mode with no docs.
                await self._pubsub.subscribe(PREFIX + "_", *(PREFIX + d for d in self._docs))
                # Whatever was published while we were away: let every room check the store.
                self._resync()
                delay = 0.1
                async for message in self._pubsub.listen():
                    if message.get("type") != "message":
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
                log.warning("redis connection lost: %s; retrying in %.1fs", e, delay)
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 5.0)

    def _resync(self) -> None:
        if self._handler is None:
            return
        for doc in list(self._docs):
            self._handler(doc, {"resync": True})
