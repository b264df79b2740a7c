"""Alembic migrations, run programmatically.

``collab db upgrade`` calls :func:`upgrade_database`. :class:`collab.store.sql.SqlStore`
migrates SQLite files itself on ``open()`` (through :func:`upgrade_connection`, on its own
connection) and only checks other databases with :func:`check_connection`.

The migration scripts live in the repository's ``alembic/`` folder next to the ``collab``
package; they are found relative to this file, which works for a source checkout and an
editable install.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url

from collab.store.base import StoreError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./collab.db"
"""The database used when neither ``--database-url`` nor ``COLLAB_DATABASE_URL`` is given."""


class SchemaNotCurrent(StoreError):
    """The database schema is not at the newest migration; run ``collab db upgrade``."""


def alembic_dir() -> Path:
    """The folder holding ``env.py`` and ``versions/``. Raises StoreError if it is missing."""
    path = Path(__file__).resolve().parents[2] / "alembic"
    if not (path / "env.py").is_file():
        raise StoreError(
            f"Alembic migration scripts not found at {path}; collab must be run from a "
            "source checkout or an editable install (pip install -e .)"
        )
    return path


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for this project, with ``sqlalchemy.url`` set to ``url`` if given.

    Without a url, ``alembic/env.py`` falls back to ``COLLAB_DATABASE_URL``, then to
    :data:`DEFAULT_DATABASE_URL`.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    if url is not None:
        # Config values go through configparser interpolation: escape "%" (in passwords).
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def ensure_sqlite_parent(url: str) -> None:
    """Create the folder of a SQLite database file (no-op for in-memory or other URLs)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def head_revisions() -> set[str]:
    """The head revision ids of the migration scripts."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    """The revision ids the database is stamped with (empty for an unmigrated database)."""
    return set(MigrationContext.configure(connection).get_current_heads())


def upgrade_connection(connection: Connection) -> None:
    """Upgrade to head on an open synchronous connection (use with ``AsyncConnection.run_sync``).

    The caller owns the transaction; ``alembic/env.py`` uses this connection as it is.
    """
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def check_connection(connection: Connection, url: str) -> None:
    """Raise SchemaNotCurrent unless the database at ``url`` is at the head revision."""
    current, heads = current_revisions(connection), head_revisions()
    if current != heads:
        found = ", ".join(sorted(current)) or "no schema"
        raise SchemaNotCurrent(
            f"database {safe_url(url)} is at {found}, expected {', '.join(sorted(heads))}; "
            "run `collab db upgrade` with COLLAB_DATABASE_URL set to this database"
        )


async def upgrade_database(url: str) -> None:
    """Migrate the database at ``url`` to the newest schema. Idempotent.

    Runs in a worker thread: Alembic's async ``env.py`` calls ``asyncio.run()`` itself.
    """
    ensure_sqlite_parent(url)
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
