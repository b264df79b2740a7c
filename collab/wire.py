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


def validate_user(user: Any) -> dict[str, Any]:
    """The public user object of a hello: ``name`` (<= 64 chars) and ``color`` (#rrggbb)."""
    if user is None:
        return {}
    if type(user) is not dict:
        raise _bad("'user' must be an object")
    out: dict[str, Any] = {}
    name = user.get("name")
    if name is not None:
        if type(name) is not str or len(name) > 64:
            raise _bad("'user.name' must be a string of at most 64 characters")
        out["name"] = name
    color = user.get("color")
    if color is not None:
        if type(color) is not str or COLOR.fullmatch(color) is None:
            raise _bad("'user.color' must be #rrggbb")
        out["color"] = color
    return out


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
    rev = _int_field(msg, "rev")
    seq = _int_field(msg, "seq")
    if seq < 1:
        raise _bad("'seq' must be an integer >= 1")
    if "op" not in msg:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "'op' is missing", seq)
    try:
        op = TextOperation.from_json(msg["op"])
    except InvalidOperation as e:
        raise ProtocolError(ErrorCode.BAD_OP, str(e), seq) from None
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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(raw: str | bytes) -> Message:
    """Validate one text frame. Raises ProtocolError (bad_message / bad_op)."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogate escapes outright; the standard parser reads them so
        # that an operation carrying one is answered as bad_op with its seq (PROTOCOL §7).
        try:
            msg = json.loads(raw, parse_constant=_no_constant)
        except ValueError:
            raise _bad("not valid JSON") from None
    if type(msg) is not dict:
        raise _bad("a message is a JSON object")
    kind = msg.get("type")
    parser = _PARSERS.get(kind) if type(kind) is str else None
    if parser is None:
        raise _bad(f"unknown message type {kind!r}"[:200])
    return parser(msg)


def encode(msg: dict[str, Any]) -> str:
    """One outbound message as JSON text."""
    return orjson.dumps(msg).decode()


PONG = encode({"type": "pong"})
