"""STIX 2.1 evidence: a bundle built with the ``stix2`` library, streamed object by object.

Per event: the local and remote ``ipv4-addr``/``ipv6-addr`` (each once per bundle) and a
``network-traffic`` object, referenced by an ``observed-data`` object carrying first/last
observed and ``number_observed``. Per watched address with cryptocurrency activity (a coin
category or ``pool``, ``categories.CRYPTO``):
one ``indicator`` whose pattern covers that address and the remote endpoints it talked to, and
``based-on`` relationships to the observations. One ``identity`` names the producer. The exact
stored values (including attacker-controlled ``detail``) go into ``x_chainwatch_*`` properties.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections import defaultdict
from typing import IO, Any

import stix2

from chainwatch import __version__
from chainwatch.categories import CRYPTO
from chainwatch.export.base import EXPORT_FIELDS, Exporter

_F = {name: i for i, name in enumerate(EXPORT_FIELDS)}
_MINING = frozenset(CRYPTO)
#: remote endpoints named in one indicator's pattern; more would make patterns unreadable
MAX_ENDPOINTS = 50
IDENTITY = stix2.Identity(
    id="identity--5f0e8c6a-6c2e-4d0e-9a55-3c1f4a7e2b10",
    name="chainwatch",
    identity_class="system",
    description=f"chainwatch {__version__} evidence export",
    created="2019-01-01T00:00:00Z",
    modified="2019-01-01T00:00:00Z",
)


def _address(ip: str) -> stix2.IPv4Address | stix2.IPv6Address:
    if ipaddress.ip_address(ip).version == 4:
        return stix2.IPv4Address(value=ip)
    return stix2.IPv6Address(value=ip)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class StixExporter(Exporter):
    filename = "events.stix.json"

    def __init__(self) -> None:
        self.records = 0
        self._seen: set[str] = set()
        self._first = True
        # watched address -> [first seen, last seen, remote endpoints, observed-data ids]
        self._mining: dict[str, list[Any]] = defaultdict(lambda: [None, None, set(), []])

    def _emit(self, handle: IO[str], obj: Any) -> None:
        handle.write(("\n" if self._first else ",\n") + obj.serialize())
        self._first = False
        self.records += 1

    def _once(self, handle: IO[str], obj: Any) -> None:
        if obj.id not in self._seen:
            self._seen.add(obj.id)
            self._emit(handle, obj)

    def begin(self, handle: IO[str]) -> None:
        bundle_id = f"bundle--{uuid.uuid4()}"
        handle.write('{"type": "bundle", "id": ' + json.dumps(bundle_id) + ', "objects": [')
        self._emit(handle, IDENTITY)

    def write(self, handle: IO[str], rows: list[tuple[Any, ...]]) -> int:
        for row in rows:
            local = _address(row[_F["local_ip"]])
            self._once(handle, local)
            refs = [local.id]
            remote = None
            if row[_F["remote_ip"]]:
                remote = _address(row[_F["remote_ip"]])
                self._once(handle, remote)
                refs.append(remote.id)
            outbound = row[_F["direction"]] != "inbound"
            src, dst = (local, remote) if outbound or remote is None else (remote, local)
            src_port, dst_port = row[_F["local_port"]], row[_F["remote_port"]]
            if not outbound:
                src_port, dst_port = dst_port, src_port
            traffic: dict[str, Any] = {
                "start": row[_F["observed_at"]],
                "protocols": [row[_F["proto"]] or "ipv4"] if row[_F["proto"]] else ["ipv4"],
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
            self._emit(handle, nt)
            refs.append(nt.id)
            custom = {
                f"x_chainwatch_{name}": row[_F[name]]
                for name in (
                    "watchlist",
                    "matched_cidr",
                    "category",
                    "coin",
                    "detector",
                    "confidence",
                    "source",
                    "source_ref",
                    "detail",
                    "evidence_sha256",
                    "event_id",
                )
                if row[_F[name]] is not None
            }
            observed = stix2.ObservedData(
                created_by_ref=IDENTITY.id,
                first_observed=row[_F["observed_at"]],
                last_observed=row[_F["observed_at"]],
                number_observed=1,
                object_refs=refs,
                allow_custom=True,
                **custom,
            )
            self._emit(handle, observed)
            if row[_F["category"]] in _MINING:
                entry = self._mining[row[_F["local_ip"]]]
                when = row[_F["observed_at"]]
                entry[0] = when if entry[0] is None or when < entry[0] else entry[0]
                entry[1] = when if entry[1] is None or when > entry[1] else entry[1]
                if row[_F["remote_ip"]] and len(entry[2]) < MAX_ENDPOINTS:
                    entry[2].add(
                        (row[_F["remote_ip"]], row[_F["remote_port"]], row[_F["category"]])
                    )
                if len(entry[3]) < MAX_ENDPOINTS:
                    entry[3].append(observed.id)
        return len(rows)

    def end(self, handle: IO[str]) -> None:
        for local_ip, (first, _last, endpoints, observed) in sorted(self._mining.items()):
            kind = "ipv4-addr" if ipaddress.ip_address(local_ip).version == 4 else "ipv6-addr"
            clauses = []
            for remote_ip, port, _category in sorted(endpoints, key=str):
                rkind = "ipv4-addr" if ipaddress.ip_address(remote_ip).version == 4 else "ipv6-addr"
                clause = (
                    f"network-traffic:src_ref.type = '{kind}'"
                    f" AND network-traffic:src_ref.value = {_quote(local_ip)}"
                    f" AND network-traffic:dst_ref.type = '{rkind}'"
                    f" AND network-traffic:dst_ref.value = {_quote(remote_ip)}"
                )
                if port is not None:
                    clause += f" AND network-traffic:dst_port = {int(port)}"
                clauses.append(f"[{clause}]")
            pattern = " OR ".join(clauses) or f"[{kind}:value = {_quote(local_ip)}]"
            categories = sorted({c for _, _, c in endpoints})
            indicator = stix2.Indicator(
                created_by_ref=IDENTITY.id,
                name=f"cryptocurrency activity from watched address {local_ip}",
                description="Watched address seen in traffic classified as "
                + (", ".join(categories) or "mining activity")
                + " by chainwatch.",
                indicator_types=["anomalous-activity"],
                pattern_type="stix",
                pattern=pattern,
                valid_from=first,
            )
            self._emit(handle, indicator)
            for observed_id in observed:
                self._emit(
                    handle,
                    stix2.Relationship(
                        indicator.id,
                        "based-on",
                        observed_id,
                        created_by_ref=IDENTITY.id,
                    ),
                )
        handle.write("\n]}\n")
