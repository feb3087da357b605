"""events: input_id and scan_id without foreign keys

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28

Every stored event names its input and scan, and both rows are always there first: the
input's ``inputs`` row is written by the same transaction before its events, the scan's row
when the scan starts, and chainwatch deletes neither. The foreign keys therefore only checked
what cannot fail, once per event: on PostgreSQL, COPYing 149,807 events took 4.3 s with them
and 2.1 s without (psql ``\\copy`` of the benchmark's events, the same indexes). They go; the
columns and their index stay.

SQLite cannot drop a table constraint: the events table is made again (its rows copied, ids
kept). Downgrading adds the keys back; it fails if an event names a missing input or scan,
which nothing chainwatch stores does.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = (
    ("fk_events_input_id_inputs", "inputs", "input_id"),
    ("fk_events_scan_id_scans", "scans", "scan_id"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _, _ in _KEYS:
            op.drop_constraint(name, "events", type_="foreignkey")
        return
    with op.batch_alter_table("events", recreate="always") as batch_op:
        for name, _, _ in _KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, column in _KEYS:
            op.create_foreign_key(name, "events", table, [column], ["id"], ondelete="SET NULL")
        return
    with op.batch_alter_table("events", recreate="always") as batch_op:
        for name, table, column in _KEYS:
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete="SET NULL")
