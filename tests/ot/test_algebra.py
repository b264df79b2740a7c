"""compose and transform: the laws written above each function in ot/algebra.py."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ot import LengthMismatch, TextOperation, compose, transform
from ot.algebra import _transform_general
from tests.ot.canonical import assert_canonical
from tests.ot.strategies import (
    OpCase,
    concurrent_ops,
    docs,
    inserts,
    op_sequences,
    ops_on,
    share,
    splices_on,
)

# -- compose ----------------------------------------------------------------------------------


@given(op_sequences(min_size=2, max_size=2))
def test_compose_is_apply_then_apply(cases: list[OpCase]) -> None:
    # Law: compose(a, b).apply(s) == b.apply(a.apply(s)).
    a, b = cases
    ab = compose(a.op, b.op)
    assert_canonical(ab)
    assert ab.base_length == len(a.doc)
    assert ab.apply(a.doc) == b.result


@given(op_sequences(min_size=3, max_size=3))
def test_compose_is_associative(cases: list[OpCase]) -> None:
    a, b, c = (case.op for case in cases)
    assert compose(compose(a, b), c) == compose(a, compose(b, c))


@share(0.1)
@given(op_sequences(min_size=2, max_size=2))
def test_compose_does_not_mutate_its_arguments(cases: list[OpCase]) -> None:
    a, b = cases
    before = (a.op.to_json(), b.op.to_json())
    compose(a.op, b.op)
    assert (a.op.to_json(), b.op.to_json()) == before


@share(0.2)
@given(st.data())
def test_compose_with_the_identity(data: st.DataObject) -> None:
    case = data.draw(ops_on(data.draw(docs)))
    assert compose(TextOperation().retain(len(case.doc)), case.op) == case.op
    assert compose(case.op, TextOperation().retain(len(case.result))) == case.op


@share(0.1)
@given(op_sequences(min_size=2, max_size=2))
def test_compose_of_operations_that_do_not_line_up_raises(cases: list[OpCase]) -> None:
    a, b = cases
    with pytest.raises(LengthMismatch):
        compose(a.op, TextOperation(b.op.ops).retain(1))
    if b.op.ops and type(b.op.ops[-1]) is int:  # drop what covers the last characters
        with pytest.raises(LengthMismatch):
            compose(a.op, TextOperation(b.op.ops[:-1]))


# -- transform --------------------------------------------------------------------------------


def check_tp1(a: OpCase, b: OpCase, a2: TextOperation, b2: TextOperation) -> None:
    """TP1 in both forms of the docstring, plus the lengths that make them well-typed."""
    assert a2.base_length == len(b.result) and b2.base_length == len(a.result)
    assert b2.apply(a.result) == a2.apply(b.result)
    assert compose(a.op, b2) == compose(b.op, a2)
    assert_canonical(a2)
    assert_canonical(b2)


@given(concurrent_ops(2))
@example(
    [
        OpCase("ab", TextOperation([1, "X", 1]), "aXb", (1, "X", 1)),
        OpCase("ab", TextOperation([1, "Y", 1]), "aYb", (1, "Y", 1)),
    ]
)
def test_transform_converges(cases: list[OpCase]) -> None:
    a, b = cases
    a2, b2 = transform(a.op, b.op)
    check_tp1(a, b, a2, b2)


@st.composite
def concurrent_splices(draw: st.DrawFn) -> tuple[OpCase, OpCase]:
    doc = draw(docs)
    return draw(splices_on(doc)), draw(splices_on(doc))


@share(0.5)
@given(concurrent_splices())
def test_transform_of_splices_converges(cases: tuple[OpCase, OpCase]) -> None:
    a, b = cases
    check_tp1(a, b, *transform(a.op, b.op))


@given(st.one_of(concurrent_splices(), concurrent_ops(2)))
def test_transform_fast_path_equals_the_general_algorithm(cases: list[OpCase]) -> None:
    a, b = cases
    assert transform(a.op, b.op) == _transform_general(a.op, b.op)


@given(docs, inserts, inserts, st.data())
def test_tie_break_puts_a_first(doc: str, x: str, y: str, data: st.DataObject) -> None:
    # Both insert at the same position: a's text ends up first, whichever side applies first.
    p = data.draw(st.integers(0, len(doc)))
    a = TextOperation().retain(p).insert(x).retain(len(doc) - p)
    b = TextOperation().retain(p).insert(y).retain(len(doc) - p)
    a2, b2 = transform(a, b)
    expected = doc[:p] + x + y + doc[p:]
    assert b2.apply(a.apply(doc)) == expected
    assert a2.apply(b.apply(doc)) == expected


@share(0.2)
@given(concurrent_ops(2))
def test_transform_against_a_noop_changes_nothing(cases: list[OpCase]) -> None:
    a = cases[0]
    noop = TextOperation().retain(len(a.doc))
    a2, noop2 = transform(a.op, noop)
    assert a2 == a.op
    assert noop2.is_noop() and noop2.base_length == len(a.result)
    noop3, a3 = transform(noop, a.op)
    assert a3 == a.op
    assert noop3.is_noop() and noop3.base_length == len(a.result)


@share(0.1)
@given(concurrent_ops(2))
def test_transform_does_not_mutate_its_arguments(cases: list[OpCase]) -> None:
    a, b = cases
    before = (a.op.to_json(), b.op.to_json())
    transform(a.op, b.op)
    _transform_general(a.op, b.op)
    assert (a.op.to_json(), b.op.to_json()) == before


@share(0.1)
@given(concurrent_ops(2))
def test_transform_of_operations_on_different_lengths_raises(cases: list[OpCase]) -> None:
    a, b = cases
    with pytest.raises(LengthMismatch):
        transform(a.op, TextOperation(b.op.ops).retain(1))
