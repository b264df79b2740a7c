"""Compose and transform, the two laws that make operational transformation work.

Both follow the ot.js algorithms component by component; single-splice operations (one
contiguous edit, which is what typing produces) take a closed-form fast path that gives the
same result.
"""

from __future__ import annotations

from ot.errors import LengthMismatch
from ot.operation import Component, TextOperation

_new = object.__new__


def _splice_op(base: int, pos: int, dl: int, ins: str) -> TextOperation:
    """Build the canonical operation for one splice, trusting the arguments."""
    rest = base - pos - dl
    ops: list[Component]
    if ins:
        ops = [pos, ins, rest] if dl == 0 else [pos, ins, -dl, rest]
    elif dl:
        ops = [pos, -dl, rest]
    else:
        ops = [base]
    if not ops[-1]:
        ops.pop()
    if ops and not ops[0]:
        del ops[0]
    op: TextOperation = _new(TextOperation)
    op.ops = ops
    op.base_length = base
    op.target_length = base - dl + len(ins)
    return op


def compose(a: TextOperation, b: TextOperation) -> TextOperation:
    """The single operation that has the effect of ``a`` followed by ``b``.

    Law: ``compose(a, b).apply(s) == b.apply(a.apply(s))``.
    """
    if a.target_length != b.base_length:
        raise LengthMismatch(
            f"compose: the first operation produces {a.target_length} characters, "
            f"the second expects {b.base_length}"
        )
    result = TextOperation()
    ops1, ops2 = a.ops, b.ops
    n1, n2 = len(ops1), len(ops2)
    i1 = i2 = 0
    o1: Component | None = ops1[0] if n1 else None
    o2: Component | None = ops2[0] if n2 else None
    while o1 is not None or o2 is not None:
        if type(o1) is int and o1 < 0:
            result.delete(-o1)
            i1 += 1
            o1 = ops1[i1] if i1 < n1 else None
            continue
        if type(o2) is str:
            result.insert(o2)
            i2 += 1
            o2 = ops2[i2] if i2 < n2 else None
            continue
        if o1 is None or o2 is None:  # pragma: no cover - excluded by the length check
            raise LengthMismatch("compose: operations do not line up")
        if type(o1) is int:  # retain
            if o2 > 0:
                if o1 > o2:
                    result.retain(o2)
                    o1 -= o2
                    i2 += 1
                    o2 = ops2[i2] if i2 < n2 else None
                elif o1 == o2:
                    result.retain(o1)
                    i1 += 1
                    i2 += 1
                    o1 = ops1[i1] if i1 < n1 else None
                    o2 = ops2[i2] if i2 < n2 else None
                else:
                    result.retain(o1)
                    o2 -= o1
                    i1 += 1
                    o1 = ops1[i1] if i1 < n1 else None
            else:  # retain then delete
                d = -o2
                if o1 > d:
                    result.delete(d)
                    o1 -= d
                    i2 += 1
                    o2 = ops2[i2] if i2 < n2 else None
                elif o1 == d:
                    result.delete(d)
                    i1 += 1
                    i2 += 1
                    o1 = ops1[i1] if i1 < n1 else None
                    o2 = ops2[i2] if i2 < n2 else None
                else:
                    result.delete(o1)
                    o2 += o1
                    i1 += 1
                    o1 = ops1[i1] if i1 < n1 else None
        else:  # o1 is an insert
            ln = len(o1)
            if o2 > 0:
                if ln > o2:
                    result.insert(o1[:o2])
                    o1 = o1[o2:]
                    i2 += 1
                    o2 = ops2[i2] if i2 < n2 else None
                elif ln == o2:
                    result.insert(o1)
                    i1 += 1
                    i2 += 1
                    o1 = ops1[i1] if i1 < n1 else None
                    o2 = ops2[i2] if i2 < n2 else None
                else:
                    result.insert(o1)
                    o2 -= ln
                    i1 += 1
                    o1 = ops1[i1] if i1 < n1 else None
            else:  # insert then delete: they cancel
                d = -o2
                if ln > d:
                    o1 = o1[d:]
                    i2 += 1
                    o2 = ops2[i2] if i2 < n2 else None
                elif ln == d:
                    i1 += 1
                    i2 += 1
                    o1 = ops1[i1] if i1 < n1 else None
                    o2 = ops2[i2] if i2 < n2 else None
                else:
                    o2 += ln
                    i1 += 1
                    o1 = ops1[i1] if i1 < n1 else None
    return result


