"""Rebase an incoming operation over the operations committed since its base revision.

The server receives ``op`` made against revision ``R`` while revisions ``R+1..N`` were
committed meanwhile. Clients that held ``R+1..N`` as pending will transform op by op, so the
server must too::

    rebase(a, [b1, ..., bn]) == transform(...transform(transform(a, b1)[0], b2)[0]..., bn)[0]

Composing ``b1..bn`` first and transforming once is *not* the same under the "a's insert
first" tie-break: on ``"cX"`` with ``b1 = [-1, 1]``, ``b2 = ["y", 1]`` and ``a = [1, "z", 1]``,
op by op gives ``"zyX"`` and compose-first gives ``"yzX"``.

Two fast paths keep this cheap without changing the result:

* a single-splice ``a`` (typing) is carried as ``(pos, deleted, inserted)`` through splice
  revisions in closed form, building no operation until the end;
* a long ``a`` against a splice revision transforms only the window of components around
  the splice and reuses the rest of the list.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate

from ot.algebra import _splice_op, transform
from ot.errors import LengthMismatch
from ot.operation import Component, TextOperation, _splice_of

# Below this many components the plain transform beats the window bookkeeping.
_WINDOW_MIN = 12


def rebase(op: TextOperation, history: Sequence[TextOperation]) -> TextOperation:
    """Transform ``op`` against each operation of ``history`` in turn (``op`` is the ``a`` side).

    Raises LengthMismatch if ``op`` does not apply to the document ``history[0]`` applies to.
    """
    if not history:
        return op
    length = op.base_length
    i = 0
    n = len(history)
    sp = _splice_of(op.ops) if op.ops else (0, 0, "")
    if sp is not None and not (sp[1] and sp[2]):
        pa, da, ia = sp
        while i < n:
            b = history[i]
            if b.base_length != length:
                raise LengthMismatch(
                    f"rebase: revision {i + 1} of the history expects {b.base_length} "
                    f"characters, the operation has {length}"
                )
            bs = _splice_of(b.ops)
            if bs is None:
                if b.is_noop():
                    i += 1
                    continue
                break
            pb, db, ib = bs
            if ia:  # a inserts
                if pa <= pb:
                    pass
                elif pa >= pb + db:
                    pa += len(ib) - db
                else:
                    break
            elif da:  # a deletes [pa, pa + da)
                if db and ib:
                    break
                if ib:
                    if pb <= pa:
                        pa += len(ib)
                    elif pb < pa + da:
                        break
                else:
                    ea, eb = pa + da, pb + db
                    sa = pa if pa <= pb else (pb if pa <= eb else pa - db)
                    xa = ea if ea <= pb else (pb if ea <= eb else ea - db)
                    pa, da = sa, xa - sa
            length = b.target_length
            i += 1
        op = _splice_op(length, pa if (da or ia) else 0, da, ia)
        if i == n:
            return op
    return _rebase_general(op, history[i:], i)


def _rebase_general(
    op: TextOperation, history: Iterable[TextOperation], offset: int
) -> TextOperation:
    for k, b in enumerate(history):
        if b.base_length != op.base_length:
            raise LengthMismatch(
                f"rebase: revision {offset + k + 1} of the history expects {b.base_length} "
                f"characters, the operation has {op.base_length}"
            )
        bs = _splice_of(b.ops)
        if bs is not None and len(op.ops) >= _WINDOW_MIN:
            op = _transform_window(op, b, bs)
        else:
            op = transform(op, b)[0]
    return op


def _transform_window(
    a: TextOperation, b: TextOperation, bs: tuple[int, int, str]
) -> TextOperation:
    """``transform(a, b)[0]`` for a long ``a`` and a single-splice ``b``.

    Components of ``a`` wholly before the splice or wholly after it transform to themselves,
    so only the window of components touching ``[pb, pb + db]`` goes through the transform.
    """
    pb, db, ib = bs
    ops = a.ops
    blens = [0 if type(c) is str else (c if c > 0 else -c) for c in ops]
    ends = list(accumulate(blens))
    starts = [0, *ends[:-1]]
    k0 = bisect_left(ends, pb)
    k1 = bisect_right(starts, pb + db)
    s, e = starts[k0], ends[k1 - 1]
    window = ops[k0:k1]
    win_target = e - s
    for c in window:
        if type(c) is str:
            win_target += len(c)
        elif c < 0:
            win_target += c
    a_win = TextOperation._raw(window, e - s, win_target)
    b_win = TextOperation().retain(pb - s).insert(ib).delete(db).retain(e - pb - db)
    mid = transform(a_win, b_win)[0].ops
    out = ops[:k0]
    for c in mid:
        _append(out, c)
    for c in ops[k1 : k1 + 2]:
        _append(out, c)
    out.extend(ops[k1 + 2 :])
    return TextOperation._raw(out, b.target_length, a.target_length + len(ib) - db)


def _append(ops: list[Component], c: Component) -> None:
    """Append ``c`` to a canonical list keeping it canonical (the builders' rules)."""
    if not ops:
        ops.append(c)
        return
    last = ops[-1]
    if type(c) is str:
        if type(last) is str:
            ops[-1] = last + c
        elif last < 0:
            if len(ops) >= 2 and type(ops[-2]) is str:
                ops[-2] = ops[-2] + c
            else:
                ops[-1] = c
                ops.append(last)
        else:
            ops.append(c)
    elif type(last) is int and (last > 0) == (c > 0):
        ops[-1] = last + c
    else:
        ops.append(c)
