"""Parsing and encoding of WebSocket messages: every inbound message is validated here,
in one place, before dispatch (PROTOCOL §3 and §7).

The parser is hand-written rather than a pydantic model: it runs once per keystroke of every
user, and a direct check of a small dict is several times cheaper while applying the same
rules. Each message type has its own dataclass; :func:`parse` returns one of them or raises
:class:`ProtocolError` with ``bad_message``.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from collab.errors import ErrorCode, ProtocolError
from ot import InvalidOperation, Selection, TextOperation

CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
DOC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True, slots=True)
class Hello:
    client: str
    token: str | None
    user: dict[str, Any]
    rev: int | None


@dataclass(frozen=True, slots=True)
class OpMessage:
    rev: int
    seq: int
    op: TextOperation


@dataclass(frozen=True, slots=True)
class PresenceMessage:
    rev: int
    selection: Selection | None


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Message = Hello | OpMessage | PresenceMessage | Ping


def _bad(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_MESSAGE, message)


def _int_field(msg: dict[str, Any], name: str) -> int:
    v = msg.get(name)
    if type(v) is not int:
        raise _bad(f"'{name}' must be an integer")
    return v


MAX_USER_BYTES = 1024
MAX_SEQ = 2**63 - 1


def validate_user(user: Any) -> dict[str, Any]:
    """The public user object of a hello, forwarded as given once valid: ``name`` (at most
    64 characters), ``color`` (``#rrggbb``), other fields as long as the whole object
    encodes to at most 1 KiB of UTF-8 JSON."""
    if user is None:
        return {}
    if type(user) is not dict:
        raise _bad("'user' must be an object")
    name = user.get("name")
    if name is not None and (type(name) is not str or len(name) > 64):
        raise _bad("'user.name' must be a string of at most 64 characters")
    color = user.get("color")
    if color is not None and (type(color) is not str or COLOR.fullmatch(color) is None):
        raise _bad("'user.color' must be #rrggbb")
    try:
        encoded = orjson.dumps(user)  # refuses lone surrogates anywhere in the object
    except TypeError:
        raise _bad("'user' must be valid Unicode JSON") from None
    if len(encoded) > MAX_USER_BYTES:
        raise _bad(f"'user' must encode to at most {MAX_USER_BYTES} bytes")
    return dict(user)


def _hello(msg: dict[str, Any]) -> Hello:
    if msg.get("protocol") != 1 or type(msg.get("protocol")) is not int:
        raise _bad("'protocol' must be 1")
    client = msg.get("client")
    if type(client) is not str or CLIENT_ID.fullmatch(client) is None:
        raise _bad("'client' must be 1-64 characters of [A-Za-z0-9_-]")
    token = msg.get("token")
    if token is not None and type(token) is not str:
        raise _bad("'token' must be a string or null")
    rev = msg.get("rev")
    if rev is not None and type(rev) is not int:
        raise _bad("'rev' must be an integer")
    return Hello(client, token, validate_user(msg.get("user")), rev)


def _op(msg: dict[str, Any]) -> OpMessage:
    # The seq first: every later error is about this operation and carries it (PROTOCOL §3).
    seq = _int_field(msg, "seq")
    if seq < 1 or seq > MAX_SEQ:
        # Not echoed: an error carries its seq, and JSON encoders stop at 64 bits.
        raise _bad("'seq' must be an integer from 1 to 2**63 - 1")
    rev = msg.get("rev")
    if type(rev) is not int:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "'rev' must be an integer", seq)
    if type(msg.get("op")) is not list:
        # A missing or non-array field is an ill-typed message; bad_op is for components.
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "'op' must be an array", seq)
    try:
        op = TextOperation.from_json(msg["op"])
    except InvalidOperation as e:
        raise ProtocolError(ErrorCode.BAD_OP, str(e), seq) from None
    except RecursionError:
        # A component nested so deep that quoting it in the error message recursed too far.
        raise ProtocolError(ErrorCode.BAD_OP, "a component is nested too deeply", seq) from None
    return OpMessage(rev, seq, op)


def _presence(msg: dict[str, Any]) -> PresenceMessage:
    rev = _int_field(msg, "rev")
    if "selection" not in msg:
        raise _bad("'selection' is missing")
    raw = msg["selection"]
    if raw is None:
        return PresenceMessage(rev, None)
    try:
        sel = Selection.from_json(raw)
    except InvalidOperation as e:
        raise _bad(f"'selection': {e}") from None
    except RecursionError:  # quoting a deeply nested range in the message
        raise _bad("'selection' is nested too deeply") from None
    if len(sel.ranges) > 100:
        raise _bad("'selection' has more than 100 ranges")
    return PresenceMessage(rev, sel)


def _ping(msg: dict[str, Any]) -> Ping:
    return Ping()


_PARSERS: dict[str, Callable[[dict[str, Any]], Message]] = {
    "hello": _hello,
    "op": _op,
    "presence": _presence,
    "ping": _ping,
}


def parse(raw: str | bytes) -> Message:
    """Validate one text frame. Raises ProtocolError (bad_message / bad_op)."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogate escapes outright; the standard parser reads them so
        # that an operation carrying one is answered as bad_op with its seq (PROTOCOL §7).
        # NaN and Infinity parse to floats here, which the field checks then reject (an
        # operation component as bad_op, like any other float).
        try:
            msg = json.loads(raw)
        except ValueError:
            raise _bad("not valid JSON") from None
        except RecursionError:  # nesting deeper than both parsers go
            raise _bad("nested too deeply") from None
    if type(msg) is not dict:
        raise _bad("a message is a JSON object")
    kind = msg.get("type")
    parser = _PARSERS.get(kind) if type(kind) is str else None
    if parser is None:
        raise _bad(f"unknown message type {reprlib.repr(kind)}"[:200])  # bounded, even if nested
    return parser(msg)


def encode(msg: dict[str, Any]) -> str:
    """One outbound message as JSON text."""
    return orjson.dumps(msg).decode()


PONG = encode({"type": "pong"})
