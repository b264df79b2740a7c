"""Hypothesis fuzzing of a live server (docs/security.md, "Hostile or broken input"): one raw
client sends generated garbage while a well-behaved :class:`collab.client.CollabClient`
edits the same document, and nothing the garbage does may reach the well-behaved client or
the document.

What is generated: arbitrary JSON values; objects whose ``type`` is valid or not with
random fields; operations with malformed components (booleans, floats, NaN, huge integers,
``0``, ``""``, lone surrogates, U+0000, nested lists); integers at the edges (``±2**63``,
``2**53 + 1``, thousands of digits); nesting thousands of levels deep; frames just under and
just over the size limit; text that is not JSON; binary frames; malformed hellos on fresh
connections; and *near-valid* operations whose base length is off by at most one from the
live document's (so some are valid and commit: the audit accounts for them).

Checked after every example (so that Hypothesis shrinks a failure to its input): the
fuzzing client only ever receives documented message types and error codes, and is only
closed with documented close codes (1003, 1009, 4400, 4429; never 1011); the server logs no
error. Checked at the end: every operation of the well-behaved client was acknowledged and
committed exactly once; the revisions are contiguous and their replay is the text the server
serves and the well-behaved client holds; every operation in the history comes from the
well-behaved client or is one the fuzzer sent (and the fuzzer's acknowledged ones are there
at their revisions).

The server runs with its event loop on a background thread, so that the test itself is a
plain synchronous Hypothesis test with a synchronous WebSocket client (the well-behaved
client runs in the server's loop). Examples: twice the profile's ``max_examples`` (200 under
``dev``, 2,000 under ``HYPOTHESIS_PROFILE=ci``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from collab.session import Session
from collab.settings import Settings
from ot import TextOperation
from tests.collab.conftest import RunningServer, start_server
from tests.collab.procs import RecordingClient

T = TypeVar("T")

TIMEOUT = 15.0
MAX_BYTES = 64 * 1024
SERVER_SETTINGS: dict[str, Any] = {
    "max_message_bytes": MAX_BYTES,  # small enough that 1009 is within reach
    "max_doc_chars": 200_000,
    # Budgets high enough that rate_limited does not drown everything else ...
    "ops_per_second": 1e6,
    "ops_burst": 10**6,
    "presence_per_second": 1e6,
    "presence_burst": 10**6,
    # ... but errors still earn a 4429 now and then, and the fuzzer reconnects.
    "max_errors": 40,
    "unload_grace": 60.0,
    # Keep-alive pings draw their payload from the global `random`, which Hypothesis
    # watches while it generates; nothing here is idle long enough to need them.
    "ping_interval": 0.0,
    "max_body_bytes": 64 * 1024,
}
EXAMPLES = hsettings().max_examples * 2

ERROR_CODES = {
    "bad_message",
    "bad_op",
    "bad_rev",
    "bad_seq",
    "forbidden",
    "too_large",
    "rate_limited",
}
CLOSE_CODES = {1003, 1009, 4400, 4429}
MESSAGE_TYPES = {"welcome", "ack", "op", "presence", "join", "leave", "pong", "error"}
PING = '{"type": "ping"}'
PIECES = ["a", "Z", " ", "\n", "é", "e\u0301", "😀", "👍🏽", "中文", "🇫🇷"]


# -- the server on a thread -------------------------------------------------------------------


class ErrorRecords(logging.Handler):
    """Collects records at ERROR and above (tracebacks included) from the server's loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> list[str]:
        out = []
        for r in self.records:
            exc = (
                f" {r.exc_info[0].__name__}: {r.exc_info[1]}"
                if r.exc_info and r.exc_info[0]
                else ""
            )
            out.append(f"{r.name} {r.levelname}: {r.getMessage()[:200]}{exc[:300]}")
        return out


