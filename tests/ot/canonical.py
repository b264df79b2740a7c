"""An independent checker of PROTOCOL §1's canonical form (not the engine's own code)."""

from __future__ import annotations

from itertools import pairwise

from ot import TextOperation


def kind(c: object) -> str:
    """``"retain"``, ``"insert"`` or ``"delete"``; fails on anything that is not a component."""
    if type(c) is str:
        assert c != "", "an empty insert"
        return "insert"
    assert type(c) is int, f"{c!r} is not a component"
    assert c != 0, "a zero component"
    return "retain" if c > 0 else "delete"


def assert_canonical(op: TextOperation) -> None:
    """No zero or empty components, no two adjacent of one kind, inserts before deletes,
    and lengths that add up."""
    kinds = [kind(c) for c in op.ops]
    for left, right in pairwise(kinds):
        assert left != right, f"two adjacent {left}s in {op!r}"
        assert (left, right) != ("delete", "insert"), f"a delete before an insert in {op!r}"
    ints = [c for c in op.ops if type(c) is int]
    inserted = sum(len(c) for c in op.ops if type(c) is str)
    assert op.base_length == sum(abs(c) for c in ints), op
    assert op.target_length == sum(c for c in ints if c > 0) + inserted, op
