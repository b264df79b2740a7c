"""Parsing and encoding of every message: inbound WebSocket messages are validated here,
in one place, before dispatch (PROTOCOL §3 and §7); every outbound message is built here;
and so are the notices processes exchange over pub/sub.

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
from datetime import datetime
from typing import Any

import orjson

from collab.errors import ErrorCode, ProtocolError
from collab.store.base import OpRecord
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


# -- outbound messages ----------------------------------------------------------------------


def wire_record(rec: OpRecord) -> dict[str, Any]:
    """A committed operation as clients see it (in ``op`` messages and ``welcome.ops``)."""
    return {"rev": rec.rev, "op": rec.op, "client": rec.client, "seq": rec.seq, "user": rec.user}


def ack(seq: int, rev: int) -> str:
    return encode({"type": "ack", "seq": seq, "rev": rev})


def op_message(rec: OpRecord) -> str:
    return encode({"type": "op", **wire_record(rec)})


def welcome(
    doc: str,
    rev: int,
    role: str,
    seq: int,
    peers: list[dict[str, Any]],
    *,
    text: str | None = None,
    ops: list[OpRecord] | None = None,
) -> str:
    """The answer to a hello: ``ops`` after the client's revision, or the whole ``text``."""
    msg: dict[str, Any] = {"type": "welcome", "doc": doc, "rev": rev, "role": role}
    if ops is not None:
        msg["ops"] = [wire_record(r) for r in ops]
    else:
        msg["text"] = text
    msg["seq"] = seq
    msg["peers"] = peers
    return encode(msg)


def join(client: str, user: dict[str, Any]) -> str:
    return encode({"type": "join", "client": client, "user": user})


def leave(client: str) -> str:
    return encode({"type": "leave", "client": client})


def peer_entry(
    client: str, user: dict[str, Any], rev: int, selection: Selection | None
) -> dict[str, Any]:
    """One entry of ``welcome.peers``; a ``presence`` message is the same with its type."""
    sel = selection.to_json() if selection is not None else None
    return {"client": client, "user": user, "rev": rev, "selection": sel}


def presence(client: str, user: dict[str, Any], rev: int, selection: Selection | None) -> str:
    return encode({"type": "presence", **peer_entry(client, user, rev, selection)})


def error(err: ProtocolError) -> str:
    return encode(err.to_message())


# -- pub/sub notices (between processes; PROTOCOL §6) ---------------------------------------


@dataclass(frozen=True, slots=True)
class Committed:
    """Revision ``rev`` was committed; ``records`` come along when the batch was small."""

    rev: int
    records: list[OpRecord] | None = None


@dataclass(frozen=True, slots=True)
class Deleted:
    """The document was deleted; ``created_at`` tells which incarnation (None: unknown)."""

    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Resync:
    """Messages may have been lost (the pub/sub connection came back): look at the store."""


Notice = Committed | Deleted | Resync

SMALL_BATCH_CHARS = 64  # records of a batch travel in the notice up to this many op items


def record_to_json(rec: OpRecord) -> dict[str, Any]:
    """An OpRecord as JSON for pub/sub (all fields, unlike the wire record)."""
    return {**wire_record(rec), "user_id": rec.user_id, "created_at": rec.created_at.isoformat()}


def record_from_json(d: dict[str, Any]) -> OpRecord:
    """Inverse of :func:`record_to_json`; raises KeyError, TypeError or ValueError."""
    rev, client, seq, user_id = d["rev"], d["client"], d["seq"], d["user_id"]
    if type(rev) is not int or not isinstance(d["op"], list) or not isinstance(d["user"], dict):
        raise TypeError("malformed record")
    if (client is not None and type(client) is not str) or (
        seq is not None and type(seq) is not int
    ):
        raise TypeError("malformed record")
    if user_id is not None and type(user_id) is not str:
        raise TypeError("malformed record")
    return OpRecord(
        rev=rev,
        op=list(d["op"]),
        client=client,
        seq=seq,
        user=dict(d["user"]),
        user_id=user_id,
        created_at=datetime.fromisoformat(d["created_at"]),
    )


def encode_notice(notice: Notice) -> dict[str, Any]:
    """A notice as the dict the pub/sub seam carries."""
    if isinstance(notice, Committed):
        msg: dict[str, Any] = {"rev": notice.rev}
        if notice.records is not None:
            msg["records"] = [record_to_json(r) for r in notice.records]
        return msg
    if isinstance(notice, Deleted):
        msg = {"deleted": True}
        if notice.created_at is not None:
            msg["created_at"] = notice.created_at.isoformat()
        return msg
    return {"resync": True}


def committed_notice(records: list[OpRecord]) -> Committed:
    """What to publish after committing ``records``: small batches travel whole, saving
    the other processes a read."""
    small = sum(len(r.op) for r in records) <= SMALL_BATCH_CHARS
    return Committed(records[-1].rev, records if small else None)


def decode_notice(msg: dict[str, Any]) -> Notice | None:
    """A notice from the pub/sub seam; None for a message that is not one. Records that do
    not decode are dropped (the receiver reads the store instead)."""
    if msg.get("deleted"):
        created = msg.get("created_at")
        try:
            at = datetime.fromisoformat(created) if isinstance(created, str) else None
        except ValueError:
            at = None
        return Deleted(at)
    if msg.get("resync"):
        return Resync()
    rev = msg.get("rev")
    if type(rev) is not int:
        return None
    raw = msg.get("records")
    records = None
    if isinstance(raw, list):
        try:
            records = [record_from_json(r) for r in raw]
        except (KeyError, TypeError, ValueError, AttributeError):
            records = None
    return Committed(rev, records)
