"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "rollup_addresses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watchlist", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("local_ip", sa.String(length=45), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_addresses")),
        sa.UniqueConstraint(
            "hour",
            "watchlist",
            "category",
            "local_ip",
            name=op.f("uq_rollup_addresses_hour_watchlist_category_local_ip"),
        ),
    )
    op.create_table(
        "rollups",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watchlist", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollups")),
        sa.UniqueConstraint(
            "hour", "watchlist", "category", name=op.f("uq_rollups_hour_watchlist_category")
        ),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("command", sa.String(length=20), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    op.create_table(
        "watchlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlists")),
        sa.UniqueConstraint("name", name=op.f("uq_watchlists_name")),
    )
    op.create_table(
        "address_book",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("coin", sa.String(length=10), nullable=False),
        sa.Column("watchlist", sa.String(length=200), nullable=False),
        sa.Column("matched_cidr", sa.String(length=50), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("list_name", sa.String(length=10), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_address_book_scan_id_scans"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_book")),
        sa.UniqueConstraint("source", "ip", "port", name=op.f("uq_address_book_source_ip_port")),
    )
    with op.batch_alter_table("address_book", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_address_book_watchlist"),
            ["watchlist", "first_recorded_at"],
            unique=False,
        )

    op.create_table(
        "host_resolutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_host_resolutions_scan_id_scans"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_resolutions")),
    )
    with op.batch_alter_table("host_resolutions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_host_resolutions_host"), ["host", "resolved_at"], unique=False
        )

    op.create_table(
        "inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("watched", sa.BigInteger(), nullable=False),
        sa.Column("bad", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name=op.f("fk_inputs_scan_id_scans"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inputs")),
        sa.UniqueConstraint("sha256", name=op.f("uq_inputs_sha256")),
    )
    op.create_table(
        "watch_ranges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watchlist_id", sa.Integer(), nullable=False),
        sa.Column("cidr", sa.String(length=50), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["watchlists.id"],
            name=op.f("fk_watch_ranges_watchlist_id_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_ranges")),
        sa.UniqueConstraint("watchlist_id", "cidr", name=op.f("uq_watch_ranges_watchlist_id_cidr")),
    )
    op.create_table(
        "watcher_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("watcher", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
            name=op.f("fk_watcher_runs_scan_id_scans"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watcher_runs")),
    )
    with op.batch_alter_table("watcher_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_watcher_runs_watcher"), ["watcher", "started_at"], unique=False
        )

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watchlist", sa.String(length=200), nullable=False),
        sa.Column("matched_cidr", sa.String(length=50), nullable=False),
        sa.Column("local_ip", sa.String(length=45), nullable=False),
        sa.Column("local_port", sa.Integer(), nullable=True),
        sa.Column("remote_ip", sa.String(length=45), nullable=True),
        sa.Column("remote_port", sa.Integer(), nullable=True),
        sa.Column("proto", sa.String(length=10), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("coin", sa.String(length=10), nullable=True),
        sa.Column("detector", sa.String(length=20), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("input_id", sa.Integer(), nullable=True),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("packets", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=False),
        sa.Column("connection_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["input_id"], ["inputs.id"], name=op.f("fk_events_input_id_inputs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name=op.f("fk_events_scan_id_scans"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint(
            "source", "connection_key", name=op.f("uq_events_source_connection_key")
        ),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_input_id"), ["input_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_observed_at"), ["observed_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_events_watchlist"), ["watchlist", "observed_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_watchlist"))
        batch_op.drop_index(batch_op.f("ix_events_observed_at"))
        batch_op.drop_index(batch_op.f("ix_events_input_id"))

    op.drop_table("events")
    with op.batch_alter_table("watcher_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_watcher_runs_watcher"))

    op.drop_table("watcher_runs")
    op.drop_table("watch_ranges")
    op.drop_table("inputs")
    with op.batch_alter_table("host_resolutions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_host_resolutions_host"))

    op.drop_table("host_resolutions")
    with op.batch_alter_table("address_book", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_book_watchlist"))

    op.drop_table("address_book")
    op.drop_table("watchlists")
    op.drop_table("scans")
    op.drop_table("rollups")
    op.drop_table("rollup_addresses")
