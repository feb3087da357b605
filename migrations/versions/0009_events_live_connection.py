"""events: the unique connection key only for live peers; bigint input and scan ids

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27

The UNIQUE (source, connection_key) constraint was kept up to date by every stored event, yet
only node peers (the events with ``last_seen_at``) are found by it: their polls upsert one row
per live connection. Flow pairing looks its keys up by source and time instead (the index on
(source, observed_at)). It becomes the partial unique index ``uq_events_live_connection`` over
the rows with ``last_seen_at``; storing flow events no longer maintains it (issue 16: 145k rows/s
instead of 65k on SQLite). On PostgreSQL events.input_id and scan_id become bigint like the ids
of the events themselves.

SQLite cannot drop a table constraint: the events table is made again (its rows copied, ids
kept). Downgrading restores the constraint over all events; it fails if two events of one
source share a connection key, which nothing chainwatch stores does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "uq_events_source_connection_key"
_NEW = "uq_events_live_connection"
_LIVE = sa.text("last_seen_at IS NOT NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_OLD, "events", type_="unique")
        for column in ("input_id", "scan_id"):
            op.alter_column("events", column, type_=sa.BigInteger(), existing_type=sa.Integer())
    else:
        with op.batch_alter_table("events", recreate="always") as batch_op:
            batch_op.drop_constraint(_OLD, type_="unique")
    op.create_index(
        _NEW,
        "events",
        ["source", "connection_key"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index(_NEW, table_name="events")
    if op.get_bind().dialect.name == "postgresql":
        for column in ("input_id", "scan_id"):
            op.alter_column("events", column, type_=sa.Integer(), existing_type=sa.BigInteger())
        op.create_unique_constraint(_OLD, "events", ["source", "connection_key"])
    else:
        with op.batch_alter_table("events", recreate="always") as batch_op:
            batch_op.create_unique_constraint(_OLD, ["source", "connection_key"])
