"""Initial schema: documents, operations, snapshots, versions.

Revision ID: 0001
Revises:
Create Date: 2024-11-26

Written by hand; must match collab/store/schema.py (the contract suite checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _doc_id() -> sa.Column:
    return sa.Column("doc_id", sa.String(128), nullable=False)


def _doc_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["doc_id"],
        ["documents.id"],
        name=f"fk_{table}_doc_id_documents",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_table(
        "operations",
        _doc_id(),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("doc_id", "rev", name="pk_operations"),
        sa.UniqueConstraint("doc_id", "client", "seq", name="uq_operations_doc_id_client_seq"),
        _doc_fk("operations"),
    )
    op.create_table(
        "snapshots",
        _doc_id(),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("doc_id", "rev", name="pk_snapshots"),
        _doc_fk("snapshots"),
    )
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _doc_id(),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_versions"),
        sa.CheckConstraint("kind IN ('auto', 'named', 'restore')", name="ck_versions_kind"),
        _doc_fk("versions"),
    )
    op.create_index("ix_versions_doc_id_rev", "versions", ["doc_id", "rev"])


def downgrade() -> None:
    op.drop_index("ix_versions_doc_id_rev", table_name="versions")
    op.drop_table("versions")
    op.drop_table("snapshots")
    op.drop_table("operations")
    op.drop_table("documents")
