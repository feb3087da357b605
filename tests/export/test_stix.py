"""STIX export written as plain dicts against the stix2 library it replaced: on a fixed set of
awkward events (IPv4 and IPv6, every direction including unknown, missing remote side, ports
and counts, fractions of seconds, hostile and non-ASCII detail, more endpoints than an
indicator names), the export's objects equal, property for property, what the library's
validating constructors build from the same rows (the chainwatch 0.1 exporter, kept here as
the reference); domain objects' random ids and creation times are compared by position. The
whole bundle validates with stix2-validator."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from pathlib import Path
from typing import Any

import stix2
from stix2validator import ValidationOptions, validate_file

from chainwatch.export.run import run_export
from chainwatch.export.stix_out import IDENTITY, MAX_ENDPOINTS
from chainwatch.store.db import open_store
from chainwatch.store.evidence import EXPORT_FIELDS, EvidenceQuery, stream_events
from tests.export.conftest import T0, add_events, make_event

_F = {name: i for i, name in enumerate(EXPORT_FIELDS)}
_MINING = {"btc-p2p", "btc-pool", "xmr-p2p", "xmr-pool", "eth-p2p", "eth-pool", "ltc-p2p"}
#: domain objects: random ids and creation times, compared by position
_SDO = {"observed-data", "indicator", "relationship"}


def events() -> list[dict[str, Any]]:
    fraction = dt.timedelta(microseconds=123400)
    awkward = [
        make_event(1, direction="inbound", observed_at=T0 + fraction),
        make_event(2, direction=None, detail={"ua": "=cmd|' /C calc'!A0", "é": [1, None]}),
        make_event(3, remote_ip=None, remote_port=None, local_port=None, bytes=None),
        make_event(
            4, local_ip="2001:db8::1", remote_ip="2001:db8::2", matched_cidr="2001:db8::/32"
        ),
        make_event(5, category="tor", coin=None, packets=None, proto=None, confidence=0.95),
        make_event(6, category="btc-pool", coin="btc", remote_port=3333, detail=None),
        make_event(7, direction="inbound", local_ip="175.45.176.1", remote_ip="203.0.113.99"),
    ]
    # One address talking to more endpoints than an indicator names, with its own times.
    many = [
        make_event(
            100 + i,
            local_ip="175.45.177.9",
            remote_ip=f"198.51.100.{i}",
            observed_at=T0 + dt.timedelta(seconds=i, microseconds=i * 1000),
        )
        for i in range(MAX_ENDPOINTS + 5)
    ]
    return [make_event(0), *awkward, *many]


def library_objects(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The objects chainwatch 0.1 built for these rows with the stix2 library (its code)."""
    identity = stix2.Identity(
        id=IDENTITY["id"],
        name="chainwatch",
        identity_class="system",
        description=IDENTITY["description"],
        created="2019-01-01T00:00:00Z",
        modified="2019-01-01T00:00:00Z",
    )
    out: list[Any] = [identity]
    seen: set[str] = set()
    mining: dict[str, list[Any]] = {}

    def address(ip: str) -> Any:
        if ipaddress.ip_address(ip).version == 4:
            return stix2.IPv4Address(value=ip)
        return stix2.IPv6Address(value=ip)

    def once(obj: Any) -> None:
        if obj.id not in seen:
            seen.add(obj.id)
            out.append(obj)

    for row in rows:
        local = address(row[_F["local_ip"]])
        once(local)
        refs = [local.id]
        remote = None
        if row[_F["remote_ip"]]:
            remote = address(row[_F["remote_ip"]])
            once(remote)
            refs.append(remote.id)
        outbound = row[_F["direction"]] != "inbound"
        src, dst = (local, remote) if outbound or remote is None else (remote, local)
        src_port, dst_port = row[_F["local_port"]], row[_F["remote_port"]]
        if not outbound:
            src_port, dst_port = dst_port, src_port
        traffic = {
            "start": row[_F["observed_at"]],
            "protocols": [row[_F["proto"]]] if row[_F["proto"]] else ["ipv4"],
            "src_ref": src.id if src is not None else None,
            "dst_ref": dst.id if dst is not None else None,
            "src_port": src_port,
            "dst_port": dst_port,
            "src_byte_count": row[_F["bytes"]],
            "src_packets": row[_F["packets"]],
        }
        nt = stix2.NetworkTraffic(
            **{k: v for k, v in traffic.items() if v is not None},
            allow_custom=True,
            x_chainwatch_event_id=row[_F["event_id"]],
        )
        out.append(nt)
        refs.append(nt.id)
        custom = {
            f"x_chainwatch_{name}": row[_F[name]]
            for name in (
                "watchlist", "matched_cidr", "category", "coin", "detector", "confidence",
                "source", "source_ref", "detail", "evidence_sha256", "event_id",
            )
            if row[_F[name]] is not None
        }  # fmt: skip
        observed = stix2.ObservedData(
            created_by_ref=identity.id,
            first_observed=row[_F["observed_at"]],
            last_observed=row[_F["observed_at"]],
            number_observed=1,
            object_refs=refs,
            allow_custom=True,
            **custom,
        )
        out.append(observed)
        if row[_F["category"]] in _MINING:
            entry = mining.setdefault(row[_F["local_ip"]], [None, None, set(), []])
            when = row[_F["observed_at"]]
            entry[0] = when if entry[0] is None or when < entry[0] else entry[0]
            if row[_F["remote_ip"]] and len(entry[2]) < MAX_ENDPOINTS:
                entry[2].add((row[_F["remote_ip"]], row[_F["remote_port"]], row[_F["category"]]))
            if len(entry[3]) < MAX_ENDPOINTS:
                entry[3].append(observed.id)
    for local_ip, (first, _, endpoints, observed_ids) in sorted(mining.items()):
        kind = "ipv4-addr" if ipaddress.ip_address(local_ip).version == 4 else "ipv6-addr"
        clauses = []
        for remote_ip, port, _category in sorted(endpoints, key=str):
            rkind = "ipv4-addr" if ipaddress.ip_address(remote_ip).version == 4 else "ipv6-addr"
            clause = (
                f"network-traffic:src_ref.type = '{kind}' AND network-traffic:src_ref.value = "
                f"'{local_ip}' AND network-traffic:dst_ref.type = '{rkind}' AND "
                f"network-traffic:dst_ref.value = '{remote_ip}'"
            )
            if port is not None:
                clause += f" AND network-traffic:dst_port = {int(port)}"
            clauses.append(f"[{clause}]")
        categories = sorted({c for _, _, c in endpoints})
        indicator = stix2.Indicator(
            created_by_ref=identity.id,
            name=f"cryptocurrency activity from watched address {local_ip}",
            description="Watched address seen in traffic classified as "
            + (", ".join(categories) or "mining activity")
            + " by chainwatch.",
            indicator_types=["anomalous-activity"],
            pattern_type="stix",
            pattern=" OR ".join(clauses) or f"[{kind}:value = '{local_ip}']",
            valid_from=first,
        )
        out.append(indicator)
        for observed_id in observed_ids:
            out.append(
                stix2.Relationship(
                    indicator.id, "based-on", observed_id, created_by_ref=identity.id
                )
            )
    return [json.loads(obj.serialize()) for obj in out]


