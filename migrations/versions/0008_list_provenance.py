"""list_provenance and scan_lists: the watchlists and catalogs each scan used

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27

Each watchlist or catalog file a scan loads is recorded once per (kind, name, sha256) with its
sources (from an imported CSV's provenance header, or a TOML ``source``), its import time and
the span of its rows; ``scan_lists`` links scans to them. Downgrading drops both tables: the
record of which lists past scans used is lost (the files themselves are untouched).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "list_provenance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("span_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("span_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_provenance")),
        sa.UniqueConstraint(
            "kind", "name", "sha256", name=op.f("uq_list_provenance_kind_name_sha256")
        ),
    )
    op.create_table(
        "scan_lists",
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["list_provenance.id"],
            name=op.f("fk_scan_lists_list_id_list_provenance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name=op.f("fk_scan_lists_scan_id_scans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("scan_id", "list_id", name=op.f("pk_scan_lists")),
    )
    op.create_index(op.f("ix_scan_lists_list_id"), "scan_lists", ["list_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_scan_lists_list_id"), table_name="scan_lists")
    op.drop_table("scan_lists")
    op.drop_table("list_provenance")
