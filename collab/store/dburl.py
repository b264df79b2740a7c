"""Database URLs and the schema version, without importing SQLAlchemy or Alembic.

The SQLite store checks a file's schema version with plain ``sqlite3`` and only loads
Alembic (tens of megabytes of imports) when the file actually needs migrating.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_HEAD = "0001"
"""The newest migration in ``alembic/versions`` (a test checks that they agree)."""


def is_sqlite_url(url: str) -> bool:
    """True for ``sqlite://`` and ``sqlite+driver://`` URLs."""
    scheme = url.split(":", 1)[0].lower()
    return scheme == "sqlite" or scheme.startswith("sqlite+")


def sqlite_path(url: str) -> str:
    """The file of a SQLite URL (``sqlite+aiosqlite:///rel.db``, ``...:////abs/x.db``)."""
    if not is_sqlite_url(url) or "://" not in url:
        raise ValueError(f"not a SQLite URL: {url!r}")
    rest = url.split("://", 1)[1]
    if not rest.startswith("/"):
        raise ValueError(f"SQLite URLs have no host part: {url!r}")
    path = rest[1:].split("?", 1)[0]
    if path in ("", ":memory:"):
        raise ValueError("in-memory SQLite is not supported; use MemoryStore")
    return path


def sqlite_schema_version(path: str) -> str | None:
    """The migration a SQLite file is stamped with; None for a missing or unmigrated file."""
    if not Path(path).exists():
        return None
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table: not migrated
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])
