"""distinct local addresses per day

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Reports count distinct sources per day or week; folding the hourly ``rollup_addresses`` at
read time cost seconds over a year of data. The new table is filled from the hourly one here
and kept beside it by ingest from now on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_day_addresses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("watchlist", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("local_ip", sa.String(length=45), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_day_addresses")),
        sa.UniqueConstraint(
            "day",
            "watchlist",
            "category",
            "local_ip",
            name=op.f("uq_rollup_day_addresses_day_watchlist_category_local_ip"),
        ),
    )
    # SQLite keeps the hour as naive UTC text; PostgreSQL as timestamptz (fold it in UTC).
    day = (
        "date(hour)"
        if op.get_bind().dialect.name == "sqlite"
        else "(hour AT TIME ZONE 'UTC')::date"
    )
    op.execute(
        "INSERT INTO rollup_day_addresses (day, watchlist, category, local_ip) "
        f"SELECT DISTINCT {day}, watchlist, category, local_ip FROM rollup_addresses"
    )


def downgrade() -> None:
    op.drop_table("rollup_day_addresses")
