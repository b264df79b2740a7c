"""rebase: op-by-op transform over a history, and its fast paths (ot/rebase.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ot import LengthMismatch, TextOperation, compose, rebase, transform
from ot.rebase import _WINDOW_MIN, _transform_window
from tests.ot.strategies import (
    SCALARS,
    OpCase,
    general_ops_on,
    many_component_ops_on,
    ops_on,
    share,
    splices_on,
    texts,
)


def op_by_op(op: TextOperation, history: list[TextOperation]) -> TextOperation:
    for b in history:
        op = transform(op, b)[0]
    return op


def noop_on(doc: str) -> st.SearchStrategy[OpCase]:
    return st.just(OpCase(doc, TextOperation().retain(len(doc)), doc, (len(doc),) if doc else ()))


@st.composite
def histories(draw: st.DrawFn, doc: str, max_size: int = 8) -> list[OpCase]:
    """Revisions committed one after another on ``doc``: mostly splices (typing), with some
    no-ops and general operations, so both of rebase's paths and the switch between them
    are exercised."""
    cases = []
    for _ in range(draw(st.integers(0, max_size))):
        case = draw(st.one_of(splices_on(doc), splices_on(doc), noop_on(doc), general_ops_on(doc)))
        cases.append(case)
        doc = case.result
    return cases


@st.composite
def op_and_history(draw: st.DrawFn) -> tuple[OpCase, list[OpCase]]:
    doc = draw(texts(max_size=16))
    return draw(ops_on(doc)), draw(histories(doc))


@given(op_and_history())
def test_rebase_is_transform_op_by_op(drawn: tuple[OpCase, list[OpCase]]) -> None:
    # Law: rebase(a, [b1, ..., bn]) == transform(...transform(a, b1)[0]..., bn)[0].
    a, history = drawn
    ops = [case.op for case in history]
    rebased = rebase(a.op, ops)
    assert rebased == op_by_op(a.op, ops)
    assert rebased.base_length == (len(history[-1].result) if history else len(a.doc))


long_docs = st.text(st.sampled_from("ab\U0001f600\u0301 "), min_size=_WINDOW_MIN, max_size=60)


@st.composite
def long_op_and_history(draw: st.DrawFn) -> tuple[OpCase, list[OpCase]]:
    doc = draw(long_docs)
    return draw(many_component_ops_on(doc, _WINDOW_MIN)), draw(histories(doc))


@share(0.5)
@given(long_op_and_history())
def test_rebase_of_a_long_operation_is_transform_op_by_op(
    drawn: tuple[OpCase, list[OpCase]],
) -> None:
    a, history = drawn
    assert len(a.op.ops) >= _WINDOW_MIN
    ops = [case.op for case in history]
    assert rebase(a.op, ops) == op_by_op(a.op, ops)


@share(0.5)
@given(st.data())
def test_transform_window_is_transform(data: st.DataObject) -> None:
    doc = data.draw(long_docs)
    a = data.draw(many_component_ops_on(doc, _WINDOW_MIN))
    b = data.draw(splices_on(doc))
    bs = b.op.splice()
    if bs is None:  # a no-op splice: rebase never hands those to the window
        return
    assert _transform_window(a.op, b.op, bs) == transform(a.op, b.op)[0]


def test_rebase_example_from_the_issue() -> None:
    # On "cX": b1 deletes "c", b2 inserts "y" at 0, a inserts "z" at 1. Op by op, a's "z"
    # meets b2's "y" at the same position and goes first; against compose(b1, b2) it meets
    # a replace and goes after.
    b1, b2 = TextOperation([-1, 1]), TextOperation(["y", 1])
    a = TextOperation([1, "z", 1])
    assert rebase(a, [b1, b2]).apply(b2.apply(b1.apply("cX"))) == "zyX"
    assert transform(a, compose(b1, b2))[0].apply("yX") == "yzX"


@share(0.1)
@given(ops_on("hello"))
def test_rebase_over_nothing_is_the_operation(a: OpCase) -> None:
    assert rebase(a.op, []) == a.op


@share(0.1)
@given(op_and_history(), st.integers(1, 3))
def test_rebase_over_a_history_of_another_length_raises(
    drawn: tuple[OpCase, list[OpCase]], extra: int
) -> None:
    a, history = drawn
    wrong = TextOperation().retain(len(a.doc) + extra)
    with pytest.raises(LengthMismatch):
        rebase(a.op, [wrong, *(case.op for case in history)])
    # A history that does not chain (a revision in the middle expects another length).
    ops = [case.op for case in history]
    ops.insert(len(ops) // 2 + 1, TextOperation().retain(len(a.doc) + 1000))
    with pytest.raises(LengthMismatch):
        rebase(a.op, ops)


@share(0.1)
@given(st.text(SCALARS, min_size=1, max_size=5))
def test_rebase_of_a_typed_character_over_many_revisions(typed: str) -> None:
    # Someone types at the end while another appends one character per revision.
    doc = "ab"
    history = []
    for k in range(50):
        history.append(TextOperation().retain(len(doc)).insert(str(k % 10)))
        doc += str(k % 10)
    a = TextOperation().retain(2).insert(typed)
    rebased = rebase(a, history)
    assert rebased.apply(doc) == "ab" + typed + doc[2:]
