"""TextOperation: apply, invert, canonical form, JSON (PROTOCOL §1 and §7)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ot import InvalidOperation, LengthMismatch, OTError, TextOperation, from_splice
from tests.ot.canonical import assert_canonical
from tests.ot.strategies import OpCase, doc_and_op, docs, inserts, share, texts

# -- apply ------------------------------------------------------------------------------------


@given(doc_and_op())
@example(OpCase("a\r\nb", TextOperation([1, -2, 1]), "ab", (1, -2, 1)))
def test_apply_gives_the_text_built_while_drawing(case: OpCase) -> None:
    # Law: len(op.apply(s)) == op.target_length whenever len(s) == op.base_length.
    assert case.op.base_length == len(case.doc)
    assert case.op.apply(case.doc) == case.result
    assert case.op.target_length == len(case.result)


@share(0.2)
@given(doc_and_op())
def test_operations_are_canonical(case: OpCase) -> None:
    # Whether built with the builders or parsed from non-canonical JSON.
    assert_canonical(case.op)


@share(0.1)
@given(doc_and_op(), st.integers(1, 3))
def test_apply_to_text_of_the_wrong_length_raises(case: OpCase, extra: int) -> None:
    longer, shorter = case.doc + "z" * extra, case.doc[: max(0, len(case.doc) - extra)]
    for wrong in {longer, shorter} - {case.doc}:
        with pytest.raises(LengthMismatch):
            case.op.apply(wrong)
        with pytest.raises(LengthMismatch):
            case.op.invert(wrong)


def test_length_mismatch_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        TextOperation([3]).apply("ab")


# -- invert -----------------------------------------------------------------------------------


@given(doc_and_op())
def test_invert_undoes(case: OpCase) -> None:
    # Law: op.invert(s).apply(op.apply(s)) == s.
    inverse = case.op.invert(case.doc)
    assert_canonical(inverse)
    assert inverse.apply(case.result) == case.doc
    assert inverse.invert(case.result) == case.op


# -- canonical form and JSON ------------------------------------------------------------------


@share(0.3)
@given(doc_and_op())
def test_from_json_normalises_and_keeps_the_meaning(case: OpCase) -> None:
    op = TextOperation.from_json(list(case.raw))
    assert_canonical(op)
    assert op == case.op
    assert op.apply(case.doc) == case.result


@share(0.3)
@given(doc_and_op())
def test_json_round_trip(case: OpCase) -> None:
    data = case.op.to_json()
    assert type(data) is list
    assert TextOperation.from_json(data) == case.op
    assert TextOperation.from_json(data).to_json() == data  # canonical form is a fixed point
    assert TextOperation.from_json(json.loads(json.dumps(data))) == case.op
    data.append("mutated")
    assert case.op.to_json() != data, "to_json must return a fresh list"


@share(0.3)
@given(st.data())
def test_from_splice_is_the_splice_builder(data: st.DataObject) -> None:
    doc = data.draw(docs)
    n = len(doc)
    pos = data.draw(st.integers(0, n))
    deleted = data.draw(st.integers(0, n - pos))
    inserted = data.draw(st.one_of(st.just(""), inserts))
    op = from_splice(n, pos, deleted, inserted)
    assert_canonical(op)
    assert op == TextOperation().retain(pos).insert(inserted).delete(deleted).retain(
        n - pos - deleted
    )
    assert op.apply(doc) == doc[:pos] + inserted + doc[pos + deleted :]
    if inserted or deleted:
        assert op.splice() == (pos, deleted, inserted)
        assert not op.is_noop()
    else:
        assert op.splice() is None
        assert op.is_noop()


@share(0.1)
@given(doc_and_op())
def test_is_noop_means_only_retains(case: OpCase) -> None:
    assert case.op.is_noop() == all(type(c) is int and c > 0 for c in case.op.ops)


@share(0.1)
@given(doc_and_op())
def test_repr_is_python_that_rebuilds_the_operation(case: OpCase) -> None:
    rebuilt = eval(repr(case.op), {"TextOperation": TextOperation})
    assert rebuilt == case.op
    assert hash(rebuilt) == hash(case.op)


@pytest.mark.parametrize(("base", "pos", "deleted"), [(3, 4, 0), (3, 2, 2), (3, -1, 0), (3, 0, -1)])
def test_from_splice_outside_the_text_raises(base: int, pos: int, deleted: int) -> None:
    with pytest.raises(InvalidOperation):
        from_splice(base, pos, deleted, "x")


@pytest.mark.parametrize(
    "build",
    [
        lambda: TextOperation().retain(-1),
        lambda: TextOperation().retain(True),
        lambda: TextOperation().retain(1.0),  # type: ignore[arg-type]
        lambda: TextOperation().delete(-2),
        lambda: TextOperation().delete(False),
        lambda: TextOperation().insert(5),  # type: ignore[arg-type]
        lambda: TextOperation([1.5]),  # type: ignore[list-item]
    ],
)
def test_builders_reject_what_is_not_a_count_or_text(build: Any) -> None:
    with pytest.raises(InvalidOperation):
        build()


# -- invalid input (PROTOCOL §7) --------------------------------------------------------------

lone_surrogates = st.characters(categories=["Cs"])
bad_components = st.one_of(
    st.just(0),
    st.just(""),
    st.booleans(),
    st.integers(-1000, 1000).map(float),  # integral floats such as 2.0
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.tuples(texts(max_size=3), lone_surrogates, texts(max_size=3)).map("".join),
    st.tuples(texts(max_size=3), st.just("\x00"), texts(max_size=3)).map("".join),
)


@st.composite
def invalid_json_ops(draw: st.DrawFn) -> Any:
    """A valid component list with one bad component slipped in."""
    raw = list(draw(doc_and_op()).raw)
    raw.insert(draw(st.integers(0, len(raw))), draw(bad_components))
    return raw


not_lists = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.lists(st.integers(1, 3), max_size=3).map(tuple),
)


@given(st.one_of(invalid_json_ops(), not_lists))
@example([2.0])
@example(["\ud800"])
@example(["a\x00"])
@example([True])
def test_from_json_rejects_invalid_input(data: Any) -> None:
    with pytest.raises(InvalidOperation) as info:
        TextOperation.from_json(data)
    assert isinstance(info.value, OTError)
    assert isinstance(info.value, ValueError)
