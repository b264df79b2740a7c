"""A pure-Python operational-transformation engine for plain text.

Standard library only, no I/O. The public surface::

    from ot import TextOperation, transform, compose, transform_index

Lengths and positions count Unicode code points.
"""

from ot.algebra import compose, transform
from ot.errors import InvalidOperation, LengthMismatch, OTError
from ot.operation import Component, TextOperation, from_splice
from ot.rebase import rebase
from ot.selection import Range, Selection, transform_index
from ot.text import TextBuffer

__all__ = [
    "Component",
    "InvalidOperation",
    "LengthMismatch",
    "OTError",
    "Range",
    "Selection",
    "TextBuffer",
    "TextOperation",
    "compose",
    "from_splice",
    "rebase",
    "transform",
    "transform_index",
]
