"""Several ``collab serve`` processes on one PostgreSQL database and one Redis (PROTOCOL §6).

Real subprocesses on free ports, configured only through ``COLLAB_DATABASE_URL`` and
``COLLAB_REDIS_URL``, and real clients (:class:`collab.client.CollabClient`, or raw
WebSockets where a test must misbehave on purpose). Each scenario ends with the same audit
(:func:`audit`): every client holds the same text, every process serves that text at the
same revision, the revisions are exactly 1..N, replaying the log gives the text, and every
acknowledged operation is in the log exactly once.

The module shares one fresh database (``collab_mp_<random>``, dropped at the end) and three
processes on the shared Redis; the Redis-outage test runs its own ``redis-server`` and its
own processes. Everything skips when PostgreSQL or Redis is unreachable, unless
``COLLAB_REQUIRE_SERVICES=1``.

Edits are drawn from a seeded ``random.Random`` (the seed is in the failure messages;
``COLLAB_MP_SEED=<seed>`` replays it, up to the timing of the processes): inserts with
emoji, skin-tone modifiers, flags and combining marks, and deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from collab.client import CollabClient
from ot import TextOperation
from tests.collab.services import (
    REDIS_URL,
    RedisServer,
    ServerProcess,
    create_database,
    doc_state,
    drop_database,
    metric,
    ops_log,
    postgres_problem,
    redis_problem,
    redis_server_binary,
    start_servers,
    stop_servers,
    unavailable,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

TIMEOUT = 15.0  # any single wait; generous for three servers on a two-core CI box
PIECES = ["a", "b", "z", " ", "\n", "é", "e\u0301", "😀", "👍🏽", "中文", "🇫🇷"]


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh migrated PostgreSQL database for the module."""
    problem = asyncio.run(postgres_problem())
    if problem is not None:
        unavailable(problem)
    url = asyncio.run(create_database())
    try:
        yield url
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture(scope="module")
def redis_url() -> str:
    problem = asyncio.run(redis_problem(REDIS_URL))
    if problem is not None:
        unavailable(problem)
    return REDIS_URL


@pytest.fixture(scope="module")
def cluster(
    database: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    """Three processes sharing the database and Redis."""
    servers = asyncio.run(start_servers(3, database, redis_url, tmp_path_factory.mktemp("mp")))
    try:
        yield servers
    finally:
        stop_servers(servers)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield client


def new_doc() -> str:
    return f"mp-{uuid.uuid4().hex[:12]}"


def new_seed() -> int:
    """A fresh seed, or ``COLLAB_MP_SEED`` to replay a failure."""
    return int(os.environ.get("COLLAB_MP_SEED") or random.randrange(1 << 30))


# -- clients ----------------------------------------------------------------------------------


@dataclass
class Editor:
    """A CollabClient with a seeded edit generator and a record of what it saw."""

    client: CollabClient
    rng: random.Random
    acked: list[int] = field(default_factory=list)  # seqs acknowledged, in order
    resets: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cid(self) -> str:
        return self.client.client_id

    def random_edit(self) -> None:
        c, rng = self.client, self.rng
        n = len(c.text)
        if n == 0 or rng.random() < 0.65:
            piece = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))
            c.insert(rng.randint(0, n), piece)
        else:
            pos = rng.randrange(n)
            c.delete(pos, rng.randint(1, min(3, n - pos)))

    async def edit(self, n: int, after_each: Callable[[], None] | None = None) -> None:
        """``n`` edits, one operation in flight: each is acknowledged before the next."""
        for _ in range(n):
            self.random_edit()
            await self.client.wait_synced(TIMEOUT)
            self.acked.append(self.client.state.last_seq)
            if after_each is not None:
                after_each()


@contextlib.asynccontextmanager
async def editors(doc: str, urls: list[list[str]], seed: int) -> AsyncIterator[list[Editor]]:
    """One connected Editor per entry of ``urls`` (its address, or addresses in turn)."""
    out: list[Editor] = []
    try:
        for i, addresses in enumerate(urls):
            client = CollabClient(
                addresses, client_id=f"c{i}-{uuid.uuid4().hex[:6]}", user={"name": f"u{i}"}
            )
            ed = Editor(client, random.Random(seed * 1000 + i))
            client.on("reset", ed.resets.append)
            client.on("error", ed.errors.append)
            await client.connect(TIMEOUT)
            out.append(ed)
        yield out
    finally:
        await asyncio.gather(*(ed.client.close() for ed in out), return_exceptions=True)


# -- the audit --------------------------------------------------------------------------------


