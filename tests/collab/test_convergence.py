"""Convergence and durability end to end: real clients, real server, real SQLite file.

* several :class:`collab.client.CollabClient` editing at once end with the same text as the
  server;
* an operation whose ack was lost is resent and committed once;
* a client that missed many revisions catches up with operations, not the full text;
* the text at any revision (``GET /revisions/{r}``) is what a client saw at ``r``;
* a restart on the same database keeps everything, seq deduplication included;
* a real editing trace replayed through the server ends at the expected text.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import random
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collab.client import CollabClient
from collab.store.base import DuplicateOperation, NewOp
from ot import TextOperation
from tests.collab.conftest import RunningServer, ServerFactory
from tests.collab.helpers import (
    all_ops,
    doc_text,
    http_client,
    raw_client,
    splice,
)

DOC = "shared"

# Inserted pieces: ASCII, newlines, accents, emoji (one code point, two UTF-16 units), an emoji
# with a skin-tone modifier (two code points) and a combining mark.
PIECES = ["a", "bc", " ", "\n", "é", "ß", "😀", "👍🏽", "e\u0301", "日本", "x\ny"]


@contextlib.asynccontextmanager
async def clients(
    server: RunningServer, n: int, doc: str = DOC, prefix: str = "c"
) -> AsyncIterator[list[CollabClient]]:
    """``n`` connected clients with quick reconnects, closed at the end."""
    cs = [
        CollabClient(
            server.ws(doc),
            client_id=f"{prefix}{i}",
            user={"name": f"user {i}"},
            backoff_base=0.01,
            backoff_max=0.05,
        )
        for i in range(n)
    ]
    try:
        for c in cs:
            await c.connect()
        yield cs
    finally:
        for c in cs:
            await c.close()


def random_edit(c: CollabClient, rng: random.Random) -> None:
    """One random local edit: insert, delete or replace, anywhere."""
    length = len(c.text)
    pos = rng.randint(0, length)
    kind = rng.random()
    if kind < 0.55 or pos == length:
        c.insert(pos, rng.choice(PIECES))
    elif kind < 0.85:
        c.delete(pos, rng.randint(1, min(3, length - pos)))
    else:
        c.replace(pos, rng.randint(1, min(5, length - pos)), rng.choice(PIECES))


async def settle(server: RunningServer, cs: list[CollabClient], doc: str = DOC) -> tuple[int, str]:
    """Wait until every client's edits are acknowledged and every client holds the last
    revision; return the server's ``(rev, text)``."""
    for c in cs:
        await c.wait_synced()
    async with http_client(server) as http:
        rev, text = await doc_text(http, doc)
    for c in cs:
        await c.wait_for_rev(rev)
    return rev, text


def assert_seqs_contiguous(ops: list[dict[str, Any]]) -> None:
    """Each client's operations in the log have seq 1, 2, 3, ...: none lost, none twice."""
    by_client: dict[str, list[int]] = {}
    for rec in ops:
        by_client.setdefault(rec["client"], []).append(rec["seq"])
    for client, seqs in by_client.items():
        assert seqs == list(range(1, len(seqs) + 1)), (client, seqs)


# -- convergence -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
async def test_five_clients_editing_at_once_converge(server: RunningServer, seed: int) -> None:
    rng = random.Random(seed)
    async with clients(server, 5) as cs:
        for _ in range(60):
            for c in rng.sample(cs, rng.randint(1, len(cs))):
                random_edit(c, rng)
            # Let a random amount of traffic through before the next edits, so that edits
            # meet the server at different revisions.
            choice = rng.random()
            if choice < 0.3:
                await rng.choice(cs).wait_synced()
            elif choice < 0.9:
                for _ in range(rng.randint(0, 6)):
                    await asyncio.sleep(0)
            else:
                rng.choice(cs).drop_connection()  # a network failure: reconnect and resend
        rev, text = await settle(server, cs)
        assert [c.text for c in cs] == [text] * len(cs)
        assert all(c.pending is None and c.rev == rev for c in cs)
    async with http_client(server) as http:
        ops = await all_ops(http, DOC)
        assert [r["rev"] for r in ops] == list(range(1, rev + 1))
        assert_seqs_contiguous(ops)
        replayed = ""
        for rec in ops:
            replayed = TextOperation.from_json(rec["op"]).apply(replayed)
        assert replayed == text


# -- lost acks -------------------------------------------------------------------------------


async def test_resend_after_a_lost_ack_is_deduplicated(server: RunningServer) -> None:
    async with raw_client(server, DOC) as watcher:
        async with raw_client(server, DOC) as a:
            await a.op(0, 1, ["sent once"])
            # The server committed it (the watcher sees it) but ``a`` never reads its ack:
            # the connection is cut first.
            assert (await watcher.recv_type("op"))["client"] == a.client
            a.ws.transport.abort()
        async with raw_client(server, DOC, client=a.client) as again:
            assert again.welcome["seq"] == 1
            await again.op(0, 1, ["sent once"])
            assert await again.recv() == {"type": "ack", "seq": 1, "rev": 1}
        async with raw_client(server, DOC, client=a.client, rev=0) as caught_up:
            # Reconnecting with a revision shows the client its own op among the catch-up.
            assert [(r["client"], r["seq"]) for r in caught_up.welcome["ops"]] == [(a.client, 1)]
        await watcher.expect_quiet(0.05, ignore=("join", "leave"))
    async with http_client(server) as http:
        ops = await all_ops(http, DOC)
        assert [(r["client"], r["seq"], r["op"]) for r in ops] == [(a.client, 1, ["sent once"])]


