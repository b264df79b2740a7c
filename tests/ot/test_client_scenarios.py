"""ot.client scenarios that read like scripts: type, deliver, assert."""

from __future__ import annotations

from ot import client as otc
from tests.ot.harness import Network


def test_tie_break_the_operation_the_server_receives_second_goes_first() -> None:
    net = Network(["alice", "bob"], "[]")
    net.type("alice", 1, "a")
    net.type("bob", 1, "b")
    net.deliver_to_server("alice")  # alice's is revision 1
    net.deliver_to_server("bob")  # bob's is rebased over it as `a`: its insert goes first
    assert net.server.text == "[ba]"
    net.deliver_all()
    net.assert_converged()
    assert net["alice"].text == net["bob"].text == "[ba]"


def test_lost_ack_own_operation_in_the_catch_up_list_is_the_ack() -> None:
    net = Network(["alice", "bob"], "hello")
    net.type("alice", 5, "!")
    net.disconnect("alice", reaching_server=1)  # committed as revision 1, the ack is lost
    assert net.server.text == "hello!"
    assert isinstance(net["alice"].state, otc.AwaitingConfirm)
    net.type("bob", 0, ">")
    net.deliver_all()  # bob's edit becomes revision 2; alice reconnects at revision 0
    net.assert_converged()
    assert net["alice"].text == ">hello!"
    assert [r["client"] for r in net.server.records] == ["alice", "bob"]


def test_lost_operation_is_resent_after_reconnecting() -> None:
    net = Network(["alice", "bob"], "hello")
    net.type("alice", 5, "!")
    net.disconnect("alice", reaching_server=0)  # the op never arrives
    net.type("bob", 0, ">")
    net.deliver_to_server("bob")
    net.reconnect("alice")
    net.deliver_to_client("alice")  # welcome: bob's op, then alice resends seq 1
    assert net["alice"].to_server[0]["seq"] == 1
    net.deliver_all()
    net.assert_converged()
    assert net.server.text == ">hello!"


def test_resend_of_a_committed_operation_is_deduplicated() -> None:
    net = Network(["alice", "bob"], "")
    net.type("alice", 0, "x")
    net.retry("alice")  # the same seq twice on the wire
    net.deliver_to_server("alice")
    net.deliver_to_server("alice")
    assert net.server.rev == 1
    assert [m["type"] for m in net["alice"].from_server] == ["ack", "ack"]
    net.deliver_all()  # the second ack is for nothing alice waits for any more
    net.assert_converged()
    assert net["bob"].text == "x"


def test_typing_before_the_welcome_sends_twice_and_commits_once() -> None:
    net = Network(["alice", "bob"], "ab")
    net.disconnect("alice")
    net.type("bob", 2, "c")
    net.deliver_to_server("bob")
    net.reconnect("alice")
    net.type("alice", 0, "_")  # sent against revision 0 before the welcome is read
    net.deliver_to_client("alice")  # welcome: catch up with bob's op, resend seq 1
    assert [m["seq"] for m in net["alice"].to_server] == [1, 1]
    net.deliver_all()
    net.assert_converged()
    assert net.server.text == "_abc"
    assert net.server.rev == 2


def test_edits_made_while_awaiting_an_ack_are_composed_into_one_operation() -> None:
    net = Network(["alice", "bob"], "")
    net.type("alice", 0, "h")
    net.type("alice", 1, "e")
    net.type("alice", 2, "y")
    state = net["alice"].state
    assert isinstance(state, otc.AwaitingWithBuffer)
    assert state.buffer.to_json() == [1, "ey"]
    net.type("bob", 0, "!")
    net.deliver_to_server("bob")
    net.deliver_to_server("alice")
    net.deliver_to_client("alice")  # bob's op, transformed through outstanding and buffer
    assert net["alice"].text == "hey!"
    net.deliver_to_client("alice")  # the ack: the buffer goes out as seq 2
    assert net["alice"].to_server[0]["seq"] == 2
    net.deliver_all()
    net.assert_converged()
    assert net.server.text == "hey!"
    assert net.server.rev == 3  # bob's, alice's "h", alice's "ey"


def test_resend_right_after_hello_is_deduplicated() -> None:
    net = Network(["alice", "bob"], "ab")
    net.type("alice", 2, "c")
    net.disconnect("alice", reaching_server=1)  # committed as revision 1, the ack is lost
    net.reconnect("alice")
    net.retry("alice")  # resent before the welcome is read
    net.deliver_to_server("alice")  # a duplicate: answered with an ack for revision 1
    assert net.server.rev == 1
    assert [m["type"] for m in net["alice"].from_server] == ["welcome", "ack"]
    net.deliver_to_client("alice")  # the welcome lists alice's op: that is the ack
    assert isinstance(net["alice"].state, otc.Synchronized)
    net.deliver_all()  # the second ack is for nothing alice waits for any more
    net.assert_converged()
    assert net["bob"].text == "abc"