async def audit(
    http: httpx.AsyncClient,
    servers: list[ServerProcess],
    doc: str,
    eds: list[Editor],
    seed: int,
) -> list[dict[str, Any]]:
    """Converged, contiguous, exactly once; returns the op log."""
    where = f"seed={seed} doc={doc}"
    log = await ops_log(http, servers[0].url, doc)
    final = len(log)
    await asyncio.gather(*(ed.client.wait_for_rev(final, TIMEOUT) for ed in eds))
    assert [r["rev"] for r in log] == list(range(1, final + 1)), where
    text = ""
    for r in log:
        text = TextOperation.from_json(r["op"]).apply(text)
    for s in servers:
        assert await doc_state(http, s.url, doc) == (final, text), f"{where} port={s.port}"
    diverged = {
        ed.cid: (ed.client.url, ed.client.rev, ed.errors, ed.resets)
        for ed in eds
        if ed.client.text != text
    }
    assert diverged == {}, f"clients differ from the log ({where})"

    keys = Counter((r["client"], r["seq"]) for r in log)
    assert [k for k, n in keys.items() if n > 1] == [], f"duplicates in the log ({where})"
    for ed in eds:
        seqs = sorted(seq for (client, seq) in keys if client == ed.cid)
        assert ed.acked == list(range(1, len(ed.acked) + 1)), where
        assert seqs == ed.acked, f"acknowledged vs committed for {ed.cid} ({where})"
        assert [r for r in ed.resets if r.get("lost")] == [], f"lost edits ({where})"
    return log


def assert_no_server_errors(servers: list[ServerProcess]) -> None:
    for s in servers:
        bad = [
            line
            for line in s.log_path.read_text(errors="replace").splitlines()
            if " ERROR " in line or "Traceback" in line
        ]
        assert bad == [], f"port {s.port}:\n" + "\n".join(bad[:20])


# -- raw WebSocket ----------------------------------------------------------------------------


