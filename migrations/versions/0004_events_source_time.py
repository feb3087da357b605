"""events: index on (source, observed_at)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

A flow input asks for its source's latest stored event before pairing records with earlier
inputs; without this index the question costs a pass over all of the source's events, once
per input.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_events_source"), "events", ["source", "observed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_events_source"), table_name="events")
