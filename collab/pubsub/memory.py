"""In-process pub/sub: the default with one process, and a stand-in for Redis in tests.

Several :class:`MemoryPubSub` objects made from one :class:`MemoryBroker` behave like
several processes on one Redis: each receives what the others publish on the documents it
subscribed to (its own messages too, as with Redis).
"""

from __future__ import annotations

import asyncio
from typing import Any

from collab.pubsub.base import Handler


class MemoryBroker:
    """What several in-process pub/subs share."""

    def __init__(self) -> None:
        self.members: set[MemoryPubSub] = set()


class MemoryPubSub:
    """A :class:`collab.pubsub.base.PubSub` within one process."""

    def __init__(self, broker: MemoryBroker | None = None) -> None:
        self._broker = broker or MemoryBroker()
        self._handler: Handler | None = None
        self._docs: set[str] = set()

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        self._broker.members.add(self)

    async def close(self) -> None:
        self._broker.members.discard(self)
        self._handler = None

    async def subscribe(self, doc_id: str) -> None:
        self._docs.add(doc_id)

    async def unsubscribe(self, doc_id: str) -> None:
        self._docs.discard(doc_id)

    def publish_nowait(self, doc_id: str, msg: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        for member in list(self._broker.members):
            if doc_id in member._docs and member._handler is not None:
                loop.call_soon(member._handler, doc_id, dict(msg))