async def test_collab_client_losing_its_ack_commits_once(server: RunningServer) -> None:
    async with clients(server, 2) as (a, b):
        lost: list[dict[str, Any]] = []
        handle = a._handle

        def lossy(msg: dict[str, Any]) -> None:
            # The network fails right after the server sent the first ack.
            if msg.get("type") == "ack" and not lost:
                lost.append(msg)
                a.drop_connection()
                return
            handle(msg)

        a._handle = lossy  # type: ignore[method-assign]
        a.insert(0, "typed once ")
        await a.wait_synced()
        assert lost == [{"type": "ack", "seq": 1, "rev": 1}]
        a.insert(len(a.text), "then more")
        _, text = await settle(server, [a, b])
        assert a.text == b.text == text == "typed once then more"
    async with http_client(server) as http:
        ops = await all_ops(http, DOC)
    assert [(r["client"], r["seq"]) for r in ops] == [(a.client_id, 1), (a.client_id, 2)]


async def test_collab_client_dropping_right_after_an_edit_commits_it_once(
    server: RunningServer,
) -> None:
    async with clients(server, 2) as (a, b):
        for i in range(10):
            a.insert(len(a.text), f"{i};")
            a.drop_connection()  # before or after the op left: either way, exactly once
            await a.wait_synced()
        await settle(server, [a, b])
        assert a.text == b.text == "".join(f"{i};" for i in range(10))
    async with http_client(server) as http:
        ops = await all_ops(http, DOC)
    assert [r["seq"] for r in ops] == list(range(1, 11))


# -- catching up -----------------------------------------------------------------------------


async def commit_burst(server: RunningServer, doc: str, total: int, writers: int = 3) -> None:
    """``total`` operations committed by ``writers`` clients at once, each pipelining its
    share against the revision it joined at (the server rebases them)."""
    async with contextlib.AsyncExitStack() as stack:
        ws = [await stack.enter_async_context(raw_client(server, doc)) for _ in range(writers)]

        async def write(w: Any, n: int) -> None:
            rev, length = w.welcome["rev"], len(w.welcome["text"])
            for seq in range(1, n + 1):
                tag = f"<{w.client[-3:]}{seq}>"
                await w.op(rev, seq, [length, tag] if length else [tag])
            for _ in range(n):
                await w.recv_type("ack")

        share = total // writers
        await asyncio.gather(
            *(write(w, share + (total % writers if i == 0 else 0)) for i, w in enumerate(ws))
        )


async def test_catch_up_after_300_revisions_is_ops_not_text(server: RunningServer) -> None:
    async with raw_client(server, DOC) as a:
        await a.commit(0, 1, ["start\n"])
    await commit_burst(server, DOC, 300)
    async with raw_client(server, DOC, client=a.client, rev=1) as back:
        assert "text" not in back.welcome
        ops = back.welcome["ops"]
        assert back.welcome["rev"] == 301
        assert [r["rev"] for r in ops] == list(range(2, 302))
        text = "start\n"
        for rec in ops:
            text = TextOperation.from_json(rec["op"]).apply(text)
    async with http_client(server) as http:
        assert await doc_text(http, DOC) == (301, text)


async def test_collab_client_offline_during_300_revisions_catches_up_without_reset(
    server: RunningServer,
) -> None:
    async with clients(server, 1) as (c,):
        resets: list[dict[str, Any]] = []
        c.on("reset", resets.append)
        c.insert(0, "mine\n")
        await c.wait_synced()
        # A network outage: every reconnect attempt fails until the address is back.
        url, c.url = c.url, "ws://127.0.0.1:9/unreachable"
        c.drop_connection()
        c.insert(0, "offline edit\n")  # buffered while offline
        await commit_burst(server, DOC, 300)
        c.url = url
        rev, text = await settle(server, [c])
        assert rev == 302 and c.text == text
        assert text.startswith("offline edit\nmine\n")
        assert resets == []


# -- history -------------------------------------------------------------------------------


async def test_text_at_any_revision_is_what_clients_saw(server: RunningServer) -> None:
    rng = random.Random(7)
    seen: dict[int, str] = {0: ""}
    disagreements: list[tuple[str, int, str, str]] = []
    async with clients(server, 4) as cs:
        editors, watcher = cs[:3], cs[3]

        def record(c: CollabClient) -> None:
            if c.pending is None:  # the local text is exactly the document at c.rev
                known = seen.setdefault(c.rev, c.text)
                if known != c.text:
                    disagreements.append((c.client_id, c.rev, known, c.text))

        def on_change(c: CollabClient) -> Callable[[dict[str, Any]], None]:
            return lambda _event: record(c)

        for c in cs:
            c.on("change", on_change(c))
        for _ in range(40):
            for c in rng.sample(editors, rng.randint(1, 3)):
                random_edit(c, rng)
            await rng.choice(editors).wait_synced()
            for c in editors:
                record(c)
        rev, _ = await settle(server, cs)
        for c in cs:
            record(c)
        assert watcher.text == seen[rev]
    assert disagreements == []
    assert len(seen) == rev + 1  # the watcher alone saw every revision
    async with http_client(server) as http:
        for r, text in sorted(seen.items()):
            resp = await http.get(f"/api/docs/{DOC}/revisions/{r}")
            assert resp.status_code == 200
            assert resp.json() == {"id": DOC, "rev": r, "text": text}


