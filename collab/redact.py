"""Keeping tokens out of the server's logs (PROTOCOL §5), in time linear in the line.

uvicorn logs each handshake's path and query, and a client chooses those: the patterns
below never let one character be scanned from more than one starting point (no two
overlapping repetitions), and lines are cut to :data:`MAX_LOGGED` characters first.
"""

from __future__ import annotations

import logging
import re

MAX_LOGGED = 2048  # characters of one logged value; the rest is counted, not copied

# A bearer credential; a query parameter whose name contains "token" (the name is matched
# as one run of characters that cannot start another parameter, so each character is read
# once); anything shaped like a JWT.
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_PARAM = re.compile(r"([?&])([^=&?#\s]*)=([^&#\s\"]*)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){0,2}")


def _param(m: re.Match[str]) -> str:
    if "token" in m.group(2).lower():
        return f"{m.group(1)}{m.group(2)}=[redacted]"
    return m.group(0)


def redact_text(value: str) -> str:
    """``value`` with credentials replaced by ``[redacted]``, cut to MAX_LOGGED characters."""
    if len(value) > MAX_LOGGED:
        value = f"{value[:MAX_LOGGED]}...[{len(value) - MAX_LOGGED} more characters]"
    value = _BEARER.sub(r"\1[redacted]", value)
    value = _PARAM.sub(_param, value)
    return _JWT.sub("[redacted]", value)


def redact(value: object) -> object:
    if isinstance(value, str):
        return redact_text(value)
    kind = getattr(getattr(value, "opcode", None), "name", None)
    data = getattr(value, "data", None)
    if kind in ("TEXT", "BINARY", "CONT") and isinstance(data, bytes | bytearray | memoryview):
        # A WebSocket data frame: its payload may be a hello (with a token) or document text.
        return f"{kind} [{len(data)} bytes]"
    return value


class RedactTokens(logging.Filter):
    """Keeps tokens out of uvicorn's logs. At DEBUG (``--log-level debug``) its WebSocket
    protocol traces every handshake header, ``Authorization`` included, and every frame, a
    hello's token included; its access log (``--access-log``) has URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        args = record.args
        if isinstance(args, tuple) and args:
            if len(args) == 2 and str(args[0]).lower() == "authorization":
                record.args = (args[0], "[redacted]")
            else:
                record.args = tuple(redact(a) for a in args)
        return True


def redact_server_logs() -> None:
    for name in ("uvicorn.error", "uvicorn.access", "websockets.server"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
