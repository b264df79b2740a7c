"""Convergence of ot.client replicas through an authority, as a Hypothesis state machine.

Shaped like Yjs's TestConnector: per-link FIFO queues, rules that edit, deliver to the server,
deliver to a client, disconnect and reconnect, all chosen by Hypothesis; an invariant after
every step; and a teardown that drains everything and checks that every replica converged and
every operation was committed exactly once.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ot import client as otc
from tests.ot.harness import Network
from tests.ot.strategies import docs, ops_on

NAMES = ("alice", "bob", "carol")


class Convergence(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net: Network | None = None

    # The first rule draws the starting document; the others wait for it.
    @precondition(lambda self: self.net is None)
    @rule(doc=docs)
    def open_document(self, doc: str) -> None:
        self.net = Network(NAMES, doc)

    def _names(self, check: object) -> list[str]:
        assert self.net is not None
        return [n for n, r in self.net.replicas.items() if check(r)]  # type: ignore[operator]

    @precondition(lambda self: self.net is not None)
    @rule(name=st.sampled_from(NAMES), data=st.data())
    def edit(self, name: str, data: st.DataObject) -> None:
        assert self.net is not None
        case = data.draw(ops_on(self.net[name].text), label="op")
        self.net[name].edit(case.op)
        assert self.net[name].text == case.result

    @precondition(
        lambda self: self.net is not None and any(r.to_server for r in self.net.replicas.values())
    )
    @rule(data=st.data())
    def deliver_to_server(self, data: st.DataObject) -> None:
        assert self.net is not None
        name = data.draw(st.sampled_from(self._names(lambda r: r.to_server)), label="from")
        self.net.deliver_to_server(name)

    @precondition(
        lambda self: self.net is not None and any(r.from_server for r in self.net.replicas.values())
    )
    @rule(data=st.data())
    def deliver_to_client(self, data: st.DataObject) -> None:
        assert self.net is not None
        name = data.draw(st.sampled_from(self._names(lambda r: r.from_server)), label="to")
        self.net.deliver_to_client(name)

    @precondition(
        lambda self: self.net is not None and any(r.connected for r in self.net.replicas.values())
    )
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        # Some messages in flight may still reach the server; their answers are lost.
        assert self.net is not None
        name = data.draw(st.sampled_from(self._names(lambda r: r.connected)), label="who")
        reaching = data.draw(st.integers(0, len(self.net[name].to_server)), label="reaching")
        self.net.disconnect(name, reaching)

    @precondition(
        lambda self: (
            self.net is not None and any(not r.connected for r in self.net.replicas.values())
        )
    )
    @rule(data=st.data())
    def reconnect(self, data: st.DataObject) -> None:
        assert self.net is not None
        name = data.draw(st.sampled_from(self._names(lambda r: not r.connected)), label="who")
        self.net.reconnect(name)

    @precondition(
        lambda self: (
            self.net is not None
            and any(r.connected and otc.pending(r.state) for r in self.net.replicas.values())
        )
    )
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        # Resending what is outstanding (after rate_limited, say) must be harmless.
        assert self.net is not None
        names = self._names(lambda r: r.connected and otc.pending(r.state))
        self.net.retry(data.draw(st.sampled_from(names), label="who"))

    @invariant()
    def replicas_are_the_server_text_plus_their_pending_operations(self) -> None:
        if self.net is None:
            return
        for name, replica in self.net.replicas.items():
            assert replica.text == self.net.expected_text(name), name

    def teardown(self) -> None:
        if self.net is None:
            return
        self.net.deliver_all()
        self.net.assert_converged()


Convergence.TestCase.settings = settings(
    settings(),  # the active profile's max_examples
    stateful_step_count=40,
)
test_convergence = Convergence.TestCase