async def recv_type(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of type ``kind``, skipping others; an ``error`` fails the test."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg: dict[str, Any] = json.loads(await ws.recv())
            if msg["type"] == kind:
                return msg
            assert msg["type"] != "error", msg


async def hello(ws: ClientConnection, client: str, rev: int | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "hello", "protocol": 1, "client": client, "token": None}
    if rev is not None:
        msg["rev"] = rev
    await ws.send(json.dumps(msg))
    return await recv_type(ws, "welcome")


async def send_op(ws: ClientConnection, rev: int, seq: int, op: list[Any]) -> None:
    await ws.send(json.dumps({"type": "op", "rev": rev, "seq": seq, "op": op}))


# -- scenarios --------------------------------------------------------------------------------


async def test_clients_on_three_processes_converge(
    cluster: list[ServerProcess], http: httpx.AsyncClient
) -> None:
    """Six clients, two per process, edit one document at once."""
    seed, doc = new_seed(), new_doc()
    urls = [[s.ws(doc)] for s in cluster for _ in range(2)]
    committed = [await metric(http, s.url, "collab_ops_committed_total") for s in cluster]
    async with editors(doc, urls, seed) as eds:
        await asyncio.gather(*(ed.edit(40) for ed in eds))
        log = await audit(http, cluster, doc, eds, seed)
    assert len(log) == 6 * 40
    # Each operation is counted once, by the process that committed it (not again by the
    # processes that merely integrated it).
    for i, s in enumerate(cluster):
        committed[i] = await metric(http, s.url, "collab_ops_committed_total") - committed[i]
    assert sum(committed) == len(log), committed
    # rate_limited ("too much contention, resend") is allowed: a process whose commits keep
    # losing the race refuses the operation after `commit_retries`, and the client resends.
    errors = [e for ed in eds for e in ed.errors if e["code"] != "rate_limited"]
    assert errors == [], f"seed={seed}"
    assert_no_server_errors(cluster)


@pytest.mark.parametrize("committed_first", [True, False], ids=["committed", "racing"])
async def test_resend_to_another_process_is_deduplicated(
    cluster: list[ServerProcess], http: httpx.AsyncClient, committed_first: bool
) -> None:
    """An op sent to process 1 whose ack is never read, resent with the same seq to process 2
    (``committed``: after it landed; ``racing``: at once), is acknowledged with the revision
    it became the first time, and committed once."""
    p1, p2 = cluster[0], cluster[1]
    doc, cid = new_doc(), f"raw-{uuid.uuid4().hex[:8]}"
    async with connect(p1.ws(doc), open_timeout=TIMEOUT) as ws:
        welcome = await hello(ws, cid)
        await send_op(ws, welcome["rev"], 1, ["base 😀 "])
        base = (await recv_type(ws, "ack"))["rev"]
        await send_op(ws, base, 2, [len("base 😀 "), "once"])
    if committed_first:
        async with asyncio.timeout(TIMEOUT):
            while len(await ops_log(http, p2.url, doc)) < base + 1:
                await asyncio.sleep(0.02)  # polling the HTTP API: nothing to wait on

    async with connect(p2.ws(doc), open_timeout=TIMEOUT) as ws:
        welcome = await hello(ws, cid, rev=base)
        assert "ops" in welcome and "text" not in welcome
        assert welcome["seq"] == (2 if committed_first else welcome["seq"])
        await send_op(ws, base, 2, [len("base 😀 "), "once"])
        ack = await recv_type(ws, "ack")
        log = await ops_log(http, p2.url, doc)
        mine = [r for r in log if (r["client"], r["seq"]) == (cid, 2)]
        assert len(mine) == 1 and ack == {"type": "ack", "seq": 2, "rev": mine[0]["rev"]}
        # The session goes on from there. (Revision 2 may also reach this session as an ack
        # through the stream when this process integrates it: the same seq and rev.)
        await send_op(ws, ack["rev"], 3, [len("base 😀 once"), "!"])
        while (last := await recv_type(ws, "ack")) == ack:
            pass
        assert last == {"type": "ack", "seq": 3, "rev": ack["rev"] + 1}

    log = await ops_log(http, p1.url, doc)
    assert [(r["client"], r["seq"]) for r in log] == [(cid, 1), (cid, 2), (cid, 3)]
    # The other processes hear of revision 3 through Redis, a moment later.
    async with asyncio.timeout(TIMEOUT):
        for s in cluster:
            while await doc_state(http, s.url, doc) != (3, "base 😀 once!"):
                await asyncio.sleep(0.02)  # polling the HTTP API: nothing to wait on


async def test_a_process_killed_mid_edit(
    cluster: list[ServerProcess],
    database: str,
    redis_url: str,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    """SIGKILL one of three processes while its clients edit: they go on through the other
    two, and every operation acknowledged before the kill is in the log exactly once."""
    seed, doc = new_seed(), new_doc()
    (victim,) = await start_servers(1, database, redis_url, tmp_path)
    p1, p2 = cluster[0], cluster[1]
    try:
        urls = [
            [victim.ws(doc), p1.ws(doc), p2.ws(doc)],
            [victim.ws(doc), p2.ws(doc), p1.ws(doc)],
            [p1.ws(doc)],
            [p1.ws(doc)],
            [p2.ws(doc)],
            [p2.ws(doc)],
        ]
        async with editors(doc, urls, seed) as eds:
            acked_before: dict[str, list[int]] = {}
            enough = asyncio.Event()

            def count() -> None:
                # Mid-edit: the victim's clients are a quarter of the way through.
                if all(len(ed.acked) >= 10 for ed in eds[:2]):
                    enough.set()

            async def kill_when_enough() -> None:
                await enough.wait()
                victim.kill()  # acks that arrive from now on may be lost; none before
                acked_before.update({ed.cid: list(ed.acked) for ed in eds})

            await asyncio.gather(kill_when_enough(), *(ed.edit(40, count) for ed in eds))
            log = await audit(http, [p1, p2], doc, eds, seed)
        committed = Counter((r["client"], r["seq"]) for r in log)
        for cid, seqs in acked_before.items():
            assert all(committed[(cid, s)] == 1 for s in seqs), f"seed={seed} {cid}"
        assert all(acked_before[ed.cid] for ed in eds[:2]), f"seed={seed} {acked_before}"
        assert eds[0].client.url != victim.ws(doc)
    finally:
        victim.kill()
    assert_no_server_errors([p1, p2])


async def test_redis_outage(database: str, http: httpx.AsyncClient, tmp_path: Path) -> None:
    """Redis dies mid-session: commits go on (acks keep coming); a process that missed
    revisions serves a client that has them; once Redis is back, everyone converges."""
    redis_server_binary()
    seed, doc = new_seed(), new_doc()
    redis = RedisServer(log_path=tmp_path / "redis.log")
    await redis.start()
    servers: list[ServerProcess] = []
    try:
        servers = await start_servers(3, database, redis.url, tmp_path)
        p1, p2, _ = servers
        urls = [[s.ws(doc)] for s in servers for _ in range(2)]
        async with editors(doc, urls, seed) as eds:
            await asyncio.gather(*(ed.edit(10) for ed in eds))
            await audit(http, servers, doc, eds, seed)

            redis.kill()
            await asyncio.gather(*(ed.edit(10) for ed in eds))  # every op acknowledged
            # Only process 1's clients edit now: the others cannot hear of it.
            await asyncio.gather(*(ed.edit(5) for ed in eds[:2]))
            latest = max(ed.client.rev for ed in eds[:2])

            # A client coming from process 1 with revision `latest` to process 2, which has
            # not seen it: it is served from its revision on, and may edit on top of it.
            async with connect(p2.ws(doc), open_timeout=TIMEOUT) as ws:
                welcome = await hello(ws, f"mover-{uuid.uuid4().hex[:6]}", rev=latest)
                assert welcome["rev"] >= latest and "text" not in welcome, welcome
                rev = welcome["rev"]
                for rec in welcome["ops"]:
                    assert rec["rev"] <= rev
                p1_rev, p1_text = await doc_state(http, p1.url, doc)
                assert p1_rev == rev
                await send_op(ws, rev, 1, [len(p1_text), "↩"])
                reply = await recv_type(ws, "ack")
                assert reply["seq"] == 1

            await redis.start()
            log = await audit(http, servers, doc, eds, seed)
        assert len(log) == 6 * 20 + 2 * 5 + 1
    finally:
        stop_servers(servers)
        redis.kill()
    assert_no_server_errors(servers)
