"""Hypothesis strategies that build operations together with their expected results.

Each strategy draws the components of an operation while walking the document and assembles
the text the operation must produce from slices of the document and the inserted strings
(the ottypes fuzzer's rule), so no test compares ``apply`` with itself.

Text is drawn from atoms chosen to be awkward for code that counts anything other than code
points: emoji (one code point, two UTF-16 units), an emoji with a skin-tone modifier (two
code points), combining marks on their own and after a base letter, ``"\\r\\n"``, CJK and a
zero-width joiner, mixed with arbitrary scalar values.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hypothesis import settings
from hypothesis import strategies as st

from ot import TextOperation
from ot.operation import Component

ATOMS = (
    "a",
    "b",
    "x",
    " ",
    "\n",
    "\r\n",
    "\U0001f600",  # grinning face: one code point, a surrogate pair in UTF-16
    "\U0001f44d\U0001f3fd",  # thumbs up + skin tone: two code points, one glyph
    "e\u0301",  # e + combining acute accent
    "\u0301",  # a combining mark on its own
    "\u0308",
    "\u6f22",  # CJK
    "\u5b57",
    "\u200d",  # zero-width joiner
)

# Any Unicode scalar value except U+0000 (the engine refuses it in inserted text) and the
# private-use characters, which tests keep for marking characters of a document.
SCALARS = st.characters(exclude_categories=("Cs", "Co"), exclude_characters="\x00")


def texts(min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    """Text made of awkward atoms, or of arbitrary scalar values."""
    return st.one_of(
        st.lists(st.sampled_from(ATOMS), min_size=min_size, max_size=max_size).map("".join),
        st.text(SCALARS, min_size=min_size, max_size=max_size),
    )


docs = texts(max_size=16)


def share(fraction: float) -> settings:
    """Settings that run ``fraction`` of the active profile's examples (at least 10).

    For properties that recheck more cheaply what another test covers at full strength, so
    that the ``ci`` profile's 1,000 examples go where they find bugs and tests/ot stays
    within about two minutes.
    """
    return settings(max_examples=max(10, int(settings().max_examples * fraction)))


inserts = texts(min_size=1, max_size=4)


@dataclass(frozen=True)
class OpCase:
    """An operation on ``doc`` and the text it must produce.

    ``raw`` is the component list as drawn, before any normalisation: it may hold adjacent
    components of the same kind and deletes before inserts.
    """

    doc: str
    op: TextOperation
    result: str
    raw: tuple[Component, ...]


@st.composite
def splices_on(draw: st.DrawFn, doc: str) -> OpCase:
    """One contiguous edit (what typing, pasting and deleting a selection produce)."""
    n = len(doc)
    pos = draw(st.integers(0, n))
    deleted = draw(st.integers(0, n - pos))
    inserted = draw(st.one_of(st.just(""), inserts))
    raw: list[Component] = [c for c in (pos, inserted, -deleted, n - pos - deleted) if c]
    op = TextOperation().retain(pos).insert(inserted).delete(deleted).retain(n - pos - deleted)
    return OpCase(doc, op, doc[:pos] + inserted + doc[pos + deleted :], tuple(raw))


@st.composite
def general_ops_on(draw: st.DrawFn, doc: str) -> OpCase:
    """Any operation: retains, inserts and deletes in any order, possibly non-canonical."""
    n = len(doc)
    pos = 0
    raw: list[Component] = []
    out: list[str] = []
    while True:
        if pos == n:
            if draw(st.booleans()):
                text = draw(inserts)
                raw.append(text)
                out.append(text)
            break
        kind = draw(st.sampled_from(("retain", "delete", "insert")))
        if kind == "insert":
            text = draw(inserts)
            raw.append(text)
            out.append(text)
            continue
        k = draw(st.integers(1, n - pos))
        if kind == "retain":
            raw.append(k)
            out.append(doc[pos : pos + k])
        else:
            raw.append(-k)
        pos += k
    if draw(st.booleans()):
        op = TextOperation.from_json(list(raw))
    else:
        op = TextOperation()
        for c in raw:
            if isinstance(c, str):
                op.insert(c)
            elif c > 0:
                op.retain(c)
            else:
                op.delete(-c)
    return OpCase(doc, op, "".join(out), tuple(raw))


def ops_on(doc: str) -> st.SearchStrategy[OpCase]:
    """Splices (shrinking toward them) or general operations on ``doc``."""
    return st.one_of(splices_on(doc), general_ops_on(doc))


@st.composite
def many_component_ops_on(draw: st.DrawFn, doc: str, min_segments: int = 12) -> OpCase:
    """An operation with at least ``min_segments`` components: alternating retains and
    deletes over cuts of ``doc``, with inserts sprinkled between. ``doc`` must have at least
    ``min_segments`` characters."""
    n = len(doc)
    cuts = draw(
        st.lists(st.integers(1, n - 1), min_size=min_segments - 1, max_size=n - 1, unique=True)
    )
    bounds = [0, *sorted(cuts), n]
    retain_first = draw(st.booleans())
    raw: list[Component] = []
    out: list[str] = []
    for k, (s, e) in enumerate(pairwise(bounds)):
        if draw(st.integers(0, 3)) == 0:
            text = draw(inserts)
            raw.append(text)
            out.append(text)
        if (k % 2 == 0) == retain_first:
            raw.append(e - s)
            out.append(doc[s:e])
        else:
            raw.append(s - e)
    return OpCase(doc, TextOperation.from_json(list(raw)), "".join(out), tuple(raw))


@st.composite
def doc_and_op(draw: st.DrawFn) -> OpCase:
    """A document and one operation on it."""
    return draw(ops_on(draw(docs)))


@st.composite
def op_sequences(draw: st.DrawFn, min_size: int = 1, max_size: int = 4) -> list[OpCase]:
    """Operations applied one after another: each applies to the previous one's result."""
    doc = draw(docs)
    cases = []
    for _ in range(draw(st.integers(min_size, max_size))):
        case = draw(ops_on(doc))
        cases.append(case)
        doc = case.result
    return cases


@st.composite
def concurrent_ops(draw: st.DrawFn, n: int = 2) -> list[OpCase]:
    """``n`` operations made concurrently on the same document."""
    doc = draw(docs)
    return [draw(ops_on(doc)) for _ in range(n)]
