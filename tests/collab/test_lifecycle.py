"""Lifecycle of documents and of the server: idle documents are unloaded, and a graceful
shutdown closes sessions with 1001 without losing or doubling an acknowledged operation."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.collab.conftest import RunningServer, ServerFactory
from tests.collab.helpers import (
    RawClient,
    all_ops,
    doc_text,
    eventually,
    http_client,
    raw_client,
)


def loaded(server: RunningServer, doc: str) -> bool:
    return server.services.rooms.get(doc) is not None


async def unloaded(server: RunningServer, doc: str) -> None:
    async def gone() -> bool:
        return not loaded(server, doc)

    await eventually(gone)


async def test_a_document_without_sessions_is_unloaded_after_the_grace_period(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(unload_grace=0.1)
    async with raw_client(server, "kept") as keeper:
        async with raw_client(server, "left") as c:
            await c.commit(0, 1, ["still here"])
            assert loaded(server, "left")
        await unloaded(server, "left")
        # A document with a session stays, however long the other took to unload.
        assert loaded(server, "kept")
        await keeper.ping()
    # Opening it again loads it from the store, text and seq intact.
    async with raw_client(server, "left", client=c.client) as again:
        assert (again.welcome["text"], again.welcome["rev"], again.welcome["seq"]) == (
            "still here",
            1,
            1,
        )
    await unloaded(server, "left")
    # HTTP reads load a document for a moment too, and let it go.
    async with http_client(server) as http:
        assert await doc_text(http, "left") == (1, "still here")
    await unloaded(server, "left")


async def test_open_documents_do_not_grow_with_documents_ever_opened(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(unload_grace=0.1)
    rooms = server.services.rooms
    for batch in range(3):
        docs = [f"doc-{batch}-{i}" for i in range(10)]
        for doc in docs:
            async with raw_client(server, doc) as c:
                await c.commit(0, 1, [doc])

        async def all_gone() -> bool:
            return len(rooms) == 0

        await eventually(all_gone)
        assert server.services.metrics.documents_open == 0
    async with http_client(server) as http:
        listed = (await http.get("/api/docs", params={"limit": 100})).json()
        assert len(listed) == 30 and all(d["rev"] == 1 for d in listed)


async def drain(c: RawClient) -> tuple[list[dict[str, Any]], int | None]:
    """Everything the server sends until it closes; and the close code."""
    got: list[dict[str, Any]] = []
    with contextlib.suppress(ConnectionClosed):
        while True:
            got.append(await c.recv())
    return got, c.ws.close_code


async def test_graceful_shutdown_closes_with_1001_and_keeps_acked_ops_once(
    server_factory: ServerFactory,
) -> None:
    doc, per_client = "busy", 5
    server = await server_factory()
    async with contextlib.AsyncExitStack() as stack:
        cs = [
            await stack.enter_async_context(raw_client(server, doc, client=f"w{i}"))
            for i in range(3)
        ]
        idle = await stack.enter_async_context(raw_client(server, doc, client="idle"))
        # Operations in flight from every client (each inserts at the start of the empty
        # document as it was at revision 0), and the server is told to stop right away.
        for c in cs:
            for seq in range(1, per_client + 1):
                await c.op(0, seq, [f"{c.client}.{seq} "])
        await server.stop()
        acked: dict[tuple[str, int], int] = {}
        for c in [*cs, idle]:
            got, code = await drain(c)
            assert code == 1001
            for msg in got:
                if msg["type"] == "ack":
                    acked[(c.client, msg["seq"])] = msg["rev"]

    restarted = await server_factory()
    async with http_client(restarted) as http:
        rev, text = await doc_text(http, doc)
        ops = await all_ops(http, doc)
    committed = {(o["client"], o["seq"]): o["rev"] for o in ops}
    assert len(committed) == len(ops) == rev  # no (client, seq) twice
    for key, ack_rev in acked.items():
        assert committed.get(key) == ack_rev  # what was acknowledged is durable, as acked
    # The last snapshot was saved on the way down.
    snap = await restarted.services.store.nearest_snapshot(doc, rev)
    assert snap is not None and (snap.rev, snap.text) == (rev, text)

    # Clients resend everything unacknowledged with the same seqs: each lands exactly once.
    async def resend(client: str) -> None:
        async with raw_client(restarted, doc, client=client) as c:
            start = c.welcome["seq"]
            for seq in range(1, per_client + 1):
                if (client, seq) in acked:
                    continue
                await c.op(0, seq, [f"{client}.{seq} "])
                ack = await c.recv_type("ack")
                assert ack["seq"] == seq
                if seq <= start:  # committed before the shutdown, ack lost: same revision
                    assert ack["rev"] == committed[(client, seq)]

    await asyncio.gather(*(resend(f"w{i}") for i in range(3)))
    async with http_client(restarted) as http:
        ops = await all_ops(http, doc)
        rev, text = await doc_text(http, doc)
    assert sorted((o["client"], o["seq"]) for o in ops) == sorted(
        (f"w{i}", seq) for i in range(3) for seq in range(1, per_client + 1)
    )
    assert sorted(text.split()) == sorted(
        f"w{i}.{seq}" for i in range(3) for seq in range(1, per_client + 1)
    )


async def test_shutdown_delivers_what_was_committed_before_the_close(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory()
    async with raw_client(server, "doc") as a, raw_client(server, "doc") as b:
        await a.recv_type("join")
        assert await a.commit(0, 1, ["before"]) == 1
        await server.stop()
        got, code = await drain(b)
        assert code == 1001
        assert [m["rev"] for m in got if m["type"] == "op"] == [1]
        assert (await drain(a))[1] == 1001
