"""The open documents of this process: load on first use, unload after a grace period."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from collab.errors import Close
from collab.metrics import Metrics
from collab.pubsub.base import PubSub
from collab.room import Remote, Room, record_from_json
from collab.settings import Settings
from collab.store.base import DocumentExists, Store

log = logging.getLogger("collab.registry")


class Rooms:
    """Map of document id to :class:`Room`; memory does not grow with documents ever opened."""

    def __init__(self, store: Store, pubsub: PubSub, settings: Settings, metrics: Metrics) -> None:
        self.store = store
        self.pubsub = pubsub
        self.settings = settings
        self.metrics = metrics
        self._rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Future[Room | None]] = {}
        self._unload_timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closing = False

    def __len__(self) -> int:
        return len(self._rooms)

    def get(self, doc_id: str) -> Room | None:
        return self._rooms.get(doc_id)

    def all(self) -> list[Room]:
        return list(self._rooms.values())

    async def acquire(self, doc_id: str, create: bool) -> Room | None:
        """The open room of ``doc_id``, loading it (and creating the document if ``create``)."""
        timer = self._unload_timers.pop(doc_id, None)
        if timer is not None:
            timer.cancel()
        room = self._rooms.get(doc_id)
        if room is not None:
            return room
        pending = self._loading.get(doc_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._loading[doc_id] = pending
            try:
                pending.set_result(await self._load(doc_id, create))
            except BaseException as e:
                pending.set_exception(e)
                raise
            finally:
                del self._loading[doc_id]
            return pending.result()
        room = await asyncio.shield(pending)
        if room is None and create:
            return await self.acquire(doc_id, create)
        return room

    async def _load(self, doc_id: str, create: bool) -> Room | None:
        # Subscribe before reading, so nothing committed elsewhere in between is missed.
        await self.pubsub.subscribe(doc_id)
        room = Room(doc_id, self.store, self.pubsub, self.settings, self.metrics, self._on_empty)
        if not await room.load():
            if not create:
                await self.pubsub.unsubscribe(doc_id)
                return None
            with contextlib.suppress(DocumentExists):
                await self.store.create_document(doc_id)
            if not await room.load():  # pragma: no cover - deleted in between
                return None
        room.start()
        self._rooms[doc_id] = room
        self.metrics.documents_open = len(self._rooms)
        return room

    def _on_empty(self, room: Room) -> None:
        if self.closing or room.closed or room.doc_id in self._unload_timers:
            return
        loop = asyncio.get_running_loop()
        self._unload_timers[room.doc_id] = loop.call_later(
            self.settings.unload_grace, self._spawn_unload, room
        )

    def release(self, room: Room) -> None:
        """Called by users of a room that hold no session (HTTP requests)."""
        if not room.sessions:
            self._on_empty(room)

    def _spawn_unload(self, room: Room) -> None:
        self._unload_timers.pop(room.doc_id, None)
        task = asyncio.get_running_loop().create_task(self._unload(room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _unload(self, room: Room) -> None:
        if not room.idle() or self._rooms.get(room.doc_id) is not room:
            return
        del self._rooms[room.doc_id]
        self.metrics.documents_open = len(self._rooms)
        await room.stop()
        if room.doc_id not in self._rooms:
            await self.pubsub.unsubscribe(room.doc_id)
        log.info("unloaded doc=%s", room.doc_id)

    async def delete(self, doc_id: str) -> bool:
        """Delete a document; its live sessions are closed with 4410."""
        room = self._rooms.pop(doc_id, None)
        timer = self._unload_timers.pop(doc_id, None)
        if timer is not None:
            timer.cancel()
        if room is not None:
            self.metrics.documents_open = len(self._rooms)
            await room.stop(Close.DELETED)
        deleted = await self.store.delete_document(doc_id)
        self.pubsub.publish_nowait(doc_id, {"deleted": True})
        return deleted

    def on_message(self, doc_id: str, msg: dict[str, Any]) -> None:
        """A pub/sub message about ``doc_id`` (from any process, this one included)."""
        room = self._rooms.get(doc_id)
        if room is None or room.closed:
            return
        if msg.get("deleted"):
            task = asyncio.get_running_loop().create_task(self._remote_delete(doc_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if msg.get("resync"):
            room.queue.put_nowait(Remote(None))
            return
        rev = msg.get("rev")
        if type(rev) is not int or rev <= room.rev:
            return
        records = None
        raw = msg.get("records")
        if isinstance(raw, list):
            try:
                records = [record_from_json(r) for r in raw]
            except (KeyError, TypeError, ValueError):
                log.warning("malformed pub/sub records for doc=%s", doc_id)
        room.queue.put_nowait(Remote(rev, records))

    async def _remote_delete(self, doc_id: str) -> None:
        if await self.store.get_document(doc_id) is None:
            room = self._rooms.pop(doc_id, None)
            if room is not None:
                await room.stop(Close.DELETED)

    async def close_all(self) -> None:
        """Shutdown: finish commits in flight, close every session with 1001."""
        self.closing = True
        for timer in self._unload_timers.values():
            timer.cancel()
        self._unload_timers.clear()
        rooms = list(self._rooms.values())
        self._rooms.clear()
        await asyncio.gather(*(r.stop(Close.GOING_AWAY) for r in rooms), return_exceptions=True)
