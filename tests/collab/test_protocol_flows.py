"""Every message flow of the WebSocket session (PROTOCOL §3 and §7), over real sockets.

The tests speak the protocol by hand (:mod:`tests.collab.helpers`), so what is asserted is
exactly what a third-party client sees. They share one server per module (see
``shared_server`` in conftest), each on its own document ``doc``; the flows that need other
settings (limits, timeouts) are in ``test_protocol_limits.py``.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from tests.collab.conftest import RunningServer
from tests.collab.helpers import (
    RawClient,
    all_ops,
    create_doc,
    doc_text,
    http_client,
    new_client_id,
    raw_client,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def server(shared_server: RunningServer) -> RunningServer:
    return shared_server


@pytest.fixture
def doc(doc_id: str) -> str:
    return doc_id


# -- opening ---------------------------------------------------------------------------------


async def test_hello_without_rev_gets_the_full_text(server: RunningServer, doc: str) -> None:
    await create_doc(server, doc, "héllo 👋")
    async with raw_client(server, doc) as a:
        assert a.welcome == {
            "type": "welcome",
            "doc": doc,
            "rev": 0,
            "role": "edit",
            "text": "héllo 👋",
            "seq": 0,
            "peers": [],
        }


async def test_connecting_to_a_missing_document_creates_it(server: RunningServer, doc: str) -> None:
    async with raw_client(server, doc) as a:
        assert a.welcome["text"] == "" and a.welcome["rev"] == 0
    async with http_client(server) as http:
        assert await doc_text(http, doc) == (0, "")


async def test_hello_with_a_usable_rev_gets_the_ops_after_it(
    server: RunningServer, doc: str
) -> None:
    user = {"name": "Ada", "color": "#e91e63"}
    async with raw_client(server, doc, user=user) as a:
        await a.commit(0, 1, ["ab"])
        await a.commit(1, 2, [2, "c"])
        await a.commit(2, 3, [1, -1, 1])
    async with raw_client(server, doc, rev=1) as b:
        assert "text" not in b.welcome
        assert b.welcome["rev"] == 3
        assert b.welcome["ops"] == [
            {"rev": 2, "op": [2, "c"], "client": a.client, "seq": 2, "user": user},
            {"rev": 3, "op": [1, -1, 1], "client": a.client, "seq": 3, "user": user},
        ]
    async with raw_client(server, doc, rev=3) as c:
        assert c.welcome["ops"] == [] and "text" not in c.welcome
    async with raw_client(server, doc, rev=0) as d:
        assert [r["rev"] for r in d.welcome["ops"]] == [1, 2, 3]


@pytest.mark.parametrize("rev", [-1, 4, 10**9])
async def test_hello_with_an_unusable_rev_gets_the_text_and_no_error(
    server: RunningServer, doc: str, rev: int
) -> None:
    async with raw_client(server, doc) as a:
        await a.commit(0, 1, ["abc"])
    async with raw_client(server, doc, rev=rev) as b:
        assert "ops" not in b.welcome
        assert b.welcome["text"] == "abc" and b.welcome["rev"] == 1
        await b.ping()  # no error came before the pong


async def test_welcome_seq_is_the_highest_committed_seq_of_the_client(
    server: RunningServer,
    doc: str,
) -> None:
    async with raw_client(server, doc) as a:
        await a.commit(0, 1, ["a"])
        await a.commit(1, 2, ["b", 1])
    async with raw_client(server, doc, client=a.client) as again:
        assert again.welcome["seq"] == 2
    async with raw_client(server, doc) as other:
        assert other.welcome["seq"] == 0


async def test_peers_join_and_leave(server: RunningServer, doc: str) -> None:
    await create_doc(server, doc, "hello")
    # Open mode forwards the user object as given (once valid), extra fields included.
    ada, bob = {"name": "Ada", "color": "#e91e63"}, {"name": "Bob", "avatar": "🐱"}
    async with raw_client(server, doc, user=ada) as a:
        async with raw_client(server, doc, user=bob) as b:
            assert b.welcome["peers"] == [
                {"client": a.client, "user": ada, "rev": 0, "selection": None}
            ]
            # A join carries no selection.
            assert await a.recv() == {"type": "join", "client": b.client, "user": bob}
            await a.presence(0, [[1, 3]])
            assert await b.recv() == {
                "type": "presence",
                "client": a.client,
                "user": ada,
                "rev": 0,
                "selection": [[1, 3]],
            }
            async with raw_client(server, doc, user={}) as c:
                peers = {p["client"]: p for p in c.welcome["peers"]}
                assert peers == {
                    a.client: {"client": a.client, "user": ada, "rev": 0, "selection": [[1, 3]]},
                    b.client: {"client": b.client, "user": bob, "rev": 0, "selection": None},
                }
            assert await a.recv() == {"type": "join", "client": c.client, "user": {}}
            assert await a.recv() == {"type": "leave", "client": c.client}
        assert await a.recv() == {"type": "leave", "client": b.client}


async def test_absent_user_is_an_empty_object(server: RunningServer, doc: str) -> None:
    async with raw_client(server, doc) as a, connect(server.ws(doc)) as ws:
        b = RawClient(ws, new_client_id())
        await b.send({"type": "hello", "protocol": 1, "client": b.client})
        await b.recv_type("welcome")
        assert await a.recv() == {"type": "join", "client": b.client, "user": {}}


# -- editing ---------------------------------------------------------------------------------


async def test_op_is_acked_to_its_sender_and_sent_to_the_others(
    server: RunningServer, doc: str
) -> None:
    user = {"name": "Ada", "color": "#00ff00"}
    async with raw_client(server, doc, user=user) as a, raw_client(server, doc) as b:
        await a.recv_type("join")
        await a.op(0, 1, ["hi 🙂"])
        assert await a.recv() == {"type": "ack", "seq": 1, "rev": 1}
        assert await b.recv() == {
            "type": "op",
            "rev": 1,
            "op": ["hi 🙂"],
            "client": a.client,
            "seq": 1,
            "user": user,
        }
        # An operation on an old revision is transformed; the others get the transformed one.
        await b.op(0, 1, ["<"])
        assert await b.recv() == {"type": "ack", "seq": 1, "rev": 2}
        op = await a.recv()
        assert op["rev"] == 2 and op["op"] == ["<", 4] and op["client"] == b.client
        async with http_client(server) as http:
            assert await doc_text(http, doc) == (2, "<hi 🙂")


async def test_every_session_sees_every_revision_once_and_in_order(
    server: RunningServer,
    doc: str,
) -> None:
    per_client = 12

    async def edit(c: RawClient, seen: list[int]) -> None:
        for seq in range(1, per_client + 1):
            # Always against revision 0 (the empty document): the server rebases it.
            await c.op(0, seq, [c.client[-1]])
            while True:
                msg = await c.recv_type("ack", "op")
                seen.append(msg["rev"])
                if msg["type"] == "ack" and msg["seq"] == seq:
                    break

    async with (
        raw_client(server, doc, client="c1") as a,
        raw_client(server, doc, client="c2") as b,
        raw_client(server, doc, client="c3") as c,
        raw_client(server, doc, client="watcher") as w,
    ):
        clients = [a, b, c]
        seen: list[list[int]] = [[], [], []]
        await asyncio.gather(*(edit(x, s) for x, s in zip(clients, seen, strict=True)))
        total = 3 * per_client
        for x, s in zip(clients, seen, strict=True):
            while len(s) < total:
                s.append((await x.recv_type("op"))["rev"])
            assert s == list(range(1, total + 1))
        watched = [(await w.recv_type("op"))["rev"] for _ in range(total)]
        assert watched == list(range(1, total + 1))
        async with http_client(server) as http:
            rev, text = await doc_text(http, doc)
        assert rev == total and sorted(text) == sorted("1" * 12 + "2" * 12 + "3" * 12)


async def test_duplicate_on_the_same_connection_is_acked_with_its_original_rev(
    server: RunningServer,
    doc: str,
) -> None:
    async with raw_client(server, doc) as a, raw_client(server, doc) as b:
        await a.recv_type("join")
        assert await a.commit(0, 1, ["abc"]) == 1
        assert (await b.recv_type("op"))["rev"] == 1
        assert await b.commit(1, 1, [3, "!"]) == 2
        assert (await a.recv_type("op"))["rev"] == 2
        # Bodies and revisions are not compared: a committed (client, seq) is an ack.
        await a.op(2, 1, ["zzz", 4])
        assert await a.recv() == {"type": "ack", "seq": 1, "rev": 1}
        await a.op(99, 1, [1, "neither rev nor base length fit"])
        assert await a.recv() == {"type": "ack", "seq": 1, "rev": 1}
        await b.expect_quiet()
        async with http_client(server) as http:
            assert await doc_text(http, doc) == (2, "abc!")
            assert len(await all_ops(http, doc)) == 2


async def test_a_duplicate_in_the_same_batch_is_committed_once(
    server: RunningServer, doc: str
) -> None:
    async with raw_client(server, doc) as a, raw_client(server, doc) as b:
        await a.recv_type("join")
        for _ in range(3):  # pipelined: the server may see them in one batch
            await a.op(0, 1, ["once"])
        assert [await a.recv() for _ in range(3)] == [{"type": "ack", "seq": 1, "rev": 1}] * 3
        assert (await b.recv())["rev"] == 1
        await b.expect_quiet()
    async with http_client(server) as http:
        assert await doc_text(http, doc) == (1, "once")


async def test_duplicate_after_reconnect_is_acked_with_its_original_rev(
    server: RunningServer,
    doc: str,
) -> None:
    async with raw_client(server, doc) as a:
        await a.commit(0, 1, ["one "])
        await a.commit(1, 2, [4, "two"])
    async with raw_client(server, doc) as b:
        await b.commit(2, 1, ["0 ", 7])
    async with raw_client(server, doc, client=a.client) as again:
        assert again.welcome["seq"] == 2
        await again.op(3, 1, ["one ", 9])
        assert await again.recv() == {"type": "ack", "seq": 1, "rev": 1}
        await again.op(3, 2, [9, "two"])
        assert await again.recv() == {"type": "ack", "seq": 2, "rev": 2}
        # The next new seq is 3.
        assert await again.commit(3, 3, [9, "."]) == 4
    async with http_client(server) as http:
        assert await doc_text(http, doc) == (4, "0 one two.")


async def test_a_seq_that_skips_ahead_is_bad_seq(server: RunningServer, doc: str) -> None:
    async with raw_client(server, doc) as a:
        await a.op(0, 2, ["x"])
        err = await a.error()
        assert (err["code"], err["seq"]) == ("bad_seq", 2)
        assert await a.commit(0, 1, ["a"]) == 1
        await a.op(1, 3, [1, "x"])
        err = await a.error()
        assert (err["code"], err["seq"]) == ("bad_seq", 3)
        assert await a.commit(1, 2, [1, "b"]) == 2
    async with http_client(server) as http:
        assert await doc_text(http, doc) == (2, "ab")


async def test_a_rejected_op_does_not_use_up_its_seq(server: RunningServer, doc: str) -> None:
    await create_doc(server, doc, "hello")
    async with raw_client(server, doc) as a, raw_client(server, doc) as b:
        await a.recv_type("join")
        await a.op(0, 1, [4])  # base length 4, the document has 5
        err = await a.error()
        assert (err["code"], err["seq"]) == ("bad_op", 1)
        await a.op(7, 1, [5, "!"])
        err = await a.error()
        assert (err["code"], err["seq"]) == ("bad_rev", 1)
        # Seq 1 is still free: this is a new operation, committed and broadcast.
        assert await a.commit(0, 1, [5, "!"]) == 1
        assert (await b.recv_type("op"))["op"] == [5, "!"]
        await a.op(1, 2, [-1])
        assert (await a.error())["code"] == "bad_op"
        assert await a.commit(1, 2, [-1, 5]) == 2
    async with http_client(server) as http:
        assert await doc_text(http, doc) == (2, "ello!")


@pytest.mark.parametrize("rev", [-1, 2, 1000])
async def test_a_rev_outside_the_history_is_bad_rev(
    server: RunningServer, doc: str, rev: int
) -> None:
    async with raw_client(server, doc) as a:
        await a.commit(0, 1, ["a"])
        await a.op(rev, 2, [1, "b"])
        err = await a.error()
        assert (err["code"], err["seq"]) == ("bad_rev", 2)
        assert await a.commit(1, 2, [1, "b"]) == 2


# -- presence --------------------------------------------------------------------------------


async def test_presence_is_transformed_to_the_current_revision(
    server: RunningServer, doc: str
) -> None:
    await create_doc(server, doc, "hello")
    async with raw_client(server, doc) as a, raw_client(server, doc) as b:
        await a.recv_type("join")
        assert await b.commit(0, 1, ["XX", 5]) == 1  # "XXhello"
        # ``a`` has not read revision 1 yet: its selection is in revision 0's coordinates.
        await a.presence(0, [[1, 3]])
        msg = await b.recv_type("presence")
        assert (msg["rev"], msg["selection"]) == (1, [[3, 5]])
        # A caret exactly where the other inserted moves after the inserted text.
        await a.presence(0, [[0, 0], [5, 2]])
        msg = await b.recv_type("presence")
        assert (msg["rev"], msg["selection"]) == (1, [[2, 2], [7, 4]])
        await a.presence(1, None)
        msg = await b.recv_type("presence")
        assert (msg["rev"], msg["selection"]) == (1, None)


@pytest.mark.parametrize("rev", [-1, 5])
async def test_presence_with_a_rev_outside_the_history_is_dropped_with_bad_rev(
    server: RunningServer, doc: str, rev: int
) -> None:
    await create_doc(server, doc, "hello")
    async with raw_client(server, doc) as a, raw_client(server, doc) as b:
        await a.recv_type("join")
        await a.presence(rev, [[0, 0]])
        assert (await a.error())["code"] == "bad_rev"
        await b.expect_quiet()


async def test_presence_is_throttled_and_the_latest_update_is_delivered(
    server: RunningServer,
    doc: str,
) -> None:
    await create_doc(server, doc, "x" * 100)
    async with raw_client(server, doc) as a, raw_client(server, doc) as b:
        await a.recv_type("join")
        loop = asyncio.get_running_loop()
        n = 30
        for i in range(n):  # one burst, far faster than one per 50 ms
            await a.presence(0, [[i, i]])
        got: list[tuple[float, int]] = []
        while not got or got[-1][1] != n - 1:
            msg = await b.recv_type("presence")
            got.append((loop.time(), msg["selection"][0][0]))
        # Leading edge: the first update went out at once; trailing edge: the last arrived.
        assert got[0][1] == 0
        # Forwarded in order, and no more than one per 50 ms (with slack for timer jitter).
        positions = [p for _, p in got]
        assert positions == sorted(positions)
        span = got[-1][0] - got[0][0]
        assert len(got) <= 2 + span / 0.04, got
        assert len(got) < n
        await b.expect_quiet()


# -- keep-alive and misuse -------------------------------------------------------------------


async def test_ping_is_answered_with_pong(server: RunningServer, doc: str) -> None:
    async with raw_client(server, doc) as a:
        await a.send({"type": "ping"})
        assert await a.recv() == {"type": "pong"}


async def test_a_second_hello_is_bad_message_and_the_session_stays_open(
    server: RunningServer,
    doc: str,
) -> None:
    async with raw_client(server, doc) as a:
        await a.send({"type": "hello", "protocol": 1, "client": a.client})
        err = await a.recv()
        assert err["type"] == "error" and err["code"] == "bad_message"
        assert "seq" not in err
        assert await a.commit(0, 1, ["still editing"]) == 1


@pytest.mark.parametrize("after_hello", [True, False])
async def test_a_binary_frame_closes_with_1003(
    server: RunningServer, doc: str, after_hello: bool
) -> None:
    async with raw_client(server, doc, hello=after_hello) as a:
        await a.send(b'{"type": "ping"}')
        assert await a.closed() == 1003


async def test_a_newer_connection_of_the_same_client_replaces_the_older_with_4409(
    server: RunningServer,
    doc: str,
) -> None:
    async with raw_client(server, doc) as old, raw_client(server, doc) as b:
        await old.commit(0, 1, ["a"])
        await b.recv_type("op")
        async with raw_client(server, doc, client=old.client) as new:
            assert await old.closed() == 4409
            assert new.welcome["seq"] == 1
            assert [p["client"] for p in new.welcome["peers"]] == [b.client]
            join = {"type": "join", "client": old.client, "user": {"name": old.client}}
            assert await b.recv() == join
            assert await new.commit(1, 2, [1, "b"]) == 2
            # ``b`` sees the new connection's edit, and no "leave" for the replaced one.
            assert (await b.recv())["type"] == "op"
            await b.expect_quiet()


async def test_deleting_a_document_closes_its_sessions_with_4410(
    server: RunningServer, doc: str
) -> None:
    async with raw_client(server, doc) as a, raw_client(server, doc) as b:
        await a.commit(0, 1, ["doomed"])
        async with http_client(server) as http:
            assert (await http.delete(f"/api/docs/{doc}")).status_code == 204
            assert await a.closed() == 4410
            assert await b.closed() == 4410
            assert (await http.get(f"/api/docs/{doc}")).status_code == 404
    # The id is free again: connecting creates a new, empty document.
    async with raw_client(server, doc, client=a.client) as again:
        assert (again.welcome["rev"], again.welcome["text"], again.welcome["seq"]) == (0, "", 0)
