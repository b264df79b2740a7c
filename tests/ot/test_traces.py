"""Replay real editing traces (shared/traces, see its README) through the engine.

Sequential traces: one operation per patch, built with ``from_splice``, applied to a str and
to a TextBuffer, must end at ``endContent`` exactly.

Concurrent traces: each agent is a client of an ot.js-style server. The server commits the
transactions in trace order; that order is valid because in these traces every transaction's
parent version is a prefix of it plus the agent's own later transactions (checked below), which
is exactly what a client holds: the server revisions it has seen and its own operations not yet
acknowledged. So each agent keeps the revision it has seen and its unacknowledged operations;
catching up transforms each foreign revision through them (the pending side as ``a``, as the
server did), and the server form of a new operation is ``rebase`` over the foreign revisions
after the agent's revision, carried through a copy of its pending operations.
"""

from __future__ import annotations

import gzip
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ot import TextBuffer, TextOperation, compose, from_splice, rebase, transform


def traces_dir() -> Path:
    env = os.environ.get("COLLAB_TRACES_DIR")
    return Path(env) if env else Path(__file__).parents[2].parent / "shared" / "traces"


def trace_files(kind: str) -> list[Path]:
    folder = traces_dir() / kind
    return sorted(folder.glob("*.json.gz")) if folder.is_dir() else []


def params(kind: str) -> list[Any]:
    files = trace_files(kind)
    if not files:
        reason = f"no traces in {traces_dir() / kind} (set COLLAB_TRACES_DIR to the folder)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="missing")]
    return [pytest.param(path, id=path.name.removesuffix(".json.gz")) for path in files]


@cache
def load(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


# -- sequential -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", params("sequential"))
def test_sequential_trace_through_str(path: Path) -> None:
    trace = load(path)
    text: str = trace["startContent"]
    for txn in trace["txns"]:
        for pos, deleted, inserted in txn["patches"]:
            text = from_splice(len(text), pos, deleted, inserted).apply(text)
    assert text == trace["endContent"]


@pytest.mark.parametrize("path", params("sequential"))
def test_sequential_trace_through_text_buffer(path: Path) -> None:
    trace = load(path)
    buffer = TextBuffer(trace["startContent"])
    for txn in trace["txns"]:
        for pos, deleted, inserted in txn["patches"]:
            buffer.apply(from_splice(len(buffer), pos, deleted, inserted))
    assert str(buffer) == trace["endContent"]


# -- concurrent -------------------------------------------------------------------------------


class Agent:
    """What one agent holds: the server revisions it has seen (``rev``) and its own
    operations the server committed but it has not yet seen acknowledged, oldest first."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.rev = 0
        self.text = ""
        self.pending: list[TextOperation] = []

    def catch_up(self, txns: list[dict[str, Any]], history: list[TextOperation], rev: int) -> None:
        """Receive the server's revisions up to ``rev``: its own as acks, the others'
        transformed through what is pending."""
        for r in range(self.rev, rev):
            if txns[r]["agent"] == self.index:
                assert self.pending.pop(0) == history[r], f"revision {r} is not our op"
            else:
                self.pending, foreign = transform_through(self.pending, history[r])
                self.text = foreign.apply(self.text)
        self.rev = rev


def transform_through(
    pending: list[TextOperation], op: TextOperation
) -> tuple[list[TextOperation], TextOperation]:
    """Carry a foreign revision through the pending operations (they are the ``a`` side,
    as they were when the server committed them after it)."""
    moved = []
    for p in pending:
        p, op = transform(p, op)
        moved.append(p)
    return moved, op


def seen_prefix(version: int) -> int:
    """The length R of the longest prefix 0..R-1 of the trace wholly inside ``version``."""
    return (~version & (version + 1)).bit_length() - 1


@pytest.mark.parametrize("path", params("concurrent"))
def test_concurrent_trace_with_each_agent_a_client(path: Path) -> None:
    trace = load(path)
    txns = trace["txns"]
    history: list[TextOperation] = []  # the server's revisions, one per transaction
    server_text = ""
    agents = [Agent(k) for k in range(trace["numAgents"])]
    closure: list[int] = []  # closure[i]: the bit set of the transactions in version i
    for i, txn in enumerate(txns):
        version = 0
        for p in txn["parents"]:
            version |= closure[p]
        closure.append(version | 1 << i)
        agent = agents[txn["agent"]]
        seen = seen_prefix(version)
        beyond = version >> seen << seen
        while beyond:  # what the agent has beyond the prefix must be its own operations
            j = (beyond & -beyond).bit_length() - 1
            assert txns[j]["agent"] == agent.index, f"txn {i}: not a prefix plus own ops"
            beyond &= beyond - 1
        assert seen >= agent.rev, f"txn {i}: the agent's version went back"
        agent.catch_up(txns, history, seen)

        # The transaction, on the agent's text.
        op = TextOperation().retain(len(agent.text))
        for pos, deleted, inserted in txn["patches"]:
            op = compose(op, from_splice(op.target_length, pos, deleted, inserted))
        agent.text = op.apply(agent.text)

        # The server's form: rebase over the foreign revisions the agent has not seen,
        # each carried through a copy of the agent's pending operations.
        pending = list(agent.pending)
        foreign_revisions = []
        for r in range(seen, i):
            if txns[r]["agent"] == agent.index:
                pending.pop(0)
            else:
                pending, foreign = transform_through(pending, history[r])
                foreign_revisions.append(foreign)
        assert not pending
        committed = rebase(op, foreign_revisions)
        agent.pending.append(op)
        server_text = committed.apply(server_text)
        history.append(committed)

    assert server_text == trace["endContent"]
    for agent in agents:  # every agent, caught up, shows the same text
        agent.catch_up(txns, history, len(txns))
        assert not agent.pending
        assert agent.text == trace["endContent"]
