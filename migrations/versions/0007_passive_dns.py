"""host_resolutions becomes the passive DNS store

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

Each row is now an answer with when and where it was seen: ``resolved_at`` becomes
``seen_at``, and rows gain ``seen_in``, ``last_seen_at``/``last_seen_in`` (answers of one
host and address in one input are folded into rows of nearby sightings), ``kind``
(``lookup`` or ``traffic``) and ``input_id`` (the input a traffic answer came from). Existing
rows are the look-ups of earlier scans and are carried forward as such. Downgrading keeps the
look-ups and drops the answers from traffic, which the older schema cannot tell apart from
look-ups made at scan time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOOKUP_SEEN_IN = "look-up at scan time"


def upgrade() -> None:
    with op.batch_alter_table("host_resolutions") as batch_op:
        batch_op.drop_index(batch_op.f("ix_host_resolutions_host"))
        batch_op.alter_column(
            "resolved_at",
            new_column_name="seen_at",
            existing_type=sa.DateTime(timezone=True),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column("seen_in", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_seen_in", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("input_id", sa.Integer(), nullable=True))
    op.execute(
        sa.text(
            "UPDATE host_resolutions SET seen_in = :seen_in, last_seen_at = seen_at, "
            "last_seen_in = :seen_in, kind = 'lookup'"
        ).bindparams(seen_in=LOOKUP_SEEN_IN)
    )
    with op.batch_alter_table("host_resolutions") as batch_op:
        batch_op.alter_column("seen_in", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column(
            "last_seen_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.alter_column("last_seen_in", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("kind", existing_type=sa.String(length=10), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_host_resolutions_input_id_inputs"),
            "inputs",
            ["input_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_host_resolutions_host"), ["host", "seen_at"])
        batch_op.create_index(batch_op.f("ix_host_resolutions_input_id"), ["input_id"])


def downgrade() -> None:
    op.execute("DELETE FROM host_resolutions WHERE kind <> 'lookup'")
    with op.batch_alter_table("host_resolutions") as batch_op:
        batch_op.drop_index(batch_op.f("ix_host_resolutions_input_id"))
        batch_op.drop_index(batch_op.f("ix_host_resolutions_host"))
        batch_op.drop_constraint(
            batch_op.f("fk_host_resolutions_input_id_inputs"), type_="foreignkey"
        )
        batch_op.drop_column("input_id")
        batch_op.drop_column("kind")
        batch_op.drop_column("last_seen_in")
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("seen_in")
        batch_op.alter_column(
            "seen_at",
            new_column_name="resolved_at",
            existing_type=sa.DateTime(timezone=True),
            existing_nullable=False,
        )
    with op.batch_alter_table("host_resolutions") as batch_op:
        batch_op.create_index(batch_op.f("ix_host_resolutions_host"), ["host", "resolved_at"])
