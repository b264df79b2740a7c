"""Convergence of ot.client replicas through an authority, as a Hypothesis state machine.

Shaped like Yjs's TestConnector: per-link FIFO queues, rules that edit, deliver to the server,
deliver to a client, disconnect and reconnect, all chosen by Hypothesis; an invariant after
every step; and a teardown that drains everything and checks that every replica converged and
every operation was committed exactly once.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ot import client as otc
from tests.ot.harness import Network, Replica
from tests.ot.strategies import OpCase, concurrent_ops, docs, ops_on, share

NAMES = ("alice", "bob", "carol")


class Convergence(RuleBasedStateMachine):
    net: Network

    @initialize(doc=docs)
    def open_document(self, doc: str) -> None:
        self.net = Network(NAMES, doc)

    def _names(self, check: Callable[[Replica], object]) -> list[str]:
        return [n for n, r in self.net.replicas.items() if check(r)]

    @rule(name=st.sampled_from(NAMES), data=st.data())
    def edit(self, name: str, data: st.DataObject) -> None:
        case = data.draw(ops_on(self.net[name].text), label="op")
        self.net[name].edit(case.op)
        assert self.net[name].text == case.result

    @precondition(lambda self: any(r.to_server for r in self.net.replicas.values()))
    @rule(data=st.data())
    def deliver_to_server(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._names(lambda r: r.to_server)), label="from")
        self.net.deliver_to_server(name)

    @precondition(lambda self: any(r.from_server for r in self.net.replicas.values()))
    @rule(data=st.data())
    def deliver_to_client(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._names(lambda r: r.from_server)), label="to")
        self.net.deliver_to_client(name)

    @precondition(lambda self: any(r.connected for r in self.net.replicas.values()))
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        # Some messages in flight may still reach the server; their answers are lost.
        name = data.draw(st.sampled_from(self._names(lambda r: r.connected)), label="who")
        reaching = data.draw(st.integers(0, len(self.net[name].to_server)), label="reaching")
        self.net.disconnect(name, reaching)

    @precondition(lambda self: any(not r.connected for r in self.net.replicas.values()))
    @rule(data=st.data())
    def reconnect(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._names(lambda r: not r.connected)), label="who")
        self.net.reconnect(name)

    @precondition(
        lambda self: any(r.connected and otc.pending(r.state) for r in self.net.replicas.values())
    )
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        # Resending what is outstanding (after rate_limited, say) must be harmless.
        names = self._names(lambda r: r.connected and otc.pending(r.state))
        self.net.retry(data.draw(st.sampled_from(names), label="who"))

    @invariant()
    def replicas_are_the_server_text_plus_their_pending_operations(self) -> None:
        for name, replica in self.net.replicas.items():
            assert replica.text == self.net.expected_text(name), name

    def teardown(self) -> None:
        self.net.deliver_all()
        self.net.assert_converged()


# The active profile's max_examples (1,000 in ci), of up to 30 steps each.
Convergence.TestCase.settings = settings(settings(), stateful_step_count=30)
test_convergence = Convergence.TestCase


@share(0.3)
@given(concurrent_ops(3), st.permutations(NAMES), st.data())
def test_three_concurrent_edits_converge_in_any_order(
    cases: list[OpCase], order: list[str], data: st.DataObject
) -> None:
    net = Network(NAMES, cases[0].doc)
    for name, case in zip(NAMES, cases, strict=True):
        net[name].edit(case.op)
    for name in order:  # the server commits them in this order
        net.deliver_to_server(name)
    for name in data.draw(st.permutations(NAMES), label="read order"):
        while net[name].from_server:
            net.deliver_to_client(name)
    net.assert_converged()
