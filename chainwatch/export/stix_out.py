"""STIX 2.1 evidence: one bundle, streamed object by object.

Per event: the local and remote ``ipv4-addr``/``ipv6-addr`` (each once per bundle) and a
``network-traffic`` object, referenced by an ``observed-data`` object carrying first/last
observed and ``number_observed``. Per watched address with cryptocurrency activity (a coin
category or ``pool``, ``categories.CRYPTO``):
one ``indicator`` whose pattern covers that address and the remote endpoints it talked to, and
``based-on`` relationships to the observations. One ``identity`` names the producer. The exact
stored values (including attacker-controlled ``detail``) go into ``x_chainwatch_*`` properties.

The objects are plain dicts serialised with ``json``, not ``stix2`` objects: building each
through the library's validating constructors ran at about 800 events/s, dicts run at tens of
thousands (``benchmarks/export.py``). The dicts are exactly what the library would produce:
the same properties, values and timestamp format, and the library's deterministic ids for
cyber-observables (UUIDv5 of the canonical JSON of their id-contributing properties, in the
namespace of ``stix2.base.SCO_DET_ID_NAMESPACE``); domain objects get random UUIDv4 ids as the
library gives them. ``tests/export/test_stix.py`` checks object for object against the library
and validates whole bundles with stix2-validator.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
import uuid
from collections import defaultdict
from typing import IO, Any

from chainwatch import __version__
from chainwatch.categories import CRYPTO
from chainwatch.export.base import EXPORT_FIELDS, Exporter

_F = {name: i for i, name in enumerate(EXPORT_FIELDS)}
_MINING = frozenset(CRYPTO)
#: remote endpoints named in one indicator's pattern; more would make patterns unreadable
MAX_ENDPOINTS = 50
#: the STIX 2.1 namespace of deterministic cyber-observable ids (the stix2 library's)
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
IDENTITY_ID = "identity--5f0e8c6a-6c2e-4d0e-9a55-3c1f4a7e2b10"
IDENTITY: dict[str, Any] = {
    "type": "identity",
    "spec_version": "2.1",
    "id": IDENTITY_ID,
    "created": "2019-01-01T00:00:00.000Z",
    "modified": "2019-01-01T00:00:00.000Z",
    "name": "chainwatch",
    "description": f"chainwatch {__version__} evidence export",
    "identity_class": "system",
}
#: event fields kept as ``x_chainwatch_<name>`` on observed-data, in the library's order
#: (custom properties sorted by name)
_CUSTOM = tuple(
    sorted(
        (
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
    )
)
_CUSTOM_COLUMNS = tuple((f"x_chainwatch_{name}", _F[name]) for name in _CUSTOM)


def timestamp(value: dt.datetime, *, millis: bool = False) -> str:
    """A STIX timestamp as the stix2 library writes one: UTC, ``Z``, the fraction of a second
    without trailing zeros (none when whole); ``millis`` (``created``/``modified``) keeps at
    least three digits. A naive time is taken as UTC."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(dt.UTC)
    text = value.isoformat()  # YYYY-MM-DDTHH:MM:SS[.ffffff][+00:00], faster than strftime
    fraction = text[20:26].rstrip("0") if value.microsecond else ""
    if millis:
        fraction = fraction.ljust(3, "0")
    return text[:19] + ("." + fraction if fraction else "") + "Z"


