"""Zeek's dns.log, ssl.log and http.log as evidence, and their join to conn.log by ``uid``.

- dns.log: each answer that is an address (Zeek's ``answers`` vector holds the addresses of
  A/AAAA records and the names of CNAME records, in order) is a passive DNS ``Answer`` for the
  name asked (``query``) and for every CNAME name of the same vector (the chain that led to
  the address). Refused, NXDOMAIN or otherwise failed look-ups (``rcode_name`` other than
  NOERROR) and answers that are no address give none. Batches of a dns.log carry answers and
  no flow records.
- ssl.log ``server_name`` and http.log ``host`` are looked up in the catalogs (exact names and
  ``*.`` suffixes): a catalog host whose endpoint is valid at the record's time gives an
  ``endpoint`` verdict naming the name that matched (``sni`` or ``host``, and ``matched``: the
  catalog's host or pattern). Failing that, an http.log ``user_agent`` of miner software
  (``coins.agent_coins``) gives a mining verdict (detector ``payload``) whose coin is the
  agent's when it tells one, at the agent's confidence (``coins.CONFIDENCE["agent"]``).

The join, and why it never counts a connection twice nor loses a verdict. One flows watcher's
inputs (a directory, several ``--flows`` paths) are read in this order: dns logs, then every
other log (conn.log among them), then ssl and http logs (``order``). Before conn.log is read,
the verdicts of the ssl/http logs not yet read are collected (``Join.learn``; only records with
a verdict are kept, so memory holds few). A conn.log record whose uid has one gets it (the
pcap reader's verdict columns), so its event keeps the connection's bytes, packets and times;
its ``detail`` adds the name, what matched, and ``joined`` (``FILE:LINE`` of the ssl/http
record). Then each ssl/http log is stored, and yields an event of its own (its own ``id.*``
fields and ``ts``; bytes and packets unknown) for each verdict record whose connection
(``zeek:<uid>``, the key a Zeek event is stored under) the source has not stored yet. So:
the conn.log record, when there is one, carries the verdict; otherwise the ssl/http record
does; the store's unique connection key excludes a second event. Every input stays its own
transaction: an ssl/http log is recorded as read only once its events are stored, so a scan
killed after the conn.logs and rerun learns the verdicts again from the ssl/http logs it had
not finished, and one killed later finds the joined events stored and adds no second one.
Verdicts of ssl/http logs read by an earlier scan are not joined to a later conn.log (their
events exist already).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainwatch import coins
from chainwatch.categories import CONFIDENCE, Detector
from chainwatch.classify import Classifier, HostMatch
from chainwatch.errors import ChainwatchError
from chainwatch.flows.inputs import FlowInput, head
from chainwatch.flows.limits import Limits
from chainwatch.flows.readers.zeek_logs import Bad, Record, log_kind, read_records
from chainwatch.observations import SCHEMA, VERDICT_SCHEMA, Batch, empty
from chainwatch.passive_dns import Answer

_MAYBE_ADDRESS = re.compile(r"^[0-9a-fA-F:.]+$")
#: Problems kept with their line number per input (the rest are counted).
EXAMPLES = 20
#: Verdict rows per batch of an ssl/http log.
ROWS = 50_000
#: Order in which a watcher reads the logs: dns first (its answers attribute what follows),
#: ssl/http last (their verdicts go to conn.log's records first).
_RANK = {"dns": 0, "ssl": 2, "http": 2}


def is_sensor_log(fmt: str) -> bool:
    """Whether a format name (``detect``) is a Zeek dns, ssl or http log."""
    return fmt.startswith(("zeek-dns", "zeek-ssl", "zeek-http"))


def peek_kind(path: Path, name: str) -> str | None:
    """The Zeek log kind of a file from its first bytes (None: not a Zeek log, or unreadable
    now, which reading it will say)."""
    try:
        return log_kind(head(FlowInput(path, name, path.stat().st_size, ""), 8192))
    except (ChainwatchError, OSError):
        return None


def order(kinds: Sequence[str | None]) -> list[int]:
    """Indices of the inputs in reading order: dns logs, then the rest, then ssl/http logs
    (each group in the order given)."""
    return sorted(range(len(kinds)), key=lambda i: (_RANK.get(kinds[i] or "", 1), i))


@dataclass(frozen=True)
class Verdict:
    """What an ssl/http record says about its connection, and the record itself (for an
    event of its own)."""

    uid: str | None
    category: str
    detector: str
    confidence: float
    endpoint: str | None
    facts: dict[str, Any]
    where: str  # "FILE:LINE"
    record: Record


@dataclass
class VerdictLog:
    """The verdicts of one ssl/http log, and how many of its records were usable or bad."""

    verdicts: list[Verdict] = field(default_factory=list)
    usable: int = 0
    bad: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)

    def add_bad(self, bad: Bad) -> None:
        self.bad += 1
        if len(self.bad_examples) < EXAMPLES:
            self.bad_examples.append((bad.line, bad.reason))


def verdict_of(
    record: Record,
    kind: str,
    match: Callable[[str, dt.datetime], HostMatch | None],
    name: str,
) -> Verdict | None:
    """The verdict an ssl (``server_name``) or http (``host``, ``user_agent``) record gives."""
    key = "sni" if kind == "ssl" else "host"
    host = record.text("server_name" if kind == "ssl" else "host")
    if host is not None and kind == "http" and not host.startswith("["):
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # "pool:8080"
    where = f"{name}:{record.line}"
    uid = record.text("uid")
    found = match(host, record.ts) if host else None
    if found is not None:
        endpoint, pattern = found.endpoint, found.pattern
        return Verdict(
            uid,
            endpoint.category,
            Detector.ENDPOINT.value,
            CONFIDENCE[Detector.ENDPOINT],
            endpoint.name,
            {key: host, "matched": pattern},
            where,
            record,
        )
    agent = record.text("user_agent") if kind == "http" else None
    if agent is None or not coins.agent_coins(agent):
        return None
    facts: dict[str, Any] = {"agent": agent}
    if host:
        facts["host"] = host
    category, confidence = coins.attribute(facts)
    # The agent is all that was seen: never surer than the agent hint is.
    confidence = min(confidence, coins.CONFIDENCE["agent"])
    return Verdict(uid, category, Detector.PAYLOAD.value, confidence, None, facts, where, record)


#: The fields read from each log (TSV lines convert only these).
_IDS = ("uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto")
WANTED = {
    "ssl": (*_IDS, "server_name"),
    "http": (*_IDS, "host", "user_agent"),
    "dns": ("query", "answers", "rcode_name"),
}


def read_verdicts(
    flow_input: FlowInput, kind: str, json_lines: bool, classifier: Classifier, limits: Limits
) -> VerdictLog:
    """The verdicts of a whole ssl/http log (few: only records with one are kept). A name or
    agent seen again is looked up once."""
    log = VerdictLog()
    unlisted: set[str] = set()  # names no catalog row names, whatever the time

    def match(name: str, when: dt.datetime) -> HostMatch | None:
        if name in unlisted:
            return None
        found = classifier.match_host(name, when)
        if found is None and classifier.match_host(name) is None:
            unlisted.add(name)
        return found

    for block in read_records(flow_input, json_lines, limits, WANTED[kind]):
        for item in block:
            if isinstance(item, Bad):
                log.add_bad(item)
                continue
            found = verdict_of(item, kind, match, flow_input.name)
            if found is not None and not (item.text("id.orig_h") and item.text("id.resp_h")):
                log.add_bad(Bad(item.line, "id.orig_h or id.resp_h is missing"))
                continue
            log.usable += 1
            if found is not None:
                log.verdicts.append(found)
    return log


def _verdict_columns(
    verdicts: Sequence[Verdict | None], extra: Sequence[dict[str, Any]]
) -> list[pa.Array]:
    """The pcap reader's verdict columns (``VERDICT_SCHEMA``) for rows with these verdicts
    (None: no verdict), ``extra`` facts added to each row's own."""
    facts = [
        None if v is None else json.dumps(v.facts | more, ensure_ascii=False, sort_keys=True)
        for v, more in zip(verdicts, extra, strict=True)
    ]
    return [
        pa.array([None if v is None else v.category for v in verdicts], pa.string()),
        pa.array([None if v is None else v.detector for v in verdicts], pa.string()),
        pa.array([None if v is None else v.confidence for v in verdicts], pa.float64()),
        pa.array([None if v is None else v.endpoint for v in verdicts], pa.string()),
        pa.array(facts, pa.string()),
    ]