class LiveServer:
    """A server whose event loop runs on a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="server", daemon=True)
        self.thread.start()
        self.server: RunningServer = self.run(start_server(settings))
        self.worst_lag = 0.0  # the longest the loop was late to a 5 ms timer, in seconds
        self._probe = self.run(self._start_probe())

    async def _start_probe(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._lag_probe())

    async def _lag_probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.005)
            self.worst_lag = max(self.worst_lag, loop.time() - t0 - 0.005)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        """Run a coroutine in the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def peek(self, doc: str) -> tuple[int, int]:
        """The document's committed revision and length, read in the server's loop."""

        async def read() -> tuple[int, int]:
            room = self.server.services.rooms.get(doc)
            assert room is not None
            return room.rev, len(room.text)

        return self.run(read())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._probe.cancel)
        with contextlib.suppress(Exception):
            self.run(self.server.stop(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, ErrorRecords]]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "collab.db"
    settings = Settings.from_env({}, database_url=f"sqlite+aiosqlite:///{path}", **SERVER_SETTINGS)
    server = LiveServer(settings)
    errors = ErrorRecords()
    # After the start: uvicorn's logging setup replaces its loggers' handlers.
    loggers = [logging.getLogger(n) for n in ("collab", "uvicorn", "asyncio")]
    for logger in loggers:
        logger.addHandler(errors)
    try:
        yield server, errors
    finally:
        for logger in loggers:
            logger.removeHandler(errors)
        server.close()


# -- the well-behaved client ------------------------------------------------------------------


class GoodEditor:
    """A CollabClient editing as fast as it can, one operation in flight (sometimes more
    edits composed behind it), sharing its caret now and then."""

    def __init__(self, url: str, seed: int) -> None:
        self.client = RecordingClient(url, client_id=f"good-{uuid.uuid4().hex[:12]}")
        self.rng = random.Random(seed)
        self.edits = 0
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.connect(TIMEOUT)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def finish(self) -> None:
        """Stop editing and wait until everything is acknowledged."""
        assert self._stop is not None and self._task is not None
        self._stop.set()
        await asyncio.wait_for(self._task, TIMEOUT)
        await self.client.wait_synced(TIMEOUT)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    def _edit(self) -> None:
        c, rng = self.client, self.rng
        n = len(c.text)
        self.edits += 1
        if n == 0 or rng.random() < 0.6:
            c.insert(rng.randint(0, n), rng.choice(PIECES))
        else:
            pos = rng.randrange(n)
            c.delete(pos, rng.randint(1, min(3, n - pos)))

    async def _run(self) -> None:
        assert self._stop is not None
        rounds = 0
        while not self._stop.is_set():
            for _ in range(self.rng.choice((1, 1, 3))):  # 3: two composed behind one
                self._edit()
            rounds += 1
            if rounds % 7 == 0:
                pos = self.rng.randint(0, len(self.client.text))
                self.client.set_selection([(pos, pos)])
            await self.client.wait_synced(TIMEOUT)


# -- what the fuzzer does ---------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One frame on the open session, sent as given (str: text frame, bytes: binary)."""

    data: str | bytes


@dataclass(frozen=True)
class Hello:
    """Reconnect and open the new connection with this frame instead of a proper hello."""

    data: str


@dataclass(frozen=True)
class NearOp:
    """An operation on the live document whose base length is off by ``delta``; ``cuts``
    (fractions of the length) split it into retains and deletes (``deletes``), with
    ``inserts`` between them; ``rev_shift`` / ``seq_shift`` move rev and seq off the mark."""

    delta: int
    cuts: tuple[float, ...]
    deletes: tuple[bool, ...]
    inserts: tuple[str, ...]
    rev_shift: int = 0
    seq_shift: int = 0

    def build(self, rev: int, length: int, next_seq: int) -> str:
        total = max(0, length + self.delta)
        points = sorted({0, total, *(int(c * total) for c in self.cuts)})
        comps: list[Any] = []
        for i, (a, b) in enumerate(itertools.pairwise(points)):
            if self.inserts:
                comps.append(self.inserts[i % len(self.inserts)])
            if b > a:
                delete = bool(self.deletes) and self.deletes[i % len(self.deletes)]
                comps.append(-(b - a) if delete else b - a)
        if not comps and self.inserts:
            comps.append(self.inserts[0])
        msg = {
            "type": "op",
            "rev": max(0, rev + self.rev_shift),
            "seq": max(1, next_seq + self.seq_shift),
            "op": comps,
        }
        return json.dumps(msg)


