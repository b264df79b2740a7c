"""Errors raised by the engine.

::

    ValueError
    └── OTError                 anything the engine refuses
        ├── InvalidOperation    malformed components (from_json, builders)
        └── LengthMismatch      an operation applied to, composed or transformed with
                                something of the wrong length
"""

from __future__ import annotations


class OTError(ValueError):
    """Base of every engine error; a ``ValueError`` so callers may catch either."""


class InvalidOperation(OTError):
    """The components do not form a valid operation."""


class LengthMismatch(OTError):
    """Lengths do not line up (apply, compose, transform, invert)."""
