"""A tiny in-memory network for ot.client: one authority, replicas, FIFO links.

The authority is the ot.js server of PROTOCOL §3 in a few lines: it keeps the committed
operations, deduplicates by ``(client, seq)``, rebases an incoming operation over the
revisions its sender had not seen, acknowledges the sender and broadcasts to the others.
Each replica drives the ot.client state machine and carries out its effects. Messages are
the wire dicts of PROTOCOL §3; nothing moves until a test delivers it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ot import TextOperation, rebase
from ot import client as otc

Message = dict[str, Any]


@dataclass
class Authority:
    """The server's side of one document."""

    texts: list[str]  # texts[r] is the document at revision r
    history: list[TextOperation] = field(default_factory=list)
    records: list[Message] = field(default_factory=list)
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)

    @property
    def rev(self) -> int:
        return len(self.history)

    @property
    def text(self) -> str:
        return self.texts[-1]

    def receive(self, client: str, msg: Message) -> tuple[Message, Message | None]:
        """Handle an ``op`` message: ``(ack for the sender, op for the others or None)``."""
        seq = msg["seq"]
        known = self.committed.get((client, seq))
        if known is not None:  # a duplicate: ack it with the revision it became
            return {"type": "ack", "seq": seq, "rev": known}, None
        assert seq == self.last_seq.get(client, 0) + 1, f"{client} skipped to seq {seq}"
        op = rebase(TextOperation.from_json(msg["op"]), self.history[msg["rev"] :])
        self.texts.append(op.apply(self.text))
        self.history.append(op)
        rev = self.rev
        record = {"rev": rev, "op": op.to_json(), "client": client, "seq": seq}
        self.records.append(record)
        self.committed[client, seq] = rev
        self.last_seq[client] = seq
        return {"type": "ack", "seq": seq, "rev": rev}, {"type": "op", **record}

    def welcome(self, client: str, rev: int) -> Message:
        return {
            "type": "welcome",
            "rev": self.rev,
            "ops": self.records[rev:],
            "seq": self.last_seq.get(client, 0),
        }


@dataclass
class Replica:
    """One editor: its text, its ot.client state and its two links to the authority."""

    name: str
    text: str
    state: otc.State
    connected: bool = True
    to_server: deque[Message] = field(default_factory=deque)
    from_server: deque[Message] = field(default_factory=deque)
    sent_seqs: set[int] = field(default_factory=set)

    def edit(self, op: TextOperation) -> None:
        self.text = op.apply(self.text)
        self.carry_out(otc.apply_client, op)

    def receive(self, msg: Message) -> None:
        if msg["type"] == "welcome":
            self.carry_out(otc.welcome, self.name, msg)
        elif msg["type"] == "ack":
            self.carry_out(otc.server_ack, msg["seq"], msg["rev"])
        else:
            self.carry_out(otc.apply_server, msg["rev"], TextOperation.from_json(msg["op"]))

    def carry_out(self, transition: Any, *args: Any) -> None:
        self.state, effects = transition(self.state, *args)
        for effect in effects:
            if isinstance(effect, otc.Apply):
                self.text = effect.op.apply(self.text)
            elif isinstance(effect, otc.Send):
                self.sent_seqs.add(effect.seq)
                if self.connected:  # a send on a closed socket is lost; resend covers it
                    self.to_server.append(
                        {
                            "type": "op",
                            "rev": effect.rev,
                            "seq": effect.seq,
                            "op": effect.op.to_json(),
                        }
                    )
            else:  # Resync and Reset never happen on reliable FIFO links with full history
                raise AssertionError(f"{self.name}: unexpected {effect!r}")


class Network:
    """An authority and named replicas, all starting from ``doc`` at revision 0."""

    def __init__(self, names: list[str] | tuple[str, ...], doc: str = "") -> None:
        self.server = Authority([doc])
        self.replicas = {name: Replica(name, doc, otc.initial()) for name in names}

    def __getitem__(self, name: str) -> Replica:
        return self.replicas[name]

    # -- what a test does ----------------------------------------------------------------

    def type(self, name: str, pos: int, text: str) -> None:
        replica = self.replicas[name]
        n = len(replica.text)
        replica.edit(TextOperation().retain(pos).insert(text).retain(n - pos))

    def delete(self, name: str, pos: int, count: int) -> None:
        replica = self.replicas[name]
        n = len(replica.text)
        replica.edit(TextOperation().retain(pos).delete(count).retain(n - pos - count))

    def deliver_to_server(self, name: str) -> None:
        """The authority handles the oldest message on ``name``'s link."""
        replica = self.replicas[name]
        ack, broadcast = self.server.receive(name, replica.to_server.popleft())
        replica.from_server.append(ack)
        if broadcast is not None:
            for other in self.replicas.values():
                if other is not replica and other.connected:
                    other.from_server.append(broadcast)

    def deliver_to_client(self, name: str) -> None:
        replica = self.replicas[name]
        replica.receive(replica.from_server.popleft())

    def disconnect(self, name: str, reaching_server: int = 0) -> None:
        """Drop the connection: the first ``reaching_server`` messages in flight still reach
        the authority (whose answers are lost), the rest are lost."""
        replica = self.replicas[name]
        for _ in range(reaching_server):
            self.deliver_to_server(name)
        replica.connected = False
        replica.to_server.clear()
        replica.from_server.clear()

    def reconnect(self, name: str) -> None:
        """hello with the replica's revision; the welcome is the first message back."""
        replica = self.replicas[name]
        replica.connected = True
        replica.from_server.append(self.server.welcome(name, replica.state.rev))

    def retry(self, name: str) -> None:
        """Resend the outstanding operation with its seq, as after ``rate_limited``."""
        replica = self.replicas[name]
        for effect in otc.resend(replica.state):
            assert isinstance(effect, otc.Send)
            replica.to_server.append(
                {"type": "op", "rev": effect.rev, "seq": effect.seq, "op": effect.op.to_json()}
            )

    def deliver_all(self) -> None:
        """Reconnect everyone and deliver until nothing is in flight."""
        for name, replica in self.replicas.items():
            if not replica.connected:
                self.reconnect(name)
        for _ in range(100_000):
            busy = [r for r in self.replicas.values() if r.to_server or r.from_server]
            if not busy:
                return
            for replica in busy:
                if replica.to_server:
                    self.deliver_to_server(replica.name)
                if replica.from_server:
                    self.deliver_to_client(replica.name)
        raise AssertionError("messages still in flight after 100,000 rounds")

    # -- what a test checks --------------------------------------------------------------

    def expected_text(self, name: str) -> str:
        """The server's text at the replica's revision with its pending operations applied."""
        replica = self.replicas[name]
        base = self.server.texts[replica.state.rev]
        pending = otc.pending(replica.state)
        return base if pending is None else pending.apply(base)

    def assert_converged(self) -> None:
        for name, replica in self.replicas.items():
            assert isinstance(replica.state, otc.Synchronized), name
            assert replica.state.rev == self.server.rev, name
            assert replica.text == self.server.text, name
            # Every operation the replica sent was committed exactly once.
            seqs = sorted(r["seq"] for r in self.server.records if r["client"] == name)
            assert seqs == sorted(replica.sent_seqs), name
            assert seqs == list(range(1, replica.state.last_seq + 1)), name
