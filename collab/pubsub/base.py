"""The pub/sub seam: how a process learns that another one committed to a document.

Messages are small dicts (``{"rev": N}``: the document's latest committed revision). Delivery
is at most once and may be lost: a room that hears of revision N reads whatever it lacks
from the store, so a lost message only delays. :class:`collab.pubsub.memory.MemoryPubSub`
serves one process (and tests); :class:`collab.pubsub.redis.RedisPubSub` several.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

Handler = Callable[[str, dict[str, Any]], None]


@runtime_checkable
class PubSub(Protocol):
    async def start(self, handler: Handler) -> None:
        """Begin delivering messages of subscribed documents to ``handler(doc_id, msg)``."""

    async def close(self) -> None:
        """Stop; idempotent."""

    async def subscribe(self, doc_id: str) -> None:
        """Receive messages for ``doc_id`` (returns once the subscription is active)."""

    async def unsubscribe(self, doc_id: str) -> None:
        """Stop receiving messages for ``doc_id``."""

    def publish_nowait(self, doc_id: str, msg: dict[str, Any]) -> None:
        """Publish in the background; failures are logged, never raised."""


OnReconnect = Callable[[], Awaitable[None]]
