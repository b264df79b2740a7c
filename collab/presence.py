"""Carets and selections of a document's sessions (PROTOCOL §3 Presence).

A selection arrives at the sender's revision; it is transformed to the room's committed
revision before it is stored or forwarded. Each client's updates are forwarded at most once
per ``interval`` (50 ms): the latest wins and is always delivered (trailing edge).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collab.errors import ErrorCode, ProtocolError
from collab.wire import encode
from ot import Selection

if TYPE_CHECKING:
    from collab.room import Room
    from collab.session import Session


@dataclass(slots=True)
class _Peer:
    rev: int
    selection: Selection | None
    last_sent: float = 0.0
    dirty: bool = False
    timer: asyncio.TimerHandle | None = None


class PresenceBoard:
    """Latest selection of every session of one room, and the throttle that forwards them."""

    def __init__(self, room: Room, interval: float) -> None:
        self._room = room
        self._interval = interval
        self._peers: dict[str, _Peer] = {}

    def update(self, session: Session, rev: int, selection: Selection | None) -> None:
        """Take a presence message; raises ProtocolError(bad_rev / bad_message)."""
        room = self._room
        if rev < 0 or rev > room.rev:
            raise ProtocolError(ErrorCode.BAD_REV, f"presence rev {rev} is outside 0..{room.rev}")
        length = room.history.length_at(rev, len(room.text))
        ops = room.history.committed_since(rev)
        if length is None or ops is None:
            # Older than the history kept in memory: the caret cannot be placed without a
            # store read, and the client will send a fresher one with its next move.
            selection = None
            ops = []
        if selection is not None:
            for r in selection.ranges:
                if r.anchor > length or r.head > length:  # type: ignore[operator]
                    raise ProtocolError(ErrorCode.BAD_MESSAGE, "selection outside the document")
            for op in ops:
                selection = selection.transform(op)
        peer = self._peers.get(session.client)
        if peer is None:
            peer = self._peers[session.client] = _Peer(room.rev, selection)
        peer.rev, peer.selection, peer.dirty = room.rev, selection, True
        now = time.monotonic()
        wait = peer.last_sent + self._interval - now
        if wait <= 0:
            self._flush(session.client)
        elif peer.timer is None:
            peer.timer = asyncio.get_running_loop().call_later(wait, self._flush, session.client)

    def _current(self, peer: _Peer) -> tuple[int, Selection | None]:
        """The peer's selection moved to the room's committed revision."""
        room = self._room
        if peer.selection is not None and peer.rev != room.rev:
            ops = room.history.committed_since(peer.rev)
            if ops is None:
                peer.selection = None
            else:
                sel = peer.selection
                for op in ops:
                    sel = sel.transform(op)
                peer.selection = sel
        peer.rev = room.rev
        return peer.rev, peer.selection

    def _flush(self, client: str) -> None:
        peer = self._peers.get(client)
        session = self._room.sessions.get(client)
        if peer is None or session is None:
            return
        peer.timer = None
        if not peer.dirty:
            return
        peer.dirty = False
        peer.last_sent = time.monotonic()
        rev, sel = self._current(peer)
        msg = {
            "type": "presence",
            "client": client,
            "user": session.user,
            "rev": rev,
            "selection": sel.to_json() if sel is not None else None,
        }
        self._room.broadcast(encode(msg), exclude=session)

    def peers(self, exclude: str) -> list[dict[str, Any]]:
        """The ``peers`` list of a welcome."""
        out = []
        for client, s in self._room.sessions.items():
            if client == exclude:
                continue
            peer = self._peers.get(client)
            rev, sel = self._current(peer) if peer is not None else (self._room.rev, None)
            out.append(
                {
                    "client": client,
                    "user": s.user,
                    "rev": rev,
                    "selection": sel.to_json() if sel is not None else None,
                }
            )
        return out

    def forget(self, client: str) -> None:
        peer = self._peers.pop(client, None)
        if peer is not None and peer.timer is not None:
            peer.timer.cancel()

    def close(self) -> None:
        for client in list(self._peers):
            self.forget(client)
