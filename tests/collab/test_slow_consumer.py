"""A client that stops reading (docs/security.md, "Slow readers"): the server cuts it off
instead of growing its memory or slowing anyone else.

One raw client says hello and then never reads again, with a receive buffer made as small
as the client side allows (``max_queue=1``, and a 4 KiB ``SO_RCVBUF`` set before it
connects), while a fast raw client sends 5,000 operations, one in flight, each as soon as
the previous one is acknowledged. Checked:

* the server ends the slow client's session (1013; the client itself may only ever see a
  reset, as the close frame cannot get through): its client id leaves the room's sessions,
  within a bounded time;
* while it lasted, the slow session's outgoing queue stayed within its bound (1,000
  messages, 8 MiB), read from the session object after every acknowledgement;
* the fast client's acknowledgement latency stays low: p99 under 50 ms, and within three
  times that of the same run with no slow client (run first, in the same test, on the same
  server, on a document of its own; the baseline's p99 counts as at least 5 ms);
* the process's resident memory grows by about as much with the slow client as without it.

The figures are printed (``-s``) for the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from collab.session import Session
from tests.collab.conftest import RunningServer, ServerFactory
from tests.collab.helpers import TIMEOUT, eventually

pytestmark = pytest.mark.timeout(180)

OPS = 5000
PIECE = "slow consumers must not hurt fast ones. " * 5  # 200 characters per operation
P99_LIMIT = 0.050
RATIO_LIMIT = 3.0
BASELINE_FLOOR = 0.005  # the baseline p99 counts as at least 5 ms


def rss_bytes() -> int:
    """Resident set size of this process (the server runs in it)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class QueueWatch:
    """The slow session's outgoing queue, sampled by the fast client after every ack."""

    room_doc: str
    client: str
    max_messages: int = 0
    max_chars: int = 0
    samples: int = 0
    cut_at: int | None = None  # the sample at which the session was found closing
    seen: list[Session] = field(default_factory=list)

    def sample(self, server: RunningServer) -> None:
        room = server.services.rooms.get(self.room_doc)
        s = room.sessions.get(self.client) if room is not None else None
        if s is None:
            return
        if not self.seen:
            self.seen.append(s)
        self.samples += 1
        self.max_messages = max(self.max_messages, len(s._out))
        self.max_chars = max(self.max_chars, s._out_chars)
        if self.cut_at is None and s._close_code is not None:
            self.cut_at = self.samples


async def hello(ws: ClientConnection, client: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "hello", "protocol": 1, "client": client, "token": None}))
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg: dict[str, Any] = json.loads(await ws.recv())
            if msg["type"] == "welcome":
                return msg


async def fast_client(
    server: RunningServer, doc: str, watch: QueueWatch | None = None
) -> list[float]:
    """5,000 operations, one in flight; the latency of each acknowledgement."""
    latencies: list[float] = []
    async with connect(server.ws(doc), compression=None, max_size=None) as ws:
        welcome = await hello(ws, f"fast-{doc}")
        rev, length = welcome["rev"], len(welcome["text"])
        for seq in range(1, OPS + 1):
            op = [length, PIECE] if length else [PIECE]
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "op", "rev": rev, "seq": seq, "op": op}))
            async with asyncio.timeout(TIMEOUT):
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["type"] == "ack":
                        break
                    assert msg["type"] in ("op", "join", "leave", "presence"), msg
            latencies.append(time.perf_counter() - t0)
            assert msg == {"type": "ack", "seq": seq, "rev": rev + 1}
            rev, length = rev + 1, length + len(PIECE)
            if watch is not None:
                watch.sample(server)
    return latencies


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100)[98]


def server_side(server: RunningServer, ws: ClientConnection) -> Any:
    """uvicorn's protocol object for the server end of a client connection."""
    port = ws.transport.get_extra_info("sockname")[1]
    for proto in server.server.server_state.connections:
        client = getattr(proto, "client", None)
        if client is not None and client[1] == port:
            return proto
    raise AssertionError("no server-side connection for this client")