# -- restart ---------------------------------------------------------------------------------


async def test_restart_on_the_same_database_keeps_everything(
    server_factory: ServerFactory,
) -> None:
    first = await server_factory(autosave_every=7)
    rng = random.Random(3)
    async with clients(first, 3) as cs:
        cs[0].insert(0, "c0 was here\n")
        for _ in range(25):
            random_edit(rng.choice(cs), rng)
            await rng.choice(cs).wait_synced()
        rev, text = await settle(first, cs)
    async with http_client(first) as http:
        r = await http.post(f"/api/docs/{DOC}/versions", json={"label": "v1"})
        assert r.status_code == 201
        before = {
            "doc": await doc_text(http, DOC),
            "ops": await all_ops(http, DOC),
            "versions": (await http.get(f"/api/docs/{DOC}/versions")).json(),
            "middle": (await http.get(f"/api/docs/{DOC}/revisions/{rev // 2}")).json(),
        }
    last = next(r for r in reversed(before["ops"]) if r["client"] == "c0")
    await first.stop()

    second = await server_factory(autosave_every=7)
    async with http_client(second) as http:
        after = {
            "doc": await doc_text(http, DOC),
            "ops": await all_ops(http, DOC),
            "versions": (await http.get(f"/api/docs/{DOC}/versions")).json(),
            "middle": (await http.get(f"/api/docs/{DOC}/revisions/{rev // 2}")).json(),
        }
    # Stopping saves a last auto version (and snapshot) if the last edits had none yet.
    extra = [v for v in after["versions"] if v not in before["versions"]]
    assert all((v["kind"], v["rev"]) == ("auto", rev) for v in extra), extra
    after["versions"] = [v for v in after["versions"] if v not in extra]
    assert after == before
    assert after["doc"] == (rev, text)
    # The client's seq survives: a resend of its last op is acknowledged, not applied again.
    async with raw_client(second, DOC, client="c0") as c0:
        assert c0.welcome["seq"] == last["seq"]
        await c0.op(0, last["seq"], ["resent"])
        assert await c0.recv() == {"type": "ack", "seq": last["seq"], "rev": last["rev"]}
        # ... and the next seq is a new operation.
        assert await c0.commit(rev, last["seq"] + 1, [len(text), "!"]) == rev + 1
    # The database itself refuses a second (client, seq), whatever process commits it.
    with pytest.raises(DuplicateOperation):
        await second.services.store.commit(
            DOC, [NewOp(rev + 2, [len(text) + 1, "?"], "c0", last["seq"])]
        )
    async with http_client(second) as http:
        assert await doc_text(http, DOC) == (rev + 1, text + "!")


# -- a real editing trace ----------------------------------------------------------------------


TRACES = Path(os.environ.get("COLLAB_TRACES_DIR", "/work/shared/traces"))
TRACE = TRACES / "sequential" / "friendsforever_flat.json.gz"
# A prefix keeps the suite fast; COLLAB_TRACE_TXNS=0 replays the whole trace.
TRACE_TXNS = int(os.environ.get("COLLAB_TRACE_TXNS", "2000"))


def trace_patches() -> Iterator[tuple[int, int, str]]:
    with gzip.open(TRACE, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    txns = trace["txns"] if TRACE_TXNS <= 0 else trace["txns"][:TRACE_TXNS]
    for txn in txns:
        for pos, delete, insert in txn["patches"]:
            yield int(pos), int(delete), str(insert)


@pytest.mark.skipif(not TRACE.exists(), reason=f"trace not found: {TRACE} (COLLAB_TRACES_DIR)")
async def test_sequential_trace_replayed_by_three_clients_taking_turns(
    server: RunningServer,
) -> None:
    with gzip.open(TRACE, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    expected = trace["startContent"]
    async with clients(server, 3) as cs:
        latest = 0
        for i, (pos, delete, insert) in enumerate(trace_patches()):
            c = cs[i % 3]
            # A client takes its turn once it holds the latest revision and nothing pending.
            await c.wait_for_rev(latest)
            c.replace(pos, delete, insert)
            await c.wait_synced()
            latest = c.rev
            expected = splice(expected, pos, delete, insert)
        rev, text = await settle(server, cs)
        assert rev == latest
        assert text == expected
        assert [c.text for c in cs] == [expected] * 3
    if TRACE_TXNS <= 0 or len(trace["txns"]) <= TRACE_TXNS:
        assert expected == trace["endContent"]
