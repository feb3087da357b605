"""pools whose coin was only guessed: decided again from their facts, else 'pool'

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Until 0004 every stratum, getwork and getblocktemplate conversation seen in a capture was
stored as ``btc-pool``: the coin was guessed from the protocol, which many coins speak (an EWBF
miner logging in with a Zcash address was counted as Bitcoin). Monero-style stratum was
``xmr-pool`` whatever its job's algorithm, with a wallet judged by its length alone, and
Ethereum stratum ``eth-pool``. Every pool event found by payload (``btc-pool``, ``xmr-pool``,
``eth-pool``, detector ``payload``) gets its coin decided again from the facts it kept (the
login's or worker's wallet, the algorithms, the protocol, the miner agent) by
``chainwatch.coins.attribute``, as a scan now decides it: the coin the facts show with its
``coin_from`` and confidence, else ``pool`` with coin NULL. The hourly rollups (records,
bytes, packets, events), the hourly and daily distinct addresses move with each event to its
new category. The schema does not change.

Downgrade gives mining events of categories 0004 did not have (``pool``, ``zec-pool``...) found
by payload the category 0004 gave them: ``eth-pool`` for Ethereum stratum, ``xmr-pool`` for
Monero-style stratum, ``btc-pool`` for the rest; catalog-made categories are left as they are.

Limit: a rollup's record whose event was not stored (the same connection read again from a
later capture) cannot be told apart in the rollups and stays where it was (events 0).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENTS = sa.table(
    "events",
    sa.column("id", sa.BigInteger),
    sa.column("observed_at", sa.DateTime(timezone=True)),
    sa.column("watchlist", sa.String),
    sa.column("local_ip", sa.String),
    sa.column("category", sa.String),
    sa.column("coin", sa.String),
    sa.column("detector", sa.String),
    sa.column("confidence", sa.Float),
    sa.column("bytes", sa.BigInteger),
    sa.column("packets", sa.BigInteger),
    sa.column("detail", sa.JSON),
)
_ROLLUPS = sa.table(
    "rollups",
    sa.column("id", sa.BigInteger),
    sa.column("hour", sa.DateTime(timezone=True)),
    sa.column("watchlist", sa.String),
    sa.column("category", sa.String),
    sa.column("records", sa.BigInteger),
    sa.column("bytes", sa.BigInteger),
    sa.column("packets", sa.BigInteger),
    sa.column("events", sa.BigInteger),
)
_ADDRESSES = sa.table(
    "rollup_addresses",
    sa.column("hour", sa.DateTime(timezone=True)),
    sa.column("watchlist", sa.String),
    sa.column("category", sa.String),
    sa.column("local_ip", sa.String),
)
_DAYS = sa.table(
    "rollup_day_addresses",
    sa.column("day", sa.Date),
    sa.column("watchlist", sa.String),
    sa.column("category", sa.String),
    sa.column("local_ip", sa.String),
)
#: The pool categories 0004 knew.
_OLD_POOLS = ("btc-pool", "xmr-pool", "eth-pool")


def _utc(value: dt.datetime, dialect: str) -> dt.datetime:
    """A time as this backend stores it: naive UTC on SQLite, aware UTC on PostgreSQL."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None) if dialect == "sqlite" else value.replace(tzinfo=dt.UTC)


