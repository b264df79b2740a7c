"""Malformed input over real WebSockets (PROTOCOL §3 Errors, §7): each malformed message gets
its error code and changes nothing, while another client keeps editing; each bad hello or
bad document id closes the connection with 4400.

These tables are long, so their tests share one server per module (each test on its own
document) instead of paying a server start and stop per case.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.collab.conftest import RunningServer
from tests.collab.helpers import all_ops, create_doc, doc_text, http_client, raw_client

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def shared(shared_server: RunningServer) -> RunningServer:
    return shared_server


@pytest.fixture
def doc(doc_id: str) -> str:
    return doc_id


# -- closing with 4400 -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["-leading-dash", "a" * 129, "sp%20ace", "caf%C3%A9", ".hidden"])
async def test_a_bad_document_id_closes_with_4400(shared: RunningServer, bad: str) -> None:
    async with raw_client(shared, bad, hello=False) as a:
        await a.send({"type": "hello", "protocol": 1, "client": a.client})
        assert await a.closed() == 4400


BAD_HELLOS: list[Any] = [
    {"user": {"name": "Ada", "color": "red"}},
    {"user": {"color": "#e91e6"}},
    {"user": {"color": "#e91e63 "}},
    {"user": {"color": 0xE91E63}},
    {"user": {"name": "x" * 65}},
    {"user": {"name": 7}},
    {"user": "Ada"},
    {"user": ["Ada"]},
    {"client": ""},
    {"client": "x" * 65},
    {"client": "has space"},
    {"client": "dot.ted"},
    {"client": 12},
    {"client": None},
    {"protocol": 2},
    {"protocol": "1"},
    {"protocol": True},
    {"protocol": 1.0},
    {"protocol": None},
    {"rev": "3"},
    {"rev": 1.0},
    {"rev": True},
    {"token": 5},
    {"type": "ping"},
    {"type": "op", "rev": 0, "seq": 1, "op": ["x"]},
    {"type": "presence", "rev": 0, "selection": None},
    "not json",
    "[]",
]


@pytest.mark.parametrize("change", BAD_HELLOS)
async def test_a_bad_hello_closes_with_4400(shared: RunningServer, doc: str, change: Any) -> None:
    async with raw_client(shared, doc, hello=False) as a:
        if isinstance(change, str):
            await a.send(change)
        else:
            hello = {"type": "hello", "protocol": 1, "client": a.client, "user": {}}
            hello.update(change)
            if change.get("client", "") is None:
                del hello["client"]
            await a.send(hello)
        assert await a.closed() == 4400
    async with http_client(shared) as http:
        # The refused hello created nothing.
        assert (await http.get(f"/api/docs/{doc}")).status_code == 404


# -- malformed messages in a session ---------------------------------------------------------


def op_msg(**fields: Any) -> str:
    """An op message; a field given as ``...`` is left out."""
    msg: dict[str, Any] = {"type": "op", "rev": 0, "seq": 1, "op": [5, "!"]}
    msg.update(fields)
    return json.dumps({k: v for k, v in msg.items() if v is not ...})


def raw_op(components: str) -> str:
    """An op message with the components written as raw JSON text (floats, NaN, escapes)."""
    return '{"type": "op", "rev": 0, "seq": 1, "op": ' + components + "}"


# (message text, expected error code, expected "seq" of the error or None if absent).
# The document is "hello" (5 code points) at revision 0; a valid op would be [5, "!"].
MALFORMED: list[tuple[str, str, int | None]] = [
    # Not JSON, not an object, no or unknown type.
    ("not json", "bad_message", None),
    ("", "bad_message", None),
    ('{"type": "op", ', "bad_message", None),
    ('{"type": "ping"} trailing', "bad_message", None),
    ("[]", "bad_message", None),
    ("null", "bad_message", None),
    ("42", "bad_message", None),
    ('"op"', "bad_message", None),
    ("{}", "bad_message", None),
    ('{"type": "nope"}', "bad_message", None),
    ('{"type": "OP", "rev": 0, "seq": 1, "op": [5, "!"]}', "bad_message", None),
    ('{"type": null}', "bad_message", None),
    ('{"type": 1}', "bad_message", None),
    ('{"type": ["op"]}', "bad_message", None),
    # Missing or ill-typed fields of an op (the error carries the seq when it is readable).
    (op_msg(seq=...), "bad_message", None),
    (op_msg(seq=0), "bad_message", None),
    (op_msg(seq=-1), "bad_message", None),
    (op_msg(seq=1.0), "bad_message", None),
    (op_msg(seq="1"), "bad_message", None),
    (op_msg(seq=True), "bad_message", None),
    (op_msg(seq=None), "bad_message", None),
    (op_msg(rev=...), "bad_message", 1),
    (op_msg(rev="0"), "bad_message", 1),
    (op_msg(rev=0.0), "bad_message", 1),
    (op_msg(rev=True), "bad_message", 1),
    (op_msg(rev=None), "bad_message", 1),
    (op_msg(op=...), "bad_message", 1),
    (op_msg(op="hello!"), "bad_message", 1),
    (op_msg(op={"0": 5}), "bad_message", 1),
    (op_msg(op=None), "bad_message", 1),
    (op_msg(op=5), "bad_message", 1),
    # Malformed components.
    (raw_op("[5, true]"), "bad_op", 1),
    (raw_op("[false, 5]"), "bad_op", 1),
    (raw_op("[5.0]"), "bad_op", 1),
    (raw_op('[2.0, "!", 3]'), "bad_op", 1),
    (raw_op('[5, "!", 1e0]'), "bad_op", 1),
    (raw_op("[NaN]"), "bad_op", 1),
    (raw_op('[5, "!", Infinity]'), "bad_op", 1),
    (raw_op("[0, 5]"), "bad_op", 1),
    (raw_op("[5, -0]"), "bad_op", 1),
    (raw_op('[5, ""]'), "bad_op", 1),
    (raw_op('["\\ud800", 5]'), "bad_op", 1),
    (raw_op('[5, "a\\udfffb"]'), "bad_op", 1),
    (raw_op('[5, "\\udc00\\ud800"]'), "bad_op", 1),
    (raw_op('[5, "a\\u0000"]'), "bad_op", 1),
    (raw_op("[5, null]"), "bad_op", 1),
    (raw_op("[5, [1]]"), "bad_op", 1),
    (raw_op('[5, {"i": "x"}]'), "bad_op", 1),
    # Well-formed, but the base length does not match the document at rev 0.
    (raw_op("[4]"), "bad_op", 1),
    (raw_op("[6]"), "bad_op", 1),
    (raw_op('["!"]'), "bad_op", 1),
    (raw_op("[]"), "bad_op", 1),
    (raw_op("[-6]"), "bad_op", 1),
    (raw_op('[3, "!", -3]'), "bad_op", 1),
    (raw_op("[99999999999999999999]"), "bad_op", 1),
    # Presence.
    ('{"type": "presence", "rev": 0}', "bad_message", None),
    ('{"type": "presence", "selection": null}', "bad_message", None),
    ('{"type": "presence", "rev": "0", "selection": null}', "bad_message", None),
    ('{"type": "presence", "rev": 0, "selection": "x"}', "bad_message", None),
    ('{"type": "presence", "rev": 0, "selection": [[0]]}', "bad_message", None),
    ('{"type": "presence", "rev": 0, "selection": [[true, 1]]}', "bad_message", None),
    ('{"type": "presence", "rev": 0, "selection": [[0.0, 1]]}', "bad_message", None),
    ('{"type": "presence", "rev": 0, "selection": [[-1, 1]]}', "bad_message", None),
    ('{"type": "presence", "rev": 0, "selection": [[0, 6]]}', "bad_message", None),
    ('{"type": "presence", "rev": 3, "selection": [[0, 1]]}', "bad_rev", None),
    ('{"type": "presence", "rev": -1, "selection": null}', "bad_rev", None),
    # A second hello.
    ('{"type": "hello", "protocol": 1, "client": "again"}', "bad_message", None),
]


@pytest.mark.parametrize(("text", "code", "seq"), MALFORMED)
async def test_a_malformed_message_gets_its_error_and_changes_nothing(
    shared: RunningServer, doc: str, text: str, code: str, seq: int | None
) -> None:
    await create_doc(shared, doc, "hello")
    async with raw_client(shared, doc) as a, raw_client(shared, doc) as b:
        await a.recv_type("join")
        await a.send(text)
        err = await a.recv()
        assert err["type"] == "error", err
        assert err["code"] == code, err
        assert err.get("seq") == seq, err
        assert isinstance(err["message"], str) and err["message"]
        # The other client keeps editing, and both sessions see its edit, in order.
        assert await b.commit(0, 1, ["b", 5]) == 1
        assert (await a.recv())["rev"] == 1
        await a.ping()
        # The rejected seq 1 is still free for a's next operation.
        assert await a.commit(1, 1, [6, "a"]) == 2
        assert (await b.recv())["rev"] == 2
    async with http_client(shared) as http:
        assert await doc_text(http, doc) == (2, "bhelloa")
        ops = await all_ops(http, doc)
        assert [(o["client"], o["seq"]) for o in ops] == [(b.client, 1), (a.client, 1)]