Action = Frame | Hello | NearOp

EDGE_INTS = [
    0, 1, -1, 2**31, -(2**31), 2**53 + 1, -(2**53 + 1),
    2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30, -(10**30),
]  # fmt: skip
WEIRD_TEXT = [
    "", "\ud800", "a\udfffb", "\udc00\ud800", "\x00", "a\x00b", "é", "e\u0301", "😀",
    "\ufeff", "\u2028", "\U0010ffff", "\\", '"', "🇫🇷", "ping", "op", "hello",
]  # fmt: skip

ints = st.integers() | st.sampled_from(EDGE_INTS)
texts = st.text(max_size=12) | st.sampled_from(WEIRD_TEXT)
leaves = st.none() | st.booleans() | ints | st.floats() | texts
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
components = st.one_of(
    ints,
    texts,
    st.booleans(),
    st.floats(),
    st.none(),
    st.lists(ints | texts, max_size=3),
    st.dictionaries(texts, ints, max_size=2),
    st.sampled_from(PIECES),
)
operations = st.lists(components, max_size=8) | json_values
small_ints = st.integers(-3, 40)
revs = small_ints | ints | json_values
seqs = st.integers(-2, 5) | ints | json_values
selections = (
    st.none()
    | st.lists(st.lists(small_ints | ints, min_size=0, max_size=3), max_size=4)
    | json_values
)
types = st.sampled_from(["op", "presence", "ping", "hello", "welcome", "ack", "", "OP"]) | leaves


def dumps(value: Any) -> str:
    """JSON as a client might send it (NaN and Infinity included; lone surrogates escaped)."""
    return json.dumps(value, allow_nan=True)


@st.composite
def typed_objects(draw: st.DrawFn) -> str:
    msg = draw(
        st.fixed_dictionaries(
            {"type": types},
            optional={
                "rev": revs,
                "seq": seqs,
                "op": operations,
                "selection": selections,
                "client": texts | json_values,
                "token": texts | json_values,
                "user": json_values,
                "protocol": st.sampled_from([1, 2, "1", 1.0, True]) | json_values,
            },
        )
    )
    msg.update(draw(st.dictionaries(texts, json_values, max_size=2)))
    return dumps(msg)


