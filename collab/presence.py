"""Carets and selections of a document's peers (PROTOCOL §3 Presence).

A selection arrives at the sender's revision; it is transformed to the document's committed
revision before it is stored or forwarded. Each client's updates are forwarded at most once
per ``interval`` (50 ms): the latest wins and is always delivered (trailing edge).

The board knows the document through a callable (the room replaces its document when it
reloads) and the peers through the room's mapping of client id to :class:`~collab.peer.Peer`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from collab import wire
from collab.document import Document
from collab.errors import ErrorCode, ProtocolError
from collab.peer import Peer
from ot import Selection


@dataclass(slots=True)
class _Caret:
    rev: int
    selection: Selection | None
    last_sent: float = 0.0
    dirty: bool = False
    timer: asyncio.TimerHandle | None = None


class PresenceBoard:
    """Latest selection of every peer of one document, and the throttle that forwards them."""

    def __init__(
        self,
        document: Callable[[], Document],
        peers: Mapping[str, Peer],
        broadcast: Callable[[str, Peer | None], None],
        interval: float,
    ) -> None:
        self._document = document
        self._peers = peers
        self._broadcast = broadcast
        self._interval = interval
        self._carets: dict[str, _Caret] = {}

    def update(self, peer: Peer, rev: int, selection: Selection | None) -> None:
        """Take a presence message; raises ProtocolError(bad_rev / bad_message)."""
        doc = self._document()
        if rev < 0 or rev > doc.rev:
            raise ProtocolError(ErrorCode.BAD_REV, f"presence rev {rev} is outside 0..{doc.rev}")
        length = doc.length_at(rev)
        ops = doc.committed_since(rev)
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
        caret = self._carets.get(peer.client)
        if caret is None:
            caret = self._carets[peer.client] = _Caret(doc.rev, selection)
        caret.rev, caret.selection, caret.dirty = doc.rev, selection, True
        now = time.monotonic()
        wait = caret.last_sent + self._interval - now
        if wait <= 0:
            self._flush(peer.client)
        elif caret.timer is None:
            caret.timer = asyncio.get_running_loop().call_later(wait, self._flush, peer.client)

    def _current(self, caret: _Caret) -> tuple[int, Selection | None]:
        """The caret moved to the document's committed revision."""
        doc = self._document()
        if caret.selection is not None and caret.rev != doc.rev:
            ops = doc.committed_since(caret.rev)
            if ops is None:
                caret.selection = None
            else:
                sel = caret.selection
                for op in ops:
                    sel = sel.transform(op)
                caret.selection = sel
        caret.rev = doc.rev
        return caret.rev, caret.selection

    def _flush(self, client: str) -> None:
        caret = self._carets.get(client)
        peer = self._peers.get(client)
        if caret is None or peer is None:
            return
        caret.timer = None
        if not caret.dirty:
            return
        caret.dirty = False
        caret.last_sent = time.monotonic()
        rev, sel = self._current(caret)
        self._broadcast(wire.presence(client, peer.user, rev, sel), peer)

    def peers(self, exclude: str) -> list[dict[str, Any]]:
        """The ``peers`` list of a welcome."""
        out = []
        for client, peer in self._peers.items():
            if client == exclude:
                continue
            caret = self._carets.get(client)
            rev, sel = self._current(caret) if caret is not None else (self._document().rev, None)
            out.append(wire.peer_entry(client, peer.user, rev, sel))
        return out

    def drop_stale(self) -> None:
        """The document was replaced (reloaded): carets it cannot place are dropped."""
        doc = self._document()
        for caret in self._carets.values():
            if caret.rev > doc.rev or doc.committed_since(caret.rev) is None:
                caret.selection = None
                caret.rev = doc.rev

    def forget(self, client: str) -> None:
        caret = self._carets.pop(client, None)
        if caret is not None and caret.timer is not None:
            caret.timer.cancel()

    def close(self) -> None:
        for client in list(self._carets):
            self.forget(client)
