"""A seeded, deterministic simulator of activity from a watched range, after the public timeline.

Bitcoin traffic from a watched range starts on 2017-05-17; Monero mining appears later and from
May 2019 overtakes Bitcoin about tenfold; Tor/VPN use rises about twelvefold. ``daily_counts``
gives the expected-truth counts per day and category; ``event_rows`` turns them into stored
events and rollups (used by tests and benchmarks); flows for ``chainwatch demo`` are written by
``write_flows`` as generic CSV (DESIGN.md columns) with pools at documentation addresses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

START = dt.date(2017, 4, 1)
END = dt.date(2019, 12, 31)
BTC_ONSET = dt.date(2017, 5, 17)
XMR_APPEARS = dt.date(2018, 9, 1)
XMR_SHIFT = dt.date(2019, 5, 6)
LOCAL_NET = "175.45.178."  # inside the kp watchlist range 175.45.176.0/22 (data only)


@dataclass
class Timeline:
    """Per-day counts per category over ``days``."""

    days: list[dt.date]
    counts: dict[str, npt.NDArray[np.int64]]


def daily_counts(
    start: dt.date = START, end: dt.date = END, *, scale: float = 1.0, seed: int = 2017
) -> Timeline:
    """Poisson counts per day following the public timeline (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    n = (end - start).days + 1
    days = [start + dt.timedelta(days=i) for i in range(n)]
    idx = np.arange(n)

    def after(day: dt.date) -> npt.NDArray[np.bool_]:
        return idx >= (day - start).days

    btc = np.where(after(BTC_ONSET), 20.0, 0.0)
    btc = np.where(after(XMR_SHIFT), 4.0, btc)
    xmr = np.where(after(XMR_APPEARS), 2.0, 0.0)
    xmr = np.where(after(XMR_SHIFT), 40.0, xmr)
    ramp = 1 + 11 * idx / max(n - 1, 1)  # tor/vpn rise about twelvefold over the span
    tor, vpn = 1.0 * ramp, 0.5 * ramp
    rates = {
        "btc-p2p": 0.8 * btc,
        "btc-pool": 0.2 * btc,
        "xmr-pool": 0.9 * xmr,
        "xmr-p2p": 0.1 * xmr,
        "tor": tor,
        "vpn": vpn,
    }
    counts = {c: rng.poisson(r * scale).astype(np.int64) for c, r in rates.items()}
    return Timeline(days, counts)


def event_rows(
    timeline: Timeline, *, watchlist: str = "kp", source: str = "simulated"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Events, hourly rollups and rollup addresses for ``timeline`` (events at noon UTC)."""
    events: list[dict[str, Any]] = []
    rollups: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    now = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    for category, values in timeline.counts.items():
        coin = category.split("-")[0] if "-" in category else None
        for day, count in zip(timeline.days, values, strict=True):
            if not count:
                continue
            hour = dt.datetime.combine(day, dt.time(12), dt.UTC)
            ips = {f"{LOCAL_NET}{1 + (j % 5)}" for j in range(int(count))}
            for j in range(int(count)):
                ref = f"sim:{category}:{day}:{j}"
                events.append(
                    {
                        "observed_at": hour,
                        "last_seen_at": None,
                        "recorded_at": now,
                        "watchlist": watchlist,
                        "matched_cidr": "175.45.176.0/22",
                        "local_ip": f"{LOCAL_NET}{1 + (j % 5)}",
                        "local_port": 40000 + j % 1000,
                        "remote_ip": "203.0.113.10",
                        "remote_port": 3333,
                        "proto": "tcp",
                        "direction": "outbound",
                        "category": category,
                        "coin": coin,
                        "detector": "endpoint",
                        "confidence": 0.9,
                        "source": source,
                        "source_ref": ref,
                        "input_id": None,
                        "scan_id": None,
                        "bytes": 1000,
                        "packets": 10,
                        "detail": None,
                        "evidence_sha256": hashlib.sha256(ref.encode()).hexdigest(),
                        "connection_key": None,
                    }
                )
            rollups.append(
                {
                    "hour": hour,
                    "watchlist": watchlist,
                    "category": category,
                    "records": int(count),
                    "bytes": 1000 * int(count),
                    "packets": 10 * int(count),
                    "events": int(count),
                }
            )
            addresses.extend(
                {"hour": hour, "watchlist": watchlist, "category": category, "local_ip": ip}
                for ip in sorted(ips)
            )
    return events, rollups, addresses


#: remote endpoints of the demo, all at documentation addresses, and the ports that classify
_REMOTES: dict[str, tuple[str, int]] = {
    "btc-p2p": ("198.51.100.8", 8333),
    "btc-pool": ("203.0.113.20", 3333),
    "xmr-pool": ("203.0.113.10", 5555),
    "xmr-p2p": ("198.51.100.18", 18080),
    "tor": ("198.51.100.90", 9001),
    "vpn": ("198.51.100.94", 1194),
}
DEMO_CATALOG = """\
# Demo endpoint catalog: simulated pools at documentation addresses (RFC 5737).
description = "chainwatch demo pools (simulated)"

[[endpoints]]
name = "demo-xmr-pool"
category = "xmr-pool"
ips = ["203.0.113.10"]
ports = [5555]

[[endpoints]]
name = "demo-btc-pool"
category = "btc-pool"
ips = ["203.0.113.20"]
ports = [3333]
"""
FLOW_HEADER = "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets\n"


def write_flows(path: Path, timeline: Timeline, *, seed: int = 2017, noise: int = 5) -> int:
    """Write the timeline as generic CSV flows (one per event, plus unclassified web traffic).

    Times are spread over each day deterministically; returns the number of flow lines.
    """
    rng = np.random.default_rng(seed)
    lines = [FLOW_HEADER]
    for d, day in enumerate(timeline.days):
        base = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
        for category, values in timeline.counts.items():
            remote, port = _REMOTES[category]
            count = int(values[d])
            if not count:
                continue
            secs = np.sort(rng.integers(0, 86400, count))
            hosts = rng.integers(1, 6, count)
            for s, h in zip(secs.tolist(), hosts.tolist(), strict=True):
                lines.append(
                    f"{base + s},{LOCAL_NET}{h},{remote},{40000 + s % 20000},{port},tcp,"
                    f"{1200 + s % 5000},{4 + s % 40}\n"
                )
        for s in rng.integers(0, 86400, noise).tolist():  # watched but unclassified (`other`)
            lines.append(f"{base + s},{LOCAL_NET}9,192.0.2.80,{50000 + s % 10000},443,tcp,900,6\n")
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines) - 1
