"""The open documents of this process: load on first use, unload after a grace period.

A document's life in one process runs load -> open -> retire (unload, delete, or found gone),
and the next load of the same id waits until the previous retire is over, so that a
subscription taken by a load is never undone by the unsubscribe of a retire in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from collab import wire
from collab.errors import Close
from collab.metrics import Metrics
from collab.pubsub.base import PubSub
from collab.room import Room
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
        self._retiring: dict[str, asyncio.Future[None]] = {}
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
        retiring = self._retiring.get(doc_id)
        if retiring is not None:
            # The previous room of this document is still being unloaded: load after it.
            await asyncio.shield(retiring)
            return await self.acquire(doc_id, create)
        pending = self._loading.get(doc_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._loading[doc_id] = pending
            try:
                pending.set_result(await self._load(doc_id, create))
            except BaseException as e:
                pending.set_exception(e)
                # Nobody else may be waiting: retrieve it so asyncio does not complain.
                pending.exception()
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
        try:
            room = Room(
                doc_id,
                self.store,
                self.pubsub,
                self.settings,
                self.metrics,
                self._on_empty,
                self._on_gone,
            )
            if not await room.load():
                if not create:
                    await self.pubsub.unsubscribe(doc_id)
                    return None
                with contextlib.suppress(DocumentExists):
                    await self.store.create_document(doc_id)
                if not await room.load():  # pragma: no cover - deleted in between
                    await self.pubsub.unsubscribe(doc_id)
                    return None
        except BaseException:
            with contextlib.suppress(Exception):
                await self.pubsub.unsubscribe(doc_id)
            raise
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

    def _spawn_unload(self, room: Room) -> None:
        self._unload_timers.pop(room.doc_id, None)
        self._spawn(self._unload(room))

    def _on_gone(self, room: Room) -> None:
        """The room found its document deleted or re-created under it."""
        if self._rooms.get(room.doc_id) is room:
            self._spawn(self._retire(room, Close.DELETED))

    def release(self, room: Room) -> None:
        """Called by users of a room that hold no session (HTTP requests)."""
        if not room.sessions:
            self._on_empty(room)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _unload(self, room: Room) -> None:
        if room.idle() and self._rooms.get(room.doc_id) is room:
            await self._retire(room, None)
            log.info("unloaded doc=%s", room.doc_id)

    async def _retire(self, room: Room, code: Close | None) -> None:
        """Take ``room`` out of service: stop it, then drop its subscription. A load of the
        same document waits for this to finish."""
        doc_id = room.doc_id
        if self._rooms.get(doc_id) is not room:
            return
        del self._rooms[doc_id]
        self.metrics.documents_open = len(self._rooms)
        done = asyncio.get_running_loop().create_future()
        self._retiring[doc_id] = done
        try:
            await room.stop(code)
        finally:
            with contextlib.suppress(Exception):
                await self.pubsub.unsubscribe(doc_id)
            del self._retiring[doc_id]
            done.set_result(None)

    async def delete(self, doc_id: str) -> bool:
        """Delete a document; its live sessions are closed with 4410."""
        timer = self._unload_timers.pop(doc_id, None)
        if timer is not None:
            timer.cancel()
        room = self._rooms.get(doc_id)
        created = room.created_at if room is not None else None
        if created is None:
            info = await self.store.get_document(doc_id)
            created = info.created_at if info is not None else None
        if room is not None:
            await self._retire(room, Close.DELETED)
        deleted = await self.store.delete_document(doc_id)
        self.pubsub.publish_nowait(doc_id, wire.encode_notice(wire.Deleted(created)))
        return deleted

    def on_message(self, doc_id: str, msg: dict[str, Any]) -> None:
        """A pub/sub message about ``doc_id`` (from any process, this one included)."""
        room = self._rooms.get(doc_id)
        if room is None or room.closed:
            return
        notice = wire.decode_notice(msg)
        if notice is None:
            log.warning("malformed pub/sub message for doc=%s", doc_id)
        elif isinstance(notice, wire.Deleted):
            self._spawn(self._remote_delete(room, notice.created_at))
        else:
            room.notify(notice)

    async def _remote_delete(self, room: Room, created_at: datetime | None) -> None:
        """Another process deleted the document. The room goes if it holds the deleted
        incarnation, or if the store no longer holds the room's (a notice without a date)."""
        if created_at is None or created_at != room.created_at:
            info = await self.store.get_document(room.doc_id)
            if info is not None and info.created_at == room.created_at:
                return  # this room holds the document that exists now
        await self._retire(room, Close.DELETED)

    async def close_all(self) -> None:
        """Shutdown: finish commits in flight, close every session with 1001."""
        self.closing = True
        for timer in self._unload_timers.values():
            timer.cancel()
        self._unload_timers.clear()
        rooms = list(self._rooms.values())
        self._rooms.clear()
        await asyncio.gather(*(r.stop(Close.GOING_AWAY) for r in rooms), return_exceptions=True)
