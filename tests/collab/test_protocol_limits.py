"""Flows of the WebSocket session that depend on server settings (PROTOCOL §3 and §7): the
hello timeout, the message size limit, the document size limit, the op rate and the error
budget. Each test starts a server with the setting it needs (``server_factory``)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from websockets.exceptions import ConnectionClosed

from tests.collab.conftest import ServerFactory
from tests.collab.helpers import doc_text, http_client, raw_client

DOC = "limits"


async def test_no_hello_in_time_closes_with_4408(server_factory: ServerFactory) -> None:
    server = await server_factory(hello_timeout=0.3)
    async with raw_client(server, DOC, hello=False) as a:
        assert await a.closed() == 4408


# -- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "closes"),
    [
        ("x" * 900, False),
        ("x" * 1100, True),
        # 600 code points but 1,200 UTF-8 bytes: the limit counts bytes.
        ("é" * 600, True),
    ],
)
async def test_a_frame_over_max_message_bytes_closes_with_1009(
    server_factory: ServerFactory, text: str, closes: bool
) -> None:
    server = await server_factory(max_message_bytes=1024)
    async with raw_client(server, DOC) as a:
        await a.op(0, 1, [text])
        if closes:
            assert await a.closed() == 1009
        else:
            assert (await a.recv())["type"] == "ack"


async def test_an_op_over_max_doc_chars_is_too_large_and_the_session_stays_open(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(max_doc_chars=10)
    async with raw_client(server, DOC) as a, raw_client(server, DOC) as b:
        await a.recv_type("join")
        assert await a.commit(0, 1, ["0123456789"]) == 1
        await b.recv_type("op")
        await a.op(1, 2, [10, "x"])
        err = await a.error()
        assert (err["code"], err["seq"]) == ("too_large", 2)
        # Shrinking, or staying at the limit, is fine even for an over-long document.
        assert await a.commit(1, 2, ["ab", -2, 8]) == 2
        assert (await b.recv_type("op"))["rev"] == 2
        await b.expect_quiet()
    async with http_client(server) as http:
        assert await doc_text(http, DOC) == (2, "ab23456789")


async def test_ops_over_the_rate_are_rate_limited_and_can_be_resent(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(ops_per_second=10, ops_burst=3)
    async with raw_client(server, DOC) as a, raw_client(server, DOC) as b:
        await a.recv_type("join")
        for seq in range(1, 5):  # pipelined, all against the empty document
            await a.op(0, seq, [str(seq)])
        replies = [await a.recv_type("ack", "error") for _ in range(4)]
        acks = sorted((m["seq"], m["rev"]) for m in replies if m["type"] == "ack")
        errors = [(m["code"], m["seq"]) for m in replies if m["type"] == "error"]
        assert acks == [(1, 1), (2, 2), (3, 3)]
        assert errors == [("rate_limited", 4)]
        # Duplicates count too; pings and presence have their own budgets.
        await a.op(0, 1, ["1"])
        assert (await a.error())["code"] == "rate_limited"
        await a.ping()
        await a.presence(0, None)
        assert (await b.recv_type("presence"))["client"] == a.client
        # The budget refills with time (10 per second): resend the same seq later.
        await asyncio.sleep(0.25)
        assert await a.commit(0, 4, ["4"]) == 4
    async with http_client(server) as http:
        rev, text = await doc_text(http, DOC)
        assert rev == 4 and sorted(text) == ["1", "2", "3", "4"]


async def test_too_many_errors_close_with_4429_and_others_keep_editing(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(max_errors=5)
    async with raw_client(server, DOC) as a, raw_client(server, DOC) as b:
        for _ in range(20):
            await a.send("not json")
        errors = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                msg = await a.recv_type("error")
                assert msg["code"] == "bad_message"
                errors += 1
        assert a.ws.close_code == 4429
        assert errors <= 5
        assert await b.commit(0, 1, ["fine"]) == 1


async def test_revisions_older_than_the_memory_window_are_read_from_the_store(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(history_window=4)
    letters = "abcdefghijklmnopqrstuvwxyz"
    async with raw_client(server, DOC) as a:
        for i, ch in enumerate(letters):
            assert await a.commit(i, i + 1, [i, ch] if i else [ch]) == i + 1
        # An op made at revision 2 is rebased over 24 revisions, most no longer in memory.
        assert await a.commit(2, 27, [2, "!"]) == 27
    # A client that holds revision 1 catches up with ops, including the old ones.
    async with raw_client(server, DOC, rev=1) as b:
        assert "text" not in b.welcome
        assert [r["rev"] for r in b.welcome["ops"]] == list(range(2, 28))
        assert b.welcome["ops"][0]["op"] == [1, "b"]
    async with http_client(server) as http:
        assert await doc_text(http, DOC) == (27, "ab!" + letters[2:])
        r = await http.get(f"/api/docs/{DOC}/revisions/3")
        assert r.json()["text"] == "abc"
