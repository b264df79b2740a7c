"""A chunked text buffer, so editing a large document does not copy all of it per operation.

A Python ``str`` is immutable: applying a one-character insert to a 1 MB string copies the
whole megabyte. :class:`TextBuffer` keeps the text as a list of chunks of at most
``CHUNK`` code points, so an edit copies one chunk; reading the whole text joins them.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

from ot.errors import LengthMismatch
from ot.operation import TextOperation, _splice_of

CHUNK = 8192


class TextBuffer:
    """Mutable text with cheap splices. ``str(buffer)`` is the text."""

    __slots__ = ("_chunks", "_length", "_starts")

    def __init__(self, text: str = "") -> None:
        self._chunks: list[str] = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
        self._length = len(text)
        self._starts: list[int] | None = None

    def __len__(self) -> int:
        return self._length

    def __str__(self) -> str:
        return "".join(self._chunks)

    def __repr__(self) -> str:
        return f"TextBuffer({str(self)!r})"

    def _locate(self, pos: int) -> tuple[int, int]:
        """(chunk index, offset in it) of ``pos``; a position between chunks is in the left one."""
        chunks = self._chunks
        if not chunks:
            return 0, 0
        starts = self._starts
        if starts is None:
            starts = self._starts = [0, *accumulate(map(len, chunks[:-1]))]
        i = bisect_right(starts, pos) - 1
        if i > 0 and starts[i] == pos:
            i -= 1
        return i, pos - starts[i]

    def splice(self, pos: int, deleted: int, inserted: str) -> None:
        """Replace ``deleted`` code points at ``pos`` by ``inserted``."""
        if pos < 0 or deleted < 0 or pos + deleted > self._length:
            raise LengthMismatch(f"splice {pos}+{deleted} outside a {self._length}-character text")
        chunks = self._chunks
        if not chunks:
            self._chunks = [inserted[i : i + CHUNK] for i in range(0, len(inserted), CHUNK)]
            self._length = len(inserted)
            self._starts = None
            return
        i, off = self._locate(pos)
        j = i
        chunk = chunks[i]
        # Gather the chunks the deletion reaches into one piece.
        end = off + deleted
        while end > len(chunk) and j + 1 < len(chunks):
            j += 1
            chunk += chunks[j]
        piece = chunk[:off] + inserted + chunk[end:]
        if len(piece) <= CHUNK * 2:
            new = [piece] if piece else []
        else:
            new = [piece[k : k + CHUNK] for k in range(0, len(piece), CHUNK)]
        chunks[i : j + 1] = new
        self._length += len(inserted) - deleted
        self._starts = None

    def apply(self, op: TextOperation) -> None:
        """Apply ``op`` in place."""
        if op.base_length != self._length:
            raise LengthMismatch(
                f"operation expects a document of {op.base_length} characters, got {self._length}"
            )
        sp = _splice_of(op.ops)
        if sp is not None:
            self.splice(*sp)
            return
        pos = 0
        for c in op.ops:
            if type(c) is str:
                self.splice(pos, 0, c)
                pos += len(c)
            elif c > 0:
                pos += c
            else:
                self.splice(pos, -c, "")

    def invert(self, op: TextOperation) -> TextOperation:
        """The inverse of ``op`` for the current text (as ``op.invert(str(self))``)."""
        if op.base_length != self._length:
            raise LengthMismatch(
                f"operation expects a document of {op.base_length} characters, got {self._length}"
            )
        return op.invert_reading(self.slice)

    def slice(self, start: int, end: int) -> str:
        """The text between code points ``start`` and ``end``."""
        if start >= end:
            return ""
        i, off = self._locate(start)
        parts = []
        need = end - start
        chunks = self._chunks
        while need > 0 and i < len(chunks):
            part = chunks[i][off : off + need]
            parts.append(part)
            need -= len(part)
            i += 1
            off = 0
        return "".join(parts)