op_messages = st.builds(
    lambda rev, seq, op: dumps({"type": "op", "rev": rev, "seq": seq, "op": op}),
    small_ints | ints,
    st.integers(1, 4) | ints,
    st.lists(components, max_size=8),
)
presence_messages = st.builds(
    lambda rev, sel: dumps({"type": "presence", "rev": rev, "selection": sel}),
    small_ints | ints,
    selections,
)
not_json = st.text(max_size=40) | st.sampled_from(
    [
        "{",
        "[1,",
        '{"type":"op"',
        "nul",
        "NaN",
        '{"type":"ping",}',
        '{"type":"ping"} x',
        "\ufeff{}",
        '{"type":"op","type":"ping"}',
        '{"type":"op","rev":0,"seq":1,"op":["\\ud800"]}',
        '{"type":"op","rev":0,"seq":1,"op":["\\u0000"]}',
        '{"type":"op","rev":0,"seq":1,"op":[1e400]}',
        '{"type":"op","rev":0,"seq":1,"op":[-0]}',
        '{"type":"op","rev":0,"seq":1,"op":[1.0]}',
        '{"type":"ping","x":NaN}',
    ]
)


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    """Thousands of nested arrays (or objects) in some field of a message."""
    depth = draw(st.integers(1, 30_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    core = opener * depth + "1" + closer * depth
    where = draw(st.sampled_from(["whole", "component", "type", "selection", "rev", "seq", "x"]))
    return {
        "whole": core,
        "component": '{"type":"op","rev":0,"seq":1,"op":[' + core + "]}",
        "type": '{"type":' + core + "}",
        "selection": '{"type":"presence","rev":0,"selection":[' + core + "]}",
        "rev": '{"type":"op","rev":' + core + ',"seq":1,"op":[]}',
        "seq": '{"type":"op","rev":0,"seq":' + core + ',"op":[]}',
        "x": '{"type":"ping","x":' + core + "}",
    }[where]


@st.composite
def near_the_limit(draw: st.DrawFn) -> str:
    """A frame within a few hundred bytes of the size limit, either side, in characters
    of one to four bytes (or six-byte escapes)."""
    target = draw(st.integers(MAX_BYTES - 300, MAX_BYTES + 300))
    char = draw(st.sampled_from(["a", "é", "中", "😀", "\\u00e9"]))
    width = 6 if char.startswith("\\") else len(char.encode())
    shape = draw(st.sampled_from(["op", "ping", "presence"]))
    head, tail = {
        # The retain is far beyond the document, so the operation can never apply.
        "op": ('{"type":"op","rev":0,"seq":1,"op":[10000000,"', '"]}'),
        "ping": ('{"type":"ping","pad":"', '"}'),
        "presence": ('{"type":"presence","rev":0,"selection":null,"pad":"', '"}'),
    }[shape]
    count = max(0, (target - len(head) - len(tail)) // width)
    return head + char * count + tail


huge_numbers = st.builds(
    lambda digits, sign, field: (
        f'{{"type":"op","rev":0,"seq":1,"op":[{sign}{"9" * digits}]}}'
        if field == "op"
        else f'{{"type":"op","rev":{sign}{"9" * digits},"seq":1,"op":[]}}'
    ),
    st.integers(15, 6000),
    st.sampled_from(["", "-"]),
    st.sampled_from(["op", "rev"]),
)

client_ids = st.from_regex(r"fz[A-Za-z0-9_-]{1,10}", fullmatch=True)
hellos = st.builds(
    lambda fields, extra: dumps({**fields, **extra}),
    st.fixed_dictionaries(
        {
            "type": st.just("hello") | types,
            "protocol": st.just(1) | st.sampled_from([2, "1", 1.0, True, None]),
            "client": client_ids | texts | json_values,
        },
        optional={
            "token": st.none() | texts | json_values,
            "user": st.fixed_dictionaries(
                {}, optional={"name": texts | json_values, "color": texts | json_values}
            )
            | json_values,
            "rev": small_ints | ints | json_values,
        },
    ),
    st.dictionaries(texts, json_values, max_size=2),
)

near_ops = st.builds(
    NearOp,
    delta=st.sampled_from([0, 0, 0, -1, 1]),
    cuts=st.lists(st.floats(0, 1), max_size=4).map(tuple),
    deletes=st.lists(st.booleans(), max_size=3).map(tuple),
    inserts=st.lists(st.sampled_from(PIECES) | st.text(min_size=1, max_size=4), max_size=3).map(
        tuple
    ),
    rev_shift=st.sampled_from([0, 0, 0, -1, 1]),
    seq_shift=st.sampled_from([0, 0, 0, -1, 1, 2]),
)

frames = st.one_of(
    json_values.map(dumps),
    typed_objects(),
    op_messages,
    presence_messages,
    not_json,
    deep_nesting(),
    near_the_limit(),
    huge_numbers,
    st.binary(max_size=64),
)
actions = st.lists(
    st.one_of(frames.map(Frame), frames.map(Frame), hellos.map(Hello), near_ops),
    min_size=1,
    max_size=4,
)


def predicts_pong(data: str | bytes) -> bool:
    """Whether the server answers this frame with a pong (it is a ping message)."""
    if isinstance(data, bytes):
        return False
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            msg = json.loads(data)
        except (ValueError, RecursionError):
            return False
    return type(msg) is dict and msg.get("type") == "ping"


# -- the fuzzing client -----------------------------------------------------------------------


@dataclass
class Fuzzer:
    """A raw synchronous client that sends what it is given and checks what comes back."""

    live: LiveServer
    doc: str
    conn: ClientConnection | None = None
    client: str = ""
    ids: set[str] = field(default_factory=set)  # every client id it opened a session with
    next_seq: dict[str, int] = field(default_factory=dict)
    acks: dict[tuple[str, int], int] = field(default_factory=dict)
    sent: int = 0  # frames sent (bad inputs, near-valid operations, hellos)
    closes: Counter[int | None] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _open(self, hello: str | None = None) -> bool:
        """A new connection opened with ``hello`` (a proper one if None); True if welcomed."""
        self.close()
        self.client = f"fz{uuid.uuid4().hex[:12]}"
        if hello is None:
            hello = dumps({"type": "hello", "protocol": 1, "client": self.client, "token": None})
        else:
            try:
                claimed = json.loads(hello).get("client")
            except (ValueError, AttributeError, RecursionError):
                claimed = None
            self.client = claimed if isinstance(claimed, str) else ""
        self.conn = connect(
            self.live.server.ws(self.doc),
            compression=None,
            max_size=None,
            max_queue=None,
            proxy=None,
            open_timeout=TIMEOUT,
            close_timeout=2,
            ping_interval=None,  # see SERVER_SETTINGS
            legacy=True,  # a connection object, not a context manager
        )
        self.sent += 1
        try:
            self.conn.send(hello)
            while True:
                msg = self._receive()
                if msg["type"] == "welcome":
                    assert self.client, f"welcomed without a client id: {hello[:200]!r}"
                    self.ids.add(self.client)
                    self.next_seq[self.client] = msg["seq"] + 1
                    return True
        except ConnectionClosed:
            self._closed()
            return False

    def _receive(self) -> dict[str, Any]:
        assert self.conn is not None
        raw = self.conn.recv(timeout=TIMEOUT)
        msg = json.loads(raw)
        assert type(msg) is dict and msg.get("type") in MESSAGE_TYPES, msg
        if msg["type"] == "error":
            assert msg["code"] in ERROR_CODES, msg
            assert "seq" not in msg or type(msg["seq"]) is int, msg
            self.errors[msg["code"]] += 1
        elif msg["type"] == "ack":
            key = (self.client, msg["seq"])
            assert self.acks.setdefault(key, msg["rev"]) == msg["rev"], (msg, self.acks[key])
            self.next_seq[self.client] = max(self.next_seq[self.client], msg["seq"] + 1)
        return msg

    def _closed(self) -> None:
        assert self.conn is not None
        code = self.conn.close_code
        self.closes[code] += 1
        self.conn = None
        assert code in CLOSE_CODES, f"closed with {code} ({self.closes})"

    def act(self, action: Action) -> None:
        if isinstance(action, Hello):
            self._open(action.data)
            return
        if self.conn is None and not self._open():
            return
        if isinstance(action, NearOp):
            rev, length = self.live.peek(self.doc)
            data: str | bytes = action.build(rev, length, self.next_seq[self.client])
        else:
            data = action.data
        self.exchange([data])

    def exchange(self, batch: list[str | bytes]) -> None:
        """Send the frames, then a ping; read until the pongs arrive (every frame before the
        ping has been handled by then) or the server closes. After a frame the server must
        close on (binary, or over the size limit), send nothing more and expect that close."""
        assert self.conn is not None
        try:
            for data in batch:
                self.sent += 1
                self.conn.send(data)
                expected = closes_with(data)
                if expected is not None:
                    self._expect_close(expected)
                    return
            self.conn.send(PING)
            pongs = 1 + sum(predicts_pong(d) for d in batch)
            while pongs:
                if self._receive()["type"] == "pong":
                    pongs -= 1
        except ConnectionClosed:
            self._closed()

    def _expect_close(self, expected: int) -> None:
        assert self.conn is not None
        with contextlib.suppress(ConnectionClosed):
            while True:
                self._receive()
        code = self.conn.close_code
        self.conn = None
        self.closes[code] += 1
        # Over the size limit, the server closes as soon as it reads the frame's length,
        # while the rest of it may still be on its way: the close frame then races a TCP
        # reset, which the client reports as 1006.
        allowed = {expected, 1006} if expected == 1009 else {expected}
        # The error budget may run out on the answers to the frames before this one (stale
        # presence is refused too): then 4429 comes first.
        allowed.add(4429)
        assert code in allowed, f"expected {expected}, closed with {code}"


def closes_with(data: str | bytes) -> int | None:
    """The close code a frame earns by its kind or size alone."""
    if isinstance(data, bytes):
        return 1003
    if len(data.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return 1009
    return None


# -- the test ---------------------------------------------------------------------------------

# Regressions found by this test (each was a session fault, 1011 and a logged traceback):
# nesting deeper than the JSON parser's recursion limit; nesting deep enough that the error
# message's repr of the offending component hit the recursion limit; a seq beyond 64 bits,
# which the error answering the operation could not encode.
DEEP = 5000
REGRESSIONS = [
    [Frame('{"type":"op","rev":0,"seq":18446744073709551616,"op":["\\ud800"]}')],
    [Frame('{"type":"op","rev":0,"seq":' + "9" * 300 + ',"op":[5]}')],
    [Frame("[" * DEEP + "]" * DEEP)],
    [Frame('{"type":"op","rev":0,"seq":1,"op":[' + "[" * 1000 + "]" * 1000 + "]}")],
    [Frame('{"type":' + "[" * 1000 + "]" * 1000 + "}")],
    [Frame('{"type":"presence","rev":0,"selection":[' + "[" * 1000 + "]" * 1000 + "]}")],
    [Hello("[" * DEEP + "]" * DEEP)],
]


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_garbage_from_one_client_never_reaches_another(
    live: tuple[LiveServer, ErrorRecords],
) -> None:
    server, errors = live
    doc = f"fuzz-{uuid.uuid4().hex[:10]}"
    editor = GoodEditor(server.server.ws(doc), seed=random.randrange(1 << 30))
    server.run(editor.start())
    fuzzer = Fuzzer(server, doc)
    try:

        @hsettings(
            max_examples=EXAMPLES,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(actions=actions)
        def fuzz(actions: list[Action]) -> None:
            for action in actions:
                fuzzer.act(action)
            assert errors.describe() == []

        for regression in REGRESSIONS:
            fuzz = example(actions=regression)(fuzz)
        fuzz()
        server.run(editor.finish(), 2 * TIMEOUT)
    finally:
        fuzzer.close()
        server.run(editor.close())

    with httpx.Client(base_url=server.server.url, timeout=TIMEOUT) as http:
        log: list[dict[str, Any]] = []
        while page := http.get(
            f"/api/docs/{doc}/ops", params={"after": len(log), "limit": 1000}
        ).json():
            log.extend(page)
        served = http.get(f"/api/docs/{doc}").json()

    assert [r["rev"] for r in log] == list(range(1, len(log) + 1))
    text = ""
    for rec in log:
        text = TextOperation.from_json(rec["op"]).apply(text)
    assert (served["rev"], served["text"]) == (len(log), text)

    good = editor.client
    assert good.text == text
    assert good.errors == [] and good.resets == [] and good.ack_conflicts == []
    committed = Counter((r["client"], r["seq"]) for r in log)
    assert [k for k, n in committed.items() if n > 1] == []
    at = {(r["client"], r["seq"]): r["rev"] for r in log}
    mine = sorted(seq for (client, seq) in committed if client == good.client_id)
    assert mine == list(range(1, good.state.last_seq + 1))
    assert good.acks == {seq: at[(good.client_id, seq)] for seq in mine}
    assert {r["client"] for r in log} <= {good.client_id} | fuzzer.ids
    for (client, seq), rev in fuzzer.acks.items():
        assert at.get((client, seq)) == rev, (client, seq, rev)
    assert errors.describe() == []

    print(
        f"\nfuzz: {fuzzer.sent} frames sent by the fuzzer, {sum(fuzzer.errors.values())} "
        f"errors {dict(fuzzer.errors)}, closes {dict(fuzzer.closes)}, "
        f"{len(fuzzer.acks)} fuzzer operations committed; the good client made "
        f"{editor.edits} edits in {good.state.last_seq} operations; {len(log)} revisions; "
        f"worst event-loop lag so far {server.worst_lag * 1e3:.1f} ms"
    )


class ClosedByTheServer:
    """An ASGI WebSocket as uvicorn presents it once it has closed the connection on its own
    (a frame over the size limit, a keep-alive timeout) and before the application has read
    the disconnect: every send raises RuntimeError."""

    def __init__(self, hello: str) -> None:
        self.headers: dict[str, str] = {}
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inbox.put_nowait({"type": "websocket.receive", "text": hello})
        self.closed = False
        self.welcomed = asyncio.Event()
        self.refused = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            self.refused.set()
            raise RuntimeError(
                "Unexpected ASGI message 'websocket.send', after sending 'websocket.close'."
            )
        if '"welcome"' in message.get("text", ""):
            self.welcomed.set()


def test_a_broadcast_racing_the_servers_own_close_is_no_fault(
    live: tuple[LiveServer, ErrorRecords],
) -> None:
    """A regression found by the fuzzer: a frame over the size limit makes uvicorn close the
    connection itself; a broadcast the session's writer sent in the moment before the
    session read the disconnect was logged as a writer fault, with its traceback. The race
    is set up by hand here, with a stand-in for uvicorn's side of the socket."""
    server, errors = live
    doc = f"fuzz-{uuid.uuid4().hex[:10]}"

    async def scenario() -> None:
        hello = dumps({"type": "hello", "protocol": 1, "client": "racer", "token": None})
        ws = ClosedByTheServer(hello)
        session = Session(ws, doc, server.server.services)  # type: ignore[arg-type]
        server.server.services.metrics.connections += 1  # as the endpoint does
        run = asyncio.create_task(session.run())
        await asyncio.wait_for(ws.welcomed.wait(), TIMEOUT)
        ws.closed = True  # uvicorn read a frame over the limit and closed
        session.send(dumps({"type": "op", "rev": 1, "op": ["x"]}))  # a broadcast, just then
        await asyncio.wait_for(ws.refused.wait(), TIMEOUT)
        ws.inbox.put_nowait({"type": "websocket.disconnect", "code": 1009})
        await asyncio.wait_for(run, TIMEOUT)

    server.run(scenario())
    assert errors.describe() == []


# -- HTTP bodies ------------------------------------------------------------------------------

HTTP_STATUSES = {200, 201, 204, 400, 403, 404, 405, 409, 413, 422}
ids = st.from_regex(r"hz[A-Za-z0-9._-]{1,12}", fullmatch=True) | texts | json_values
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={"id": ids, "text": texts | json_values}),
    st.fixed_dictionaries({}, optional={"rev": revs, "label": texts | json_values}),
    st.builds(lambda n: {"id": "hz-big", "text": "x" * n}, st.integers(60_000, 70_000)),
)
bodies = st.one_of(
    payloads.map(lambda v: dumps(v).encode("utf-8", "surrogatepass")),
    st.binary(max_size=64),
    not_json.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b"{" * 20_000),
)
http_requests = st.tuples(
    st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    st.sampled_from(
        [
            "/api/docs",
            "/api/docs/{doc}",
            "/api/docs/{doc}/restore",
            "/api/docs/{doc}/versions",
            "/api/docs/{doc}/ops?after=0&limit=5",
            "/api/docs/{doc}/revisions/1",
            "/api/docs/-bad-",
        ]
    ),
    bodies,
    st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]),
)


