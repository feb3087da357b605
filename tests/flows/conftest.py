"""Shared pieces of the flow tests: a watchlists directory with a documentation pool catalog,
and helpers to run a scan and read back what it stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from chainwatch.store.models import Event, Input, Rollup, RollupAddress

KP = "175.45.176.0/22"


@pytest.fixture
def wl(tmp_path: Path) -> Path:
    """The kp watchlist plus a catalog naming a pool at a documentation address."""
    directory = tmp_path / "watchlists"
    (directory / "endpoints").mkdir(parents=True)
    (directory / "kp.toml").write_text(f'description = "test"\n[[ranges]]\ncidr = "{KP}"\n')
    (directory / "doc.txt").write_text("2001:db8:1::/48\n")
    (directory / "endpoints" / "pools.toml").write_text(
        '[[endpoints]]\nname = "docpool"\ncategory = "xmr-pool"\nips = ["203.0.113.10"]\nports = [3333]\n'
        '[[endpoints]]\nname = "relay"\ncategory = "tor"\nips = ["198.51.100.99"]\n'
    )
    return directory


def rows(db_url: str, model: Any) -> list[Any]:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(model).order_by(model.id)))
    finally:
        engine.dispose()


def snapshot(db_url: str) -> dict[str, Any]:
    """Everything a flow scan stores, without ids and times of storing: for comparing runs."""
    events = sorted(
        (
            e.observed_at,
            e.local_ip,
            e.local_port,
            e.remote_ip,
            e.remote_port,
            e.proto,
            e.direction,
            e.category,
            e.detector,
            e.source_ref,
            e.bytes,
            e.packets,
            e.evidence_sha256,
            e.connection_key,
        )
        for e in rows(db_url, Event)
    )
    rollups = sorted(
        (r.hour, r.watchlist, r.category, r.records, r.bytes, r.packets, r.events)
        for r in rows(db_url, Rollup)
    )
    addresses = sorted(
        (a.hour, a.watchlist, a.category, a.local_ip) for a in rows(db_url, RollupAddress)
    )
    inputs = sorted((i.sha256, i.records, i.watched, i.bad) for i in rows(db_url, Input))
    return {"events": events, "rollups": rollups, "addresses": addresses, "inputs": inputs}
