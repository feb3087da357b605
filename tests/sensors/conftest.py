"""eve.json written as Suricata writes it (its EVE documentation, "Eve JSON Format"), and a
watchlists directory with a catalog naming a Monero pool by host name only."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

KP = "175.45.176.0/22"
T0 = dt.datetime(2019, 5, 6, 8, 0, 0, tzinfo=dt.UTC)
POOL_HOST = "pool.supportxmr.com"
POOL_ADDRESS = "203.0.113.50"
RESOLVER = "192.0.2.53"


def stamp(seconds: float, zone: str = "+0000") -> str:
    """Suricata's timestamp: microseconds and a zone without a colon."""
    moment = T0 + dt.timedelta(seconds=seconds)
    if zone != "+0000":
        sign = 1 if zone[0] == "+" else -1
        moment = moment + sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + zone


def event(kind: str, seconds: float, flow_id: int | None, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"timestamp": stamp(seconds)}
    if flow_id is not None:
        record["flow_id"] = flow_id
    record["in_iface"] = "eth0"
    record["event_type"] = kind
    record.update(fields)
    return record


def tuple_of(
    src: str, sport: int | None, dst: str, dport: int | None, proto: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"src_ip": src}
    if sport is not None:
        out["src_port"] = sport
    out["dest_ip"] = dst
    if dport is not None:
        out["dest_port"] = dport
    out["proto"] = proto
    return out


def flow(
    seconds: float, flow_id: int, start: float, five: dict[str, Any], **counts: int
) -> dict[str, Any]:
    return event(
        "flow",
        seconds,
        flow_id,
        **five,
        app_proto="tls",
        flow={
            "pkts_toserver": counts.get("pkts_toserver", 10),
            "pkts_toclient": counts.get("pkts_toclient", 12),
            "bytes_toserver": counts.get("bytes_toserver", 1000),
            "bytes_toclient": counts.get("bytes_toclient", 2000),
            "start": stamp(start),
            "end": stamp(seconds - 1),
            "age": int(seconds - start),
            "state": "closed",
            "reason": "timeout",
            "alerted": False,
        },
        tcp={
            "tcp_flags": "1b",
            "syn": True,
            "fin": True,
            "psh": True,
            "ack": True,
            "state": "closed",
        },
    )


def alert(
    seconds: float,
    flow_id: int,
    five: dict[str, Any],
    sid: int,
    rev: int,
    signature: str,
    category: str,
) -> dict[str, Any]:
    return event(
        "alert",
        seconds,
        flow_id,
        **five,
        tx_id=0,
        alert={
            "action": "allowed",
            "gid": 1,
            "signature_id": sid,
            "rev": rev,
            "signature": signature,
            "category": category,
            "severity": 2,
            "metadata": {"former_category": ["COINMINER"], "created_at": ["2016_06_09"]},
        },
        flow={
            "pkts_toserver": 3,
            "pkts_toclient": 2,
            "bytes_toserver": 400,
            "bytes_toclient": 180,
            "start": stamp(seconds - 2),
        },
    )


def lines(records: list[dict[str, Any] | str]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


@pytest.fixture
def wl(tmp_path: Path) -> Path:
    directory = tmp_path / "watchlists"
    (directory / "endpoints").mkdir(parents=True)
    (directory / "kp.toml").write_text(f'description = "test"\n[[ranges]]\ncidr = "{KP}"\n')
    (directory / "endpoints" / "pools.toml").write_text(
        f'[[endpoints]]\nname = "supportxmr"\ncategory = "xmr-pool"\nhosts = ["{POOL_HOST}"]\n'
    )
    return directory
