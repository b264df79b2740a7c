"""The text operation: a list of retain / insert / delete components over a whole document.

Components (the wire format of PROTOCOL §1, ot.js ``TextOperation.toJSON()``):

* positive ``int`` n: retain the next n characters;
* non-empty ``str`` s: insert s here;
* negative ``int`` -n: delete the next n characters.

Lengths and positions count Unicode code points (``len(str)``).

Canonical form, kept by every builder: no zero or empty components, no two adjacent
components of the same kind, and an insert always precedes an adjacent delete.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ot.errors import InvalidOperation, LengthMismatch

Component = int | str

# Lone surrogates cannot be encoded as UTF-8 and U+0000 breaks many consumers (PostgreSQL
# text columns among them), so neither may enter a document.
_FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")


def check_text(text: str) -> None:
    """Raise InvalidOperation if ``text`` holds a lone surrogate or U+0000."""
    if text.isascii():
        if "\x00" in text:
            raise InvalidOperation("inserted text contains U+0000")
    elif _FORBIDDEN_TEXT.search(text) is not None:
        raise InvalidOperation("inserted text contains a lone surrogate or U+0000")


class TextOperation:
    """An operation on a whole document.

    Build one with the chaining builders (``TextOperation().retain(3).insert("x").retain(2)``)
    or from its JSON form with :meth:`from_json`. Operations are treated as immutable once
    built: the algebra never mutates its arguments.
    """

    __slots__ = ("base_length", "ops", "target_length")

    def __init__(self, ops: Iterable[Component] = ()) -> None:
        self.ops: list[Component] = []
        self.base_length = 0
        self.target_length = 0
        for c in ops:
            self._push(c)

    @classmethod
    def _raw(cls, ops: list[Component], base_length: int, target_length: int) -> TextOperation:
        """Wrap an already canonical component list without checking it (internal fast path)."""
        op = object.__new__(cls)
        op.ops = ops
        op.base_length = base_length
        op.target_length = target_length
        return op

    # -- builders -------------------------------------------------------------------------

    def retain(self, n: int) -> TextOperation:
        """Keep the next ``n`` characters."""
        if type(n) is not int or n < 0:
            raise InvalidOperation(f"retain count must be a non-negative integer, got {n!r}")
        if n:
            self.base_length += n
            self.target_length += n
            ops = self.ops
            if ops and type(ops[-1]) is int and ops[-1] > 0:
                ops[-1] += n
            else:
                ops.append(n)
        return self

    def insert(self, text: str) -> TextOperation:
        """Insert ``text`` at the current position."""
        if type(text) is not str:
            raise InvalidOperation(f"insert needs a string, got {text!r}")
        if text:
            self.target_length += len(text)
            ops = self.ops
            if not ops:
                ops.append(text)
                return self
            last = ops[-1]
            if type(last) is str:
                ops[-1] = last + text
            elif last < 0:
                # Canonical form puts the insert before an adjacent delete.
                if len(ops) >= 2 and type(ops[-2]) is str:
                    ops[-2] = ops[-2] + text
                else:
                    ops[-1] = text
                    ops.append(last)
            else:
                ops.append(text)
        return self

    def delete(self, n: int) -> TextOperation:
        """Delete the next ``n`` characters (``n`` given as a positive count)."""
        if type(n) is not int or n < 0:
            raise InvalidOperation(f"delete count must be a non-negative integer, got {n!r}")
        if n:
            self.base_length += n
            ops = self.ops
            if ops and type(ops[-1]) is int and ops[-1] < 0:
                ops[-1] -= n
            else:
                ops.append(-n)
        return self

    def _push(self, c: Component) -> None:
        if type(c) is str:
            self.insert(c)
        elif type(c) is int:
            if c > 0:
                self.retain(c)
            else:
                self.delete(-c)
        else:
            raise InvalidOperation(f"invalid component {c!r}")

    # -- JSON -----------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Any) -> TextOperation:
        """Validate and normalise a JSON component list (PROTOCOL §1 and §7).

        Rejects non-lists, ``0``, ``""``, booleans, floats (even ``2.0``), NaN, and text with
        a lone surrogate or U+0000, raising :class:`InvalidOperation`. Valid non-canonical
        input (adjacent retains, a delete before an insert) is normalised.
        """
        if type(data) is not list:
            raise InvalidOperation(f"an operation is a JSON array, got {type(data).__name__}")
        op = cls()
        for i, c in enumerate(data):
            t = type(c)
            if t is int:
                if c == 0:
                    raise InvalidOperation(f"component {i} is 0")
                if c > 0:
                    op.retain(c)
                else:
                    op.delete(-c)
            elif t is str:
                if not c:
                    raise InvalidOperation(f"component {i} is an empty string")
                check_text(c)
                op.insert(c)
            else:
                raise InvalidOperation(
                    f"component {i} must be a non-zero integer or a non-empty string, got {c!r}"
                )
        return op

    def to_json(self) -> list[Component]:
        """The canonical JSON component list (a fresh list)."""
        return list(self.ops)

    # -- queries --------------------------------------------------------------------------

    def is_noop(self) -> bool:
        """True when the operation changes nothing (only retains)."""
        ops = self.ops
        return not ops or (len(ops) == 1 and type(ops[0]) is int and ops[0] > 0)

    def splice(self) -> tuple[int, int, str] | None:
        """``(position, deleted, inserted)`` when the operation is one contiguous edit.

        None for no-ops and for operations that touch several places.
        """
        return _splice_of(self.ops)

    # -- apply / invert -------------------------------------------------------------------

    def apply(self, text: str) -> str:
        """The text after this operation.

        Law: ``len(op.apply(s)) == op.target_length`` whenever ``len(s) == op.base_length``.
        """
        if len(text) != self.base_length:
            raise LengthMismatch(
                f"operation expects a document of {self.base_length} characters, got {len(text)}"
            )
        ops = self.ops
        if len(ops) <= 3:
            sp = self.splice()
            if sp is not None:
                pos, dl, ins = sp
                return text[:pos] + ins + text[pos + dl :]
        parts: list[str] = []
        pos = 0
        for c in ops:
            if type(c) is str:
                parts.append(c)
            elif c > 0:
                parts.append(text[pos : pos + c])
                pos += c
            else:
                pos -= c
        return "".join(parts)

    def invert(self, text: str) -> TextOperation:
        """The operation that undoes this one, given the text it applies to.

        Law: ``op.invert(s).apply(op.apply(s)) == s``.
        """
        if len(text) != self.base_length:
            raise LengthMismatch(
                f"invert needs the {self.base_length}-character text the operation applies "
                f"to, got {len(text)}"
            )
        return self.invert_reading(lambda start, end: text[start:end])

    def invert_reading(self, read: Callable[[int, int], str]) -> TextOperation:
        """The inverse, reading deleted text with ``read(start, end)`` from the base text
        (for texts that are not a ``str``, such as :class:`ot.TextBuffer`); no length check."""
        inv = TextOperation()
        pos = 0
        for c in self.ops:
            if type(c) is str:
                inv.delete(len(c))
            elif c > 0:
                inv.retain(c)
                pos += c
            else:
                inv.insert(read(pos, pos - c))
                pos -= c
        return inv

    # -- dunder ---------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TextOperation):
            return NotImplemented
        return self.ops == other.ops

    def __hash__(self) -> int:
        return hash(tuple(self.ops))

    def __repr__(self) -> str:
        return f"TextOperation({self.ops!r})"

    def __len__(self) -> int:
        return len(self.ops)


def _splice_of(ops: list[Component]) -> tuple[int, int, str] | None:
    n = len(ops)
    if n == 0 or n > 4:
        return None
    c = ops[0]
    if n == 3:
        # The shapes typing makes: [p, "x", r], [p, -d, r], ["x", -d, r], ["x", -d, ...].
        m = ops[1]
        e = ops[2]
        if type(c) is int and c > 0 and type(e) is int and e > 0:
            if type(m) is str:
                return c, 0, m
            if m < 0:
                return c, -m, ""
    i = 0
    pos = 0
    c = ops[0]
    if type(c) is int and c > 0:
        pos = c
        i = 1
    ins = ""
    if i < n and type(ops[i]) is str:
        ins = ops[i]
        i += 1
    dl = 0
    if i < n:
        c = ops[i]
        if type(c) is int and c < 0:
            dl = -c
            i += 1
    if i < n:
        c = ops[i]
        if type(c) is int and c > 0:
            i += 1
    if i != n or (not ins and not dl):
        return None
    return pos, dl, ins


def from_splice(base_length: int, pos: int, deleted: int, inserted: str) -> TextOperation:
    """The operation replacing ``deleted`` characters at ``pos`` by ``inserted``."""
    if pos < 0 or deleted < 0 or pos + deleted > base_length:
        raise InvalidOperation(
            f"splice at {pos} deleting {deleted} does not fit a {base_length}-character text"
        )
    ops: list[Component] = []
    if pos:
        ops.append(pos)
    if inserted:
        ops.append(inserted)
    if deleted:
        ops.append(-deleted)
    rest = base_length - pos - deleted
    if rest:
        if ops and type(ops[-1]) is int and ops[-1] > 0:
            ops[-1] += rest
        else:
            ops.append(rest)
    return TextOperation._raw(ops, base_length, base_length - deleted + len(inserted))


def canonical(ops: Sequence[Component]) -> list[Component]:
    """The canonical form of a component list (no validation of text content)."""
    return TextOperation(ops).ops