def by_position(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Domain objects' random ids replaced by their order of appearance, creation times
    dropped; everything else as it is."""
    names: dict[str, str] = {}
    for obj in objects:
        if obj["type"] in _SDO:
            names[obj["id"]] = f"{obj['type']}--#{len(names)}"
    text = json.dumps(objects)
    for old, new in names.items():
        text = text.replace(old, new)
    result = json.loads(text)
    for obj in result:
        if obj["type"] in _SDO:
            assert obj.pop("created") == obj.pop("modified")
    return result


def test_stix_objects_equal_the_stix2_library_and_validate(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    add_events(store, events())
    rows = [row for chunk in stream_events(store, EvidenceQuery()) for row in chunk]
    summary = run_export(store, EvidenceQuery(), "stix", tmp_path / "s")
    store.close()
    path = tmp_path / "s" / "events.stix.json"
    result = validate_file(str(path), ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for r in result.object_results for e in r.errors]

    bundle = json.loads(path.read_text(encoding="utf-8"))
    assert bundle["type"] == "bundle" and bundle["id"].startswith("bundle--")
    ours = bundle["objects"]
    reference = library_objects(rows)
    assert summary.records == len(rows) and len(ours) == len(reference)
    assert by_position(ours) == by_position(reference)
    # Spot checks of what the comparison covers.
    types = [o["type"] for o in ours]
    assert types.count("observed-data") == len(rows) == types.count("network-traffic")
    # 50 of .177.9's 55 observations (the cap), and the 7 other mining events (not the tor one)
    assert types.count("relationship") == MAX_ENDPOINTS + 7
    created = {o["created"] for o in ours if o["type"] in _SDO}
    assert len(created) == 1 and created.pop().endswith("Z")
    assert len({o["id"] for o in ours if o["type"] == "observed-data"}) == len(rows)
