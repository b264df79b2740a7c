"""Error codes and close codes of the wire protocol, in one table (PROTOCOL §3).

Who is at fault decides the group:

* the client sent something wrong: ``bad_message``, ``bad_op``, ``bad_rev``, ``bad_seq``,
  ``too_large`` — answered with an ``error`` message, the connection stays open;
* the client may not do that: ``forbidden``, ``rate_limited``;
* the connection must end: a :class:`Close` code.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    """Codes of recoverable ``error`` messages."""

    BAD_MESSAGE = "bad_message"  # not JSON, not an object, unknown type, missing/ill-typed field
    BAD_OP = "bad_op"  # malformed components, or base length does not match the doc at rev
    BAD_REV = "bad_rev"  # rev ahead of the server or behind what it keeps
    BAD_SEQ = "bad_seq"  # a seq that skips ahead
    FORBIDDEN = "forbidden"  # a view role sent an op
    TOO_LARGE = "too_large"  # over a size limit (document length)
    RATE_LIMITED = "rate_limited"  # over the per-connection budget


class Close(IntEnum):
    """WebSocket close codes."""

    NORMAL = 1000  # the client left
    GOING_AWAY = 1001  # server shutting down
    UNSUPPORTED = 1003  # binary frame
    TOO_BIG = 1009  # frame over the size limit
    SERVER_FAULT = 1011  # a bug or a store failure
    TRY_LATER = 1013  # outgoing queue over its bound: the client does not read
    BAD_HELLO = 4400  # bad hello or bad document id
    UNAUTHORIZED = 4401  # no or invalid token
    NO_ACCESS = 4403  # token does not grant this document
    REPLACED = 4409  # replaced by a newer connection of the same client id
    DELETED = 4410  # document deleted
    HELLO_TIMEOUT = 4408  # no hello in time
    ABUSE = 4429  # too many errors or messages


class ProtocolError(Exception):
    """A recoverable client error, answered with ``{"type": "error", ...}``."""

    def __init__(self, code: ErrorCode, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.seq = seq

    def to_message(self) -> dict[str, object]:
        msg: dict[str, object] = {"type": "error", "code": str(self.code), "message": self.message}
        if self.seq is not None:
            msg["seq"] = self.seq
        return msg


class SessionClosed(Exception):
    """The connection must close with ``code``."""

    def __init__(self, code: Close, reason: str = "") -> None:
        super().__init__(reason or code.name)
        self.code = code
        self.reason = reason
