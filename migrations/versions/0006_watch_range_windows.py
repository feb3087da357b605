"""watch_ranges: validity windows and per-range source; one CIDR may stand once per window

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-27

Watchlist ranges gain optional ``valid_from``/``valid_to`` (inclusive UTC instants) and the
CSV form's per-range ``source``. The same CIDR may now appear once per window, so the unique
constraint on (watchlist_id, cidr) becomes a plain index. Downgrading keeps the first row of
each (watchlist, cidr) and forgets the windows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("watch_ranges") as batch_op:
        batch_op.add_column(sa.Column("source", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_watch_ranges_watchlist_id_cidr"), type_="unique")
        batch_op.create_index(batch_op.f("ix_watch_ranges_watchlist_id"), ["watchlist_id", "cidr"])


def downgrade() -> None:
    op.execute(
        "DELETE FROM watch_ranges WHERE id NOT IN "
        "(SELECT min(id) FROM watch_ranges GROUP BY watchlist_id, cidr)"
    )
    # The next scan must store the watchlists again, windows and all, if upgraded again.
    op.execute("UPDATE watchlists SET file_sha256 = ''")
    with op.batch_alter_table("watch_ranges") as batch_op:
        batch_op.drop_index(batch_op.f("ix_watch_ranges_watchlist_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_watch_ranges_watchlist_id_cidr"), ["watchlist_id", "cidr"]
        )
        batch_op.drop_column("valid_to")
        batch_op.drop_column("valid_from")
        batch_op.drop_column("source")