def verdict_batches(log: VerdictLog, stored: set[str]) -> Iterator[Batch]:
    """An ssl/http log's verdicts as flow records of their own (bytes and packets unknown),
    but those whose connection the source stored already (``stored``: uids)."""
    rows = [v for v in log.verdicts if v.uid is None or v.uid not in stored]
    first = True
    for start in range(0, max(len(rows), 1), ROWS):
        part = rows[start : start + ROWS]
        records = [v.record for v in part]
        arrays = [
            pa.array([r.ts for r in records], SCHEMA.field("ts").type),
            pa.array([r.text("id.orig_h") for r in records], pa.string()),
            pa.array([r.text("id.resp_h") for r in records], pa.string()),
            pa.array([r.port("id.orig_p") for r in records], pa.int64()),
            pa.array([r.port("id.resp_p") for r in records], pa.int64()),
            pa.array([(r.text("proto") or "tcp").lower() for r in records], pa.string()),
            pa.nulls(len(part), pa.int64()),
            pa.nulls(len(part), pa.int64()),
            pa.array([v.uid for v in part], pa.string()),
            *_verdict_columns(part, [{}] * len(part)),
        ]
        table = pa.Table.from_arrays(arrays, schema=pa.schema([*SCHEMA, *VERDICT_SCHEMA]))
        batch = Batch(
            table,
            np.array([r.line for r in records], dtype=np.int64),
            digests=[r.sha256 for r in records],
            usable=log.usable if first else 0,
        )
        if first:
            batch.bad, batch.bad_examples = log.bad, list(log.bad_examples)
        first = False
        yield batch


