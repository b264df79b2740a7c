"""TextBuffer: the chunked text must always read as the str the same operations produce."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ot.text
from ot import LengthMismatch, TextBuffer, TextOperation
from tests.ot.strategies import OpCase, op_sequences, ops_on, share, splices_on


def check_reads_as(buffer: TextBuffer, text: str, data: st.DataObject) -> None:
    assert str(buffer) == text
    assert len(buffer) == len(text)
    start = data.draw(st.integers(0, len(text)), label="start")
    end = data.draw(st.integers(0, len(text)), label="end")
    assert buffer.slice(start, end) == text[start:end]


@share(0.3)
@given(op_sequences(max_size=8), st.integers(1, 5), st.data())
def test_buffer_with_tiny_chunks_equals_str(
    cases: list[OpCase], chunk: int, data: st.DataObject
) -> None:
    # Chunks of a few characters make every edit cross chunk boundaries.
    with patch.object(ot.text, "CHUNK", chunk):
        buffer = TextBuffer(cases[0].doc)
        check_reads_as(buffer, cases[0].doc, data)
        for case in cases:
            buffer.apply(case.op)
            check_reads_as(buffer, case.result, data)


@st.composite
def large_doc_edits(draw: st.DrawFn) -> list[OpCase]:
    n = draw(st.integers(0, 3 * ot.text.CHUNK + 5))
    doc = ("0123456789abcdefghijklmnopqrstuvwxyz\U0001f600\r\n" * (n // 39 + 1))[:n]
    cases = []
    for _ in range(draw(st.integers(1, 12))):
        case = draw(st.one_of(splices_on(doc), ops_on(doc), large_splices_on(doc)))
        cases.append(case)
        doc = case.result
    return cases


@st.composite
def large_splices_on(draw: st.DrawFn, doc: str) -> OpCase:
    """Deletes and pastes of several chunks' worth of text."""
    pos = draw(st.integers(0, len(doc)))
    deleted = draw(st.integers(0, len(doc) - pos))
    inserted = "P" * draw(st.integers(0, 3 * ot.text.CHUNK))
    op = TextOperation().retain(pos).insert(inserted).delete(deleted)
    op.retain(len(doc) - pos - deleted)
    return OpCase(doc, op, doc[:pos] + inserted + doc[pos + deleted :], tuple(op.ops))


@share(0.2)
@given(large_doc_edits(), st.data())
def test_buffer_equals_str_on_large_documents(cases: list[OpCase], data: st.DataObject) -> None:
    buffer = TextBuffer(cases[0].doc)
    for case in cases:
        buffer.apply(case.op)
        check_reads_as(buffer, case.result, data)


@share(0.3)
@given(st.text(max_size=30), st.integers(1, 4), st.data())
def test_splice_equals_str_splice(text: str, chunk: int, data: st.DataObject) -> None:
    with patch.object(ot.text, "CHUNK", chunk):
        buffer = TextBuffer(text)
        for _ in range(data.draw(st.integers(1, 6))):
            pos = data.draw(st.integers(0, len(text)))
            deleted = data.draw(st.integers(0, len(text) - pos))
            inserted = data.draw(st.text(max_size=9))
            buffer.splice(pos, deleted, inserted)
            text = text[:pos] + inserted + text[pos + deleted :]
            check_reads_as(buffer, text, data)


@share(0.3)
@given(op_sequences(max_size=3), st.integers(1, 4))
def test_buffer_invert_is_str_invert(cases: list[OpCase], chunk: int) -> None:
    # Law: buffer.invert(op) == op.invert(str(buffer)), whatever the chunking.
    with patch.object(ot.text, "CHUNK", chunk):
        buffer = TextBuffer(cases[0].doc)
        for case in cases:
            inverse = buffer.invert(case.op)
            assert inverse == case.op.invert(case.doc)
            buffer.apply(case.op)
            assert inverse.apply(str(buffer)) == case.doc


@pytest.mark.parametrize(("pos", "deleted"), [(-1, 0), (0, -1), (4, 0), (2, 2)])
def test_splice_outside_the_text_raises(pos: int, deleted: int) -> None:
    buffer = TextBuffer("abc")
    with pytest.raises(LengthMismatch):
        buffer.splice(pos, deleted, "x")
    assert str(buffer) == "abc"


def test_apply_of_an_operation_of_another_length_raises() -> None:
    buffer = TextBuffer("abc")
    with pytest.raises(LengthMismatch):
        buffer.apply(TextOperation([4]))
    with pytest.raises(ValueError):
        buffer.apply(TextOperation([1, "x", 1]))
    with pytest.raises(LengthMismatch):
        buffer.invert(TextOperation([1, -1]))
    assert str(buffer) == "abc"


def test_repr_shows_the_text() -> None:
    assert repr(TextBuffer("a\r\n")) == "TextBuffer('a\\r\\n')"
