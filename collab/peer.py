"""What a room needs of a connection: the :class:`Peer` protocol.

The room and the presence board talk to connections only through it, never to the
WebSocket session itself, so that they can be driven in tests by plain objects.
"""

from __future__ import annotations

from typing import Any, Protocol

from collab.errors import Close, ProtocolError


class Peer(Protocol):
    """One connection to a document, as the room sees it."""

    client: str
    user: dict[str, Any]
    user_id: str | None
    role: str

    def send(self, text: str) -> None:
        """Queue one encoded message; never blocks (a slow reader is cut off instead)."""

    def send_error(self, err: ProtocolError) -> None:
        """Answer with an ``error`` message."""

    def close(self, code: Close, reason: str = "") -> None:
        """End the connection with ``code`` after what is queued."""
