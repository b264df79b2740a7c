"""transform_index and selections (ot/selection.py, PROTOCOL §7 "index at an insertion point")."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ot import InvalidOperation, Range, Selection, TextOperation, transform_index
from tests.ot.strategies import OpCase, docs, inserts, ops_on, share

# Documents of distinct private-use characters, so every character of the result can be
# traced back: the strategies never insert private-use characters.
MARKED = st.integers(0, 12).map(lambda n: "".join(chr(0xF0000 + k) for k in range(n)))


@st.composite
def op_and_index(
    draw: st.DrawFn, doc_strategy: st.SearchStrategy[str] = docs
) -> tuple[OpCase, int]:
    case = draw(ops_on(draw(doc_strategy)))
    return case, draw(st.integers(0, len(case.doc)))


def expected_index(index: int, op: TextOperation) -> int:
    """Count what ends up before the index: retained characters that were before it, and
    inserts made at or before it (an index at an insertion point moves after the insert)."""
    pos = 0
    new = 0
    for c in op.ops:
        if isinstance(c, str):
            if pos <= index:
                new += len(c)
        elif c > 0:
            new += max(0, min(c, index - pos))
            pos += c
        else:
            pos -= c
    return new


@share(0.3)
@given(op_and_index())
def test_transform_index_stays_within_the_text(drawn: tuple[OpCase, int]) -> None:
    # Law: 0 <= transform_index(i, op) <= op.target_length for 0 <= i <= op.base_length.
    case, index = drawn
    assert 0 <= transform_index(index, case.op) <= len(case.result)


@given(op_and_index())
def test_transform_index_counts_what_ends_up_before_it(drawn: tuple[OpCase, int]) -> None:
    case, index = drawn
    assert transform_index(index, case.op) == expected_index(index, case.op)


@share(0.5)
@given(op_and_index(MARKED))
def test_text_before_the_index_stays_before_it(drawn: tuple[OpCase, int]) -> None:
    # Every surviving character of doc[:i] is before the new index, every surviving
    # character of doc[i:] after it.
    case, index = drawn
    new = transform_index(index, case.op)
    before, after = case.result[:new], case.result[new:]
    survivors = set(case.doc) & set(case.result)
    assert [ch for ch in before if ch in survivors] == [
        ch for ch in case.doc[:index] if ch in survivors
    ]
    assert [ch for ch in after if ch in survivors] == [
        ch for ch in case.doc[index:] if ch in survivors
    ]


@share(0.3)
@given(docs, inserts, st.data())
def test_caret_at_an_insertion_point_moves_after_the_insert(
    doc: str, text: str, data: st.DataObject
) -> None:
    p = data.draw(st.integers(0, len(doc)))
    op = TextOperation().retain(p).insert(text).retain(len(doc) - p)
    assert transform_index(p, op) == p + len(text)
    assert Selection.caret(p).transform(op) == Selection.caret(p + len(text))


@share(0.2)
@given(op_and_index(), st.data())
def test_a_range_transforms_each_end(drawn: tuple[OpCase, int], data: st.DataObject) -> None:
    case, anchor = drawn
    head = data.draw(st.integers(0, len(case.doc)))
    moved = Range(anchor, head).transform(case.op)
    assert moved == Range(transform_index(anchor, case.op), transform_index(head, case.op))


@share(0.1)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), max_size=4))
def test_selection_json_round_trip(pairs: list[tuple[int, int]]) -> None:
    data = [list(p) for p in pairs]
    selection = Selection.from_json(data)
    assert selection.to_json() == data
    assert selection == Selection(tuple(Range(a, h) for a, h in pairs))


@pytest.mark.parametrize(
    "data",
    [None, {}, [1, 2], [[1]], [[1, 2, 3]], [[1, "2"]], [[1, True]], [[1.0, 2]], [[-1, 0]]],
)
def test_selection_from_json_rejects_malformed_input(data: Any) -> None:
    with pytest.raises(InvalidOperation):
        Selection.from_json(data)


def test_selection_from_json_checks_the_document_length() -> None:
    assert Selection.from_json([[0, 5]], length=5) == Selection((Range(0, 5),))
    with pytest.raises(InvalidOperation):
        Selection.from_json([[0, 6]], length=5)
