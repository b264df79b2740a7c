"""The client side of the protocol as a sans-I/O state machine.

Three states, as in ot.js's ``client.js``::

    Synchronized ──local──▶ AwaitingConfirm ──local──▶ AwaitingWithBuffer
         ▲                       │    ▲                     │  │
         └──────────ack──────────┘    └────────ack──────────┘  └─local: buffer ∘= op

Every transition is a pure function ``(state, event) -> (next_state, effects)``; effects are
values (:class:`Send`, :class:`Apply`, :class:`Resync`, :class:`Reset`) that the caller
carries out, so the machine is tested without sockets.

A remote operation ``b`` arriving while ``a`` (outstanding) and ``c`` (buffer) are pending
walks the transform diamond, with the pending side as ``a`` exactly as the server does::

        a          c
     ●────▶●─────▶●               a' , b'  = transform(a, b)
     │     │      │               c' , b'' = transform(c, b')
    b│   b'│   b''│  (apply b'' to the editor)
     ▼     ▼      ▼
     ●────▶●─────▶●
        a'    c'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ot.algebra import compose, transform
from ot.operation import TextOperation

# -- states -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Synchronized:
    """Nothing unacknowledged. ``rev`` is the revision the editor shows."""

    rev: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class AwaitingConfirm:
    """``outstanding`` (seq ``last_seq``) is sent and not yet acknowledged."""

    rev: int
    last_seq: int
    outstanding: TextOperation


@dataclass(frozen=True, slots=True)
class AwaitingWithBuffer:
    """As AwaitingConfirm, plus ``buffer``: local edits made since, not yet sent."""

    rev: int
    last_seq: int
    outstanding: TextOperation
    buffer: TextOperation


State = Synchronized | AwaitingConfirm | AwaitingWithBuffer

# -- effects ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``{"type": "op", "rev": rev, "seq": seq, "op": op}``."""

    rev: int
    seq: int
    op: TextOperation


@dataclass(frozen=True, slots=True)
class Apply:
    """Apply a remote operation (already transformed) to the local text."""

    op: TextOperation


@dataclass(frozen=True, slots=True)
class Resync:
    """The stream has a gap: reconnect with ``hello.rev = rev``."""

    rev: int


@dataclass(frozen=True, slots=True)
class Reset:
    """The server sent the full text (no usable revision): replace the local text.

    ``lost`` holds local work that could not be carried over (it was made against a text
    the server no longer has), or None.
    """

    text: str
    rev: int
    lost: TextOperation | None


Effect = Send | Apply | Resync | Reset
Step = tuple[State, list[Effect]]


def initial(rev: int = 0, last_seq: int = 0) -> State:
    """The state of a client that has just loaded revision ``rev``."""
    return Synchronized(rev, last_seq)


def pending(state: State) -> TextOperation | None:
    """Everything unacknowledged, composed (outstanding then buffer), or None."""
    if isinstance(state, AwaitingWithBuffer):
        return compose(state.outstanding, state.buffer)
    if isinstance(state, AwaitingConfirm):
        return state.outstanding
    return None


def apply_client(state: State, op: TextOperation) -> Step:
    """The user edited the local text with ``op``."""
    if isinstance(state, Synchronized):
        seq = state.last_seq + 1
        return AwaitingConfirm(state.rev, seq, op), [Send(state.rev, seq, op)]
    if isinstance(state, AwaitingConfirm):
        return AwaitingWithBuffer(state.rev, state.last_seq, state.outstanding, op), []
    return replace(state, buffer=compose(state.buffer, op)), []


def apply_server(state: State, rev: int, op: TextOperation) -> Step:
    """Another client's operation arrived as revision ``rev``."""
    if rev != state.rev + 1:
        return state, [Resync(state.rev)]
    if isinstance(state, Synchronized):
        return Synchronized(rev, state.last_seq), [Apply(op)]
    if isinstance(state, AwaitingConfirm):
        outstanding, op2 = transform(state.outstanding, op)
        return AwaitingConfirm(rev, state.last_seq, outstanding), [Apply(op2)]
    outstanding, op1 = transform(state.outstanding, op)
    buffer, op2 = transform(state.buffer, op1)
    return AwaitingWithBuffer(rev, state.last_seq, outstanding, buffer), [Apply(op2)]


def server_ack(state: State, seq: int, rev: int) -> Step:
    """The server acknowledged our operation ``seq`` as revision ``rev``."""
    if isinstance(state, Synchronized) or seq != state.last_seq:
        # An ack for nothing we are waiting for (a duplicate resend answered twice).
        return state, []
    if rev != state.rev + 1:
        return state, [Resync(state.rev)]
    if isinstance(state, AwaitingConfirm):
        return Synchronized(rev, seq), []
    nseq = seq + 1
    return AwaitingConfirm(rev, nseq, state.buffer), [Send(rev, nseq, state.buffer)]


def catch_up(state: State, client: str, records: Iterable[dict[str, Any]]) -> Step:
    """Replay a welcome's catch-up list after reconnecting, then resend what is pending.

    A record carrying our own ``client`` id and the outstanding ``seq`` is our operation,
    committed before the connection dropped: it is taken as its acknowledgement. What is
    still unacknowledged afterwards is resent with the same seq (the server deduplicates).
    """
    effects: list[Effect] = []
    for rec in records:
        rev = rec["rev"]
        if (
            rec.get("client") == client
            and not isinstance(state, Synchronized)
            and rec.get("seq") == state.last_seq
        ):
            state, more = server_ack(state, rec["seq"], rev)
        else:
            state, more = apply_server(state, rev, TextOperation.from_json(rec["op"]))
        effects.extend(more)
        if any(isinstance(e, Resync) for e in more):
            return state, effects
    effects = [e for e in effects if not isinstance(e, Send)]
    return state, effects + resend(state)


def resend(state: State) -> list[Effect]:
    """What to send after (re)connecting: the outstanding operation with its own seq."""
    if isinstance(state, Synchronized):
        return []
    return [Send(state.rev, state.last_seq, state.outstanding)]


def welcome(state: State, client: str, msg: dict[str, Any]) -> Step:
    """Handle a ``welcome`` message on a (re)connection."""
    server_seq = int(msg.get("seq", 0))
    if "ops" in msg:
        state, effects = catch_up(state, client, msg["ops"])
        if isinstance(state, Synchronized) and server_seq > state.last_seq:
            state = Synchronized(state.rev, server_seq)
        return state, effects
    # Full text: the server could not serve our revision.
    lost: TextOperation | None = None
    last_seq = max(server_seq, state.last_seq)
    if not isinstance(state, Synchronized):
        committed = server_seq >= state.last_seq
        if isinstance(state, AwaitingWithBuffer):
            lost = state.buffer if committed else compose(state.outstanding, state.buffer)
        elif not committed:
            lost = state.outstanding
    rev = int(msg["rev"])
    return Synchronized(rev, last_seq), [Reset(str(msg["text"]), rev, lost)]