def _detail(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else {}


def _move(conn: sa.Connection, event: Any, category: str, values: dict[str, Any]) -> None:
    """Update one event; when its category changes, move its share of the rollups along."""
    conn.execute(
        _EVENTS.update()
        .where(_EVENTS.c.id == event.id)
        .values(category=category, coin=_coin(category), **values)
    )
    old = event.category
    if category == old:
        return
    dialect = conn.dialect.name
    hour = _utc(event.observed_at, dialect).replace(minute=0, second=0, microsecond=0)
    key = (_ROLLUPS.c.hour == hour, _ROLLUPS.c.watchlist == event.watchlist)
    size, packets = event.bytes or 0, event.packets or 0
    conn.execute(
        _ROLLUPS.update()
        .where(*key, _ROLLUPS.c.category == old)
        .values(
            records=_ROLLUPS.c.records - 1,
            bytes=_ROLLUPS.c.bytes - size,
            packets=_ROLLUPS.c.packets - packets,
            events=_ROLLUPS.c.events - 1,
        )
    )
    conn.execute(_ROLLUPS.delete().where(*key, _ROLLUPS.c.category == old, _ROLLUPS.c.records <= 0))
    moved = conn.execute(
        _ROLLUPS.update()
        .where(*key, _ROLLUPS.c.category == category)
        .values(
            records=_ROLLUPS.c.records + 1,
            bytes=_ROLLUPS.c.bytes + size,
            packets=_ROLLUPS.c.packets + packets,
            events=_ROLLUPS.c.events + 1,
        )
    )
    if moved.rowcount == 0:
        conn.execute(
            _ROLLUPS.insert().values(
                hour=hour,
                watchlist=event.watchlist,
                category=category,
                records=1,
                bytes=size,
                packets=packets,
                events=1,
            )
        )
    _move_address(conn, event, hour, old, category)


def _move_address(conn: sa.Connection, event: Any, hour: dt.datetime, old: str, new: str) -> None:
    """The event's local address counts for ``new`` in its hour and day, and no longer for
    ``old`` unless another event of ``old`` there still has it."""
    where = (_ADDRESSES.c.watchlist == event.watchlist, _ADDRESSES.c.local_ip == event.local_ip)
    day = hour.date()
    days = (_DAYS.c.watchlist == event.watchlist, _DAYS.c.local_ip == event.local_ip)
    row = {"watchlist": event.watchlist, "local_ip": event.local_ip, "category": new}
    if (
        conn.scalar(
            sa.select(sa.func.count()).where(
                *where, _ADDRESSES.c.hour == hour, _ADDRESSES.c.category == new
            )
        )
        == 0
    ):
        conn.execute(_ADDRESSES.insert().values(hour=hour, **row))
    if (
        conn.scalar(
            sa.select(sa.func.count()).where(*days, _DAYS.c.day == day, _DAYS.c.category == new)
        )
        == 0
    ):
        conn.execute(_DAYS.insert().values(day=day, **row))
    later = hour + dt.timedelta(hours=1)
    still = conn.scalar(
        sa.select(sa.func.count()).where(
            _EVENTS.c.watchlist == event.watchlist,
            _EVENTS.c.local_ip == event.local_ip,
            _EVENTS.c.category == old,
            _EVENTS.c.observed_at >= hour,
            _EVENTS.c.observed_at < later,
        )
    )
    if still:
        return
    conn.execute(
        _ADDRESSES.delete().where(*where, _ADDRESSES.c.hour == hour, _ADDRESSES.c.category == old)
    )
    start = _utc(dt.datetime.combine(day, dt.time()), conn.dialect.name)
    left = conn.scalar(
        sa.select(sa.func.count()).where(
            *where,
            _ADDRESSES.c.category == old,
            _ADDRESSES.c.hour >= start,
            _ADDRESSES.c.hour < start + dt.timedelta(days=1),
        )
    )
    if not left:
        conn.execute(_DAYS.delete().where(*days, _DAYS.c.day == day, _DAYS.c.category == old))


def _coin(category: str) -> str | None:
    prefix, dash, _ = category.partition("-")
    return prefix if dash else None


def _payload_events(conn: sa.Connection, where: Any) -> list[Any]:
    return list(
        conn.execute(
            sa.select(_EVENTS).where(_EVENTS.c.detector == "payload", where).order_by(_EVENTS.c.id)
        )
    )


def upgrade() -> None:
    from chainwatch.coins import attribute

    conn = op.get_bind()
    for event in _payload_events(conn, _EVENTS.c.category.in_(_OLD_POOLS)):
        detail = _detail(event.detail)
        if detail.pop("coin_from", None) == "endpoint":
            continue  # a catalog's coin (written after 0005, then downgraded): not in the facts
        category, confidence = attribute(detail)
        _move(conn, event, category, {"confidence": confidence, "detail": detail})


def downgrade() -> None:
    conn = op.get_bind()
    newer = sa.or_(
        _EVENTS.c.category == "pool",
        sa.and_(_EVENTS.c.category.like("%-pool"), _EVENTS.c.category.not_in(_OLD_POOLS)),
    )
    for event in _payload_events(conn, newer):
        protocol = _detail(event.detail).get("protocol")
        category = {"eth-stratum": "eth-pool", "eth-getwork": "eth-pool"}.get(
            str(protocol), "xmr-pool" if protocol == "xmr-stratum" else "btc-pool"
        )
        _move(conn, event, category, {"confidence": 0.95})