def _transform_splices(
    a: tuple[int, int, str], b: tuple[int, int, str], length: int
) -> tuple[TextOperation, TextOperation] | None:
    """Closed-form transform of two pure inserts / pure deletes; None for the other cases."""
    pa, da, ia = a
    pb, db, ib = b
    la, lb = len(ia), len(ib)
    if (da and ia) or (db and ib):
        return None
    if ia:
        if ib:  # insert / insert: on a tie, a's text comes first
            if pa <= pb:
                return (
                    _splice_op(length + lb, pa, 0, ia),
                    _splice_op(length + la, pb + la, 0, ib),
                )
            return _splice_op(length + lb, pa + lb, 0, ia), _splice_op(length + la, pb, 0, ib)
        # insert / delete
        if pa <= pb:
            return _splice_op(length - db, pa, 0, ia), _splice_op(length + la, pb + la, db, "")
        if pa >= pb + db:
            return _splice_op(length - db, pa - db, 0, ia), _splice_op(length + la, pb, db, "")
        return None
    if ib:  # delete / insert: b's insert at the start of a's deletion survives before it
        if pb <= pa:
            return _splice_op(length + lb, pa + lb, da, ""), _splice_op(length - da, pb, 0, ib)
        if pb >= pa + da:
            return _splice_op(length + lb, pa, da, ""), _splice_op(length - da, pb - da, 0, ib)
        return None
    # delete / delete: each deletes what the other left of its range
    ea, eb = pa + da, pb + db
    sa = pa if pa <= pb else (pb if pa <= eb else pa - db)
    xa = ea if ea <= pb else (pb if ea <= eb else ea - db)
    sb = pb if pb <= pa else (pa if pb <= ea else pb - da)
    xb = eb if eb <= pa else (pa if eb <= ea else eb - da)
    return _splice_op(length - db, sa, xa - sa, ""), _splice_op(length - da, sb, xb - sb, "")


def transform(a: TextOperation, b: TextOperation) -> tuple[TextOperation, TextOperation]:
    """Transform two concurrent operations on the same document.

    Returns ``(a2, b2)`` such that (TP1)::

        b2.apply(a.apply(s)) == a2.apply(b.apply(s))
        compose(a, b2) == compose(b, a2)

    Tie-break: where both insert at the same position, ``a``'s text ends up first.
    """
    if a.base_length != b.base_length:
        raise LengthMismatch(
            f"transform: operations expect {a.base_length} and {b.base_length} characters"
        )
    if len(a.ops) <= 3 and len(b.ops) <= 3:
        sa = a.splice()
        if sa is not None:
            sb = b.splice()
            if sb is not None:
                fast = _transform_splices(sa, sb, a.base_length)
                if fast is not None:
                    return fast
    return _transform_general(a, b)


def _transform_general(a: TextOperation, b: TextOperation) -> tuple[TextOperation, TextOperation]:
    a2, b2 = TextOperation(), TextOperation()
    ops1, ops2 = a.ops, b.ops
    n1, n2 = len(ops1), len(ops2)
    i1 = i2 = 0
    o1: Component | None = ops1[0] if n1 else None
    o2: Component | None = ops2[0] if n2 else None
    while o1 is not None or o2 is not None:
        if type(o1) is str:
            a2.insert(o1)
            b2.retain(len(o1))
            i1 += 1
            o1 = ops1[i1] if i1 < n1 else None
            continue
        if type(o2) is str:
            a2.retain(len(o2))
            b2.insert(o2)
            i2 += 1
            o2 = ops2[i2] if i2 < n2 else None
            continue
        if o1 is None or o2 is None:  # pragma: no cover - excluded by the length check
            raise LengthMismatch("transform: operations do not line up")
        x, y = o1 if o1 > 0 else -o1, o2 if o2 > 0 else -o2
        m = x if x < y else y
        if o1 > 0 and o2 > 0:
            a2.retain(m)
            b2.retain(m)
        elif o1 < 0 and o2 > 0:
            a2.delete(m)
        elif o1 > 0:
            b2.delete(m)
        # both delete: nothing survives on either side
        if x == m:
            i1 += 1
            o1 = ops1[i1] if i1 < n1 else None
        else:
            o1 = o1 - m if o1 > 0 else o1 + m
        if y == m:
            i2 += 1
            o2 = ops2[i2] if i2 < n2 else None
        else:
            o2 = o2 - m if o2 > 0 else o2 + m
    return a2, b2