def _uuid_text(raw: bytes, version: int) -> str:
    """The text of the UUID of that version made of 16 bytes, with the RFC 4122 version and
    variant bits set as ``uuid.UUID(bytes=..., version=...)`` sets them (without building
    one: this runs twice per exported event)."""
    h = raw[:16].hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-{version}{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def sco_id(kind: str, contributing: dict[str, Any]) -> str:
    """The deterministic id of a cyber-observable: UUIDv5 of the canonical (RFC 8785) JSON of
    its id-contributing properties. For the strings and integers used here that JSON is
    Python's with sorted keys and no spaces."""
    text = json.dumps(contributing, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{kind}--{_uuid5(text)}"


def _uuid5(name: str) -> str:
    digest = hashlib.sha1(SCO_NAMESPACE.bytes + name.encode("utf-8"), usedforsecurity=False)
    return _uuid_text(digest.digest(), 5)


def _address_kind(ip: str) -> str:
    return "ipv4-addr" if ipaddress.ip_address(ip).version == 4 else "ipv6-addr"


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _port(value: Any) -> int | None:
    """A port as STIX allows it (0-65535), else left out."""
    return value if isinstance(value, int) and 0 <= value <= 65535 else None


def _count(value: Any) -> int | None:
    """A byte or packet count as STIX allows it (not negative), else left out."""
    return value if isinstance(value, int) and value >= 0 else None


_encode = json.JSONEncoder().encode  # ASCII JSON text of one value, as the library writes it


class StixExporter(Exporter):
    filename = "events.stix.json"

    def __init__(self) -> None:
        self.records = 0
        self._addresses: dict[str, str] = {}  # ip -> id, for addresses already written
        self._first = True
        self._pending: list[str] = []  # JSON texts of objects not yet written
        self._created = ""
        self._observed_head = ""  # observed-data's properties after its id, the same for all
        self._protocols: dict[str | None, tuple[str, str]] = {}  # proto -> (JSON, canonical)
        # watched address -> [first seen, last seen, remote endpoints, observed-data ids]
        self._mining: dict[str, list[Any]] = defaultdict(lambda: [None, None, set(), []])

    def _emit(self, obj: dict[str, Any]) -> None:
        self._pending.append(json.dumps(obj))

    def _flush(self, handle: IO[str]) -> None:
        """Write the objects made since the last flush (one write per chunk of events)."""
        if self._pending:
            handle.write(("\n" if self._first else ",\n") + ",\n".join(self._pending))
            self._first = False
            self.records += len(self._pending)
            self._pending.clear()

    def _sdo(self, kind: str) -> dict[str, Any]:
        """The common head of a domain object made by this export."""
        return {
            "type": kind,
            "spec_version": "2.1",
            "id": f"{kind}--{uuid.uuid4()}",
            "created_by_ref": IDENTITY_ID,
            "created": self._created,
            "modified": self._created,
        }

    def _address(self, ip: str) -> str:
        known = self._addresses.get(ip)
        if known is not None:
            return known
        kind = _address_kind(ip)
        obj = {"type": kind, "spec_version": "2.1", "id": sco_id(kind, {"value": ip}), "value": ip}
        self._emit(obj)
        self._addresses[ip] = obj["id"]
        return obj["id"]

    def begin(self, handle: IO[str]) -> None:
        # One creation time for the export's objects (the library stamps each as it builds it).
        self._created = timestamp(dt.datetime.now(dt.UTC), millis=True)
        self._observed_head = (
            f'", "created_by_ref": "{IDENTITY_ID}", "created": "{self._created}", '
            f'"modified": "{self._created}", '
        )
        bundle_id = f"bundle--{uuid.uuid4()}"
        handle.write('{"type": "bundle", "id": ' + json.dumps(bundle_id) + ', "objects": [')
        self._emit(IDENTITY)
        self._flush(handle)

    def write(self, handle: IO[str], rows: list[tuple[Any, ...]]) -> int:
        # Random bytes for the chunk's observed-data ids at once (one system call).
        pool = os.urandom(16 * len(rows))
        for number, row in enumerate(rows):
            self._event(row, pool[16 * number : 16 * number + 16])
        self._flush(handle)
        return len(rows)

    def _protocol(self, proto: str | None) -> tuple[str, str]:
        """``protocols`` as written and as in the canonical JSON of the id."""
        known = self._protocols.get(proto)
        if known is None:
            value = [proto or "ipv4"] if proto else ["ipv4"]
            canonical = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            known = self._protocols[proto] = (_encode(value), canonical)
        return known

    def _event(self, row: tuple[Any, ...], random: bytes) -> None:
        """The event's network-traffic and observed-data, written as JSON text directly (the
        objects' fixed shape makes dicts and a general encoder the slow part)."""
        local_ip, remote_ip = row[_F["local_ip"]], row[_F["remote_ip"]]
        local = self._address(local_ip)
        refs = [local]
        remote = None
        if remote_ip:
            remote = self._address(remote_ip)
            refs.append(remote)
        # An unknown direction is written as the local side's, as for outbound.
        outbound = row[_F["direction"]] != "inbound"
        src, dst = (local, remote) if outbound or remote is None else (remote, local)
        src_port, dst_port = _port(row[_F["local_port"]]), _port(row[_F["remote_port"]])
        if not outbound:
            src_port, dst_port = dst_port, src_port
        when = timestamp(row[_F["observed_at"]])
        protocols, canonical_protocols = self._protocol(row[_F["proto"]])
        # The id: the canonical JSON (sorted keys, no spaces) of the contributing properties.
        canonical = (
            "{"
            + ("" if dst_port is None else f'"dst_port":{dst_port},')
            + ("" if dst is None else f'"dst_ref":"{dst}",')
            + f'"protocols":{canonical_protocols},'
            + ("" if src_port is None else f'"src_port":{src_port},')
            + f'"src_ref":"{src}","start":"{when}"'
            + "}"
        )
        traffic_id = f"network-traffic--{_uuid5(canonical)}"
        # Properties in the library's order; absent ones left out.
        text = (
            '{"type": "network-traffic", "spec_version": "2.1", "id": "'
            + traffic_id
            + f'", "start": "{when}", "src_ref": "{src}"'
            + ("" if dst is None else f', "dst_ref": "{dst}"')
            + ("" if src_port is None else f', "src_port": {src_port}')
            + ("" if dst_port is None else f', "dst_port": {dst_port}')
            + f', "protocols": {protocols}'
        )
        count = _count(row[_F["bytes"]])
        if count is not None:
            text += f', "src_byte_count": {count}'
        count = _count(row[_F["packets"]])
        if count is not None:
            text += f', "src_packets": {count}'
        event_id = row[_F["event_id"]]
        if event_id is not None:
            text += f', "x_chainwatch_event_id": {_encode(event_id)}'
        self._pending.append(text + "}")
        refs.append(traffic_id)
        observed_id = "observed-data--" + _uuid_text(random, 4)
        text = (
            '{"type": "observed-data", "spec_version": "2.1", "id": "'
            + observed_id
            + self._observed_head
            + f'"first_observed": "{when}", "last_observed": "{when}", "number_observed": 1, '
            + '"object_refs": ["'
            + '", "'.join(refs)
            + '"]'
        )
        custom = {name: row[column] for name, column in _CUSTOM_COLUMNS if row[column] is not None}
        # One encoder call for all custom properties: "{...}" spliced in after the others.
        self._pending.append(text + (", " + _encode(custom)[1:] if custom else "}"))
        if row[_F["category"]] in _MINING:
            entry = self._mining[local_ip]
            at = row[_F["observed_at"]]
            entry[0] = at if entry[0] is None or at < entry[0] else entry[0]
            entry[1] = at if entry[1] is None or at > entry[1] else entry[1]
            if remote_ip and len(entry[2]) < MAX_ENDPOINTS:
                entry[2].add((remote_ip, row[_F["remote_port"]], row[_F["category"]]))
            if len(entry[3]) < MAX_ENDPOINTS:
                entry[3].append(observed_id)

    def end(self, handle: IO[str]) -> None:
        for local_ip, (first, _last, endpoints, observed) in sorted(self._mining.items()):
            kind = _address_kind(local_ip)
            clauses = []
            for remote_ip, port, _category in sorted(endpoints, key=str):
                clause = (
                    f"network-traffic:src_ref.type = '{kind}'"
                    f" AND network-traffic:src_ref.value = {_quote(local_ip)}"
                    f" AND network-traffic:dst_ref.type = '{_address_kind(remote_ip)}'"
                    f" AND network-traffic:dst_ref.value = {_quote(remote_ip)}"
                )
                if port is not None:
                    clause += f" AND network-traffic:dst_port = {int(port)}"
                clauses.append(f"[{clause}]")
            categories = sorted({c for _, _, c in endpoints})
            indicator = self._sdo("indicator") | {
                "name": f"cryptocurrency activity from watched address {local_ip}",
                "description": "Watched address seen in traffic classified as "
                + (", ".join(categories) or "mining activity")
                + " by chainwatch.",
                "indicator_types": ["anomalous-activity"],
                "pattern": " OR ".join(clauses) or f"[{kind}:value = {_quote(local_ip)}]",
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "valid_from": timestamp(first),
            }
            self._emit(indicator)
            for observed_id in observed:
                relationship = self._sdo("relationship") | {
                    "relationship_type": "based-on",
                    "source_ref": indicator["id"],
                    "target_ref": observed_id,
                }
                self._emit(relationship)
            self._flush(handle)
        self._flush(handle)
        handle.write("\n]}\n")