@contextlib.asynccontextmanager
async def non_reader(server: RunningServer, doc: str, client: str) -> AsyncIterator[Any]:
    """A client that says hello, then never reads. Its receive buffer is 4 KiB (set before
    the connection, so that the window it advertises is small from the start) and its
    library queues one message, past which it stops reading the socket. The server's
    send buffer for it is made as small, too: on loopback the kernel would otherwise take
    up to ``tcp_wmem`` (4 MiB here) before the server's own queue fills, as a client over a
    slow link would only after a long while. Yields the server side's protocol object."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    ws = await connect(server.ws(doc), sock=sock, compression=None, max_size=None, max_queue=1)
    try:
        await hello(ws, client)
        proto = server_side(server, ws)
        proto.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
        )
        yield proto
    finally:
        ws.transport.abort()


async def test_a_client_that_never_reads_is_cut_off_and_hurts_no_one(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(ops_per_second=1e6, ops_burst=10**6)
    settings = server.services.settings

    # Baseline: the fast client alone.
    rss0 = rss_bytes()
    baseline = await fast_client(server, "alone")
    grown_alone = rss_bytes() - rss0

    # The same with a client that never reads on the same document.
    doc, slow = "crowded", "slow-reader"
    watch = QueueWatch(doc, slow)
    async with non_reader(server, doc, slow) as proto:
        rss1 = rss_bytes()
        loaded = await fast_client(server, doc, watch)
        grown_with_slow = rss_bytes() - rss1

        async def slow_session_gone() -> bool:
            room = server.services.rooms.get(doc)
            return room is not None and slow not in room.sessions

        # Cut off when its queue passed the bound; the session ends at the latest a few
        # seconds later, when a close frame cannot get through to a client that does not read.
        await eventually(slow_session_gone, timeout=15.0)
        session = watch.seen[0]
        code = session._close_code
        # What uvicorn still holds for the connection: a transport that cannot flush to a
        # client that does not read (it is released when the client goes away).
        lingering = proto in server.server.server_state.connections
        lingering_bytes = proto.transport.get_write_buffer_size()

    base_p99, load_p99 = p99(baseline), p99(loaded)
    # A floor under the baseline: with commits well under a millisecond, a p99 of a few
    # milliseconds is scheduling noise, which would otherwise make the ratio mean nothing. A
    # server that waited for the slow socket would stall the fast client for seconds.
    ratio = load_p99 / max(base_p99, BASELINE_FLOOR)
    print(
        f"\nslow consumer: baseline p50 {statistics.median(baseline) * 1e3:.2f} ms "
        f"p99 {base_p99 * 1e3:.2f} ms; with a non-reader p50 "
        f"{statistics.median(loaded) * 1e3:.2f} ms p99 {load_p99 * 1e3:.2f} ms "
        f"(ratio {ratio:.2f}); slow queue peaked at {watch.max_messages} messages / "
        f"{watch.max_chars} chars, cut off after {watch.cut_at} operations; close code {code}; "
        f"RSS growth "
        f"{grown_alone / 2**20:.1f} MiB alone, {grown_with_slow / 2**20:.1f} MiB with it; "
        f"after the session ended uvicorn still held the connection: {lingering} "
        f"({lingering_bytes} bytes unsent)"
    )

    assert watch.samples > 0, "the slow session was never seen"
    assert code == 1013
    assert watch.max_messages <= settings.send_queue_messages
    assert watch.max_chars <= settings.send_queue_bytes
    assert watch.cut_at is not None, "never cut off while the fast client ran"
    assert session._out_chars == 0 and not session._out  # its queue was dropped
    assert load_p99 < P99_LIMIT
    assert ratio < RATIO_LIMIT
    # Without a bound, the queue alone would have held 5,000 x ~280 bytes; the document and
    # its history grow the same in both runs. 16 MiB of slack absorbs allocator noise.
    assert grown_with_slow < grown_alone + 16 * 2**20

    # The fast client's work is intact.
    async with connect(server.ws(doc), compression=None) as ws:
        welcome = await hello(ws, "checker")
        assert welcome["rev"] == OPS and welcome["text"] == PIECE * OPS
