"""Carets and selections, and how they move through operations.

An index exactly where an operation inserts text moves **after** the inserted text
(PROTOCOL §7, ot.js ``transformIndex``). That is the same rule for the author of the
operation (whose caret naturally ends after what they typed) and for everyone else (a
caret at the spot where someone else types is pushed along by their text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ot.errors import InvalidOperation
from ot.operation import TextOperation


def transform_index(index: int, op: TextOperation) -> int:
    """Where ``index`` (a position in the text ``op`` applies to) is after ``op``.

    Laws: ``0 <= transform_index(i, op) <= op.target_length`` for ``0 <= i <= op.base_length``;
    text before the index stays before it: ``op.apply(s)[:transform_index(i, op)]`` ends with
    whatever of ``s[:i]`` survived.
    """
    new_index = index
    for c in op.ops:
        if type(c) is str:
            new_index += len(c)
        elif c > 0:
            index -= c
        else:
            d = -c
            new_index -= index if index < d else d
            index -= d
        if index < 0:
            break
    return new_index


@dataclass(frozen=True, slots=True)
class Range:
    """One selection range; ``anchor == head`` is a plain caret."""

    anchor: int
    head: int

    def transform(self, op: TextOperation) -> Range:
        """This range after ``op``."""
        anchor = transform_index(self.anchor, op)
        head = anchor if self.head == self.anchor else transform_index(self.head, op)
        return Range(anchor, head)


@dataclass(frozen=True, slots=True)
class Selection:
    """A list of ranges, as carried by presence messages: ``[[anchor, head], ...]``."""

    ranges: tuple[Range, ...]

    @classmethod
    def caret(cls, index: int) -> Selection:
        """A single caret at ``index``."""
        return cls((Range(index, index),))

    @classmethod
    def from_json(cls, data: Any, length: int | None = None) -> Selection:
        """Validate ``[[anchor, head], ...]``; with ``length``, every index must be within it."""
        if type(data) is not list:
            raise InvalidOperation("a selection is a list of [anchor, head] pairs")
        ranges = []
        for r in data:
            if type(r) is not list or len(r) != 2 or any(type(x) is not int for x in r):
                raise InvalidOperation(f"a range is a pair of integers, got {r!r}")
            a, h = r
            if a < 0 or h < 0 or (length is not None and (a > length or h > length)):
                raise InvalidOperation(f"range {r!r} is outside the document")
            ranges.append(Range(a, h))
        return cls(tuple(ranges))

    def to_json(self) -> list[list[int]]:
        """``[[anchor, head], ...]``."""
        return [[r.anchor, r.head] for r in self.ranges]

    def transform(self, op: TextOperation) -> Selection:
        """This selection after ``op``."""
        return Selection(tuple(r.transform(op) for r in self.ranges))