def test_http_bodies_get_documented_answers(live: tuple[LiveServer, ErrorRecords]) -> None:
    """Generated methods, paths and bodies (JSON of every shape, bytes that are not JSON,
    nesting, bodies over the limit) only ever get documented statuses, never a 500, and
    the server logs no error."""
    server, errors = live
    doc = f"hz-{uuid.uuid4().hex[:10]}"
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=server.server.url, timeout=TIMEOUT) as http:
        assert http.post("/api/docs", json={"id": doc, "text": "fuzz me"}).status_code == 201

        @hsettings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(request=http_requests)
        def fuzz(request: tuple[str, str, bytes, str]) -> None:
            method, path, body, ctype = request
            r = http.request(
                method, path.format(doc=doc), content=body, headers={"content-type": ctype}
            )
            statuses[r.status_code] += 1
            if r.status_code == 204:  # deleted: the next requests need it again
                http.post("/api/docs", json={"id": doc, "text": "fuzz me again"})
            assert r.status_code in HTTP_STATUSES, (r.status_code, r.text[:300])
            assert errors.describe() == []

        fuzz()
    print(
        f"\nhttp fuzz: statuses {dict(sorted(statuses.items()))}; "
        f"worst event-loop lag so far {server.worst_lag * 1e3:.1f} ms"
    )