@functools.lru_cache(maxsize=1 << 16)
def _address(text: str) -> str | None:
    """An answer's address in canonical text, or None when it is a name (answers repeat:
    each distinct text is parsed once)."""
    if not _MAYBE_ADDRESS.match(text):
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def dns_answers(record: Record, name: str) -> list[Answer]:
    """The passive DNS answers of one dns.log record (see the module docstring)."""
    rcode = record.text("rcode_name")
    if rcode is not None and rcode.upper() != "NOERROR":
        return []
    query = record.text("query")
    answers = record.fields.get("answers")
    if query is None or not isinstance(answers, list):
        return []
    names, addresses = [query], []
    for value in answers:
        text = str(value).strip()
        address = _address(text)
        if address is not None:
            addresses.append(address)
        elif text and " " not in text:  # a CNAME's name (TXT and the like hold spaces)
            names.append(text)
    chain = dict.fromkeys(n.lower().rstrip(".") for n in names)
    where = f"{name}:{record.line}"
    return [Answer(host, a, record.ts, where) for a in dict.fromkeys(addresses) for host in chain]


def read_dns(flow_input: FlowInput, json_lines: bool, limits: Limits) -> Iterator[Batch]:
    """A dns.log's answers, a block at a time, in batches without flow records."""
    for block in read_records(flow_input, json_lines, limits, WANTED["dns"]):
        batch = empty()
        good = [item for item in block if isinstance(item, Record)]
        bad = [item for item in block if isinstance(item, Bad)]
        batch.answers = [a for r in good for a in dns_answers(r, flow_input.name)]
        batch.usable = len(good)
        batch.bad = len(bad)
        batch.bad_examples = [(b.line, b.reason) for b in bad[:EXAMPLES]]
        yield batch


class Join:
    """The verdicts of a watcher's ssl/http logs, by uid, for its conn.log records."""

    def __init__(self) -> None:
        self.by_uid: dict[str, Verdict] = {}
        self.logs: dict[tuple[str, int], VerdictLog] = {}

    def learn(self, flow_input: FlowInput, log: VerdictLog) -> None:
        """Keep an ssl/http log's verdicts (the first per uid) and the log itself, so that
        storing it later does not read it again."""
        self.logs[(flow_input.sha256, flow_input.start)] = log
        for verdict in log.verdicts:
            if verdict.uid is not None:
                self.by_uid.setdefault(verdict.uid, verdict)

    def batches(
        self,
        flow_input: FlowInput,
        fmt: str,
        classifier: Classifier,
        limits: Limits,
        stored: Callable[[Sequence[str]], set[str]],
    ) -> Iterator[Batch]:
        """A dns log's answers; an ssl/http log's verdicts but those of connections whose key
        (``zeek:<uid>``) the source has ``stored`` already (joined to conn.log, or from
        another log of the same uid)."""
        kind, json_lines = fmt.split("-")[1], fmt.endswith("-json")
        if kind == "dns":
            return read_dns(flow_input, json_lines, limits)
        log = self.logs.get((flow_input.sha256, flow_input.start)) or read_verdicts(
            flow_input, kind, json_lines, classifier, limits
        )
        keys = sorted({f"zeek:{v.uid}" for v in log.verdicts if v.uid is not None})
        return verdict_batches(log, {key.removeprefix("zeek:") for key in stored(keys)})

    def annotate(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """conn.log batches, each record whose uid has a verdict given it (verdict columns)."""
        for batch in batches:
            yield self._annotated(batch) if self.by_uid else batch

    def _annotated(self, batch: Batch) -> Batch:
        table = batch.table
        if table.num_rows == 0:
            return batch
        uid = table.column("uid")
        hit = pc.fill_null(pc.is_in(uid, value_set=pa.array(list(self.by_uid), pa.string())), False)
        rows = np.flatnonzero(np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool))
        if len(rows) == 0:
            return batch
        verdicts: list[Verdict | None] = [None] * table.num_rows
        extra: list[dict[str, Any]] = [{}] * table.num_rows
        uids = uid.take(pa.array(rows)).to_pylist()
        for row, key in zip(rows.tolist(), uids, strict=True):
            verdicts[row] = self.by_uid[key]
            extra[row] = {"joined": self.by_uid[key].where}
        for name, array in zip(
            VERDICT_SCHEMA.names, _verdict_columns(verdicts, extra), strict=True
        ):
            table = table.append_column(name, array)
        batch.table = table
        return batch
