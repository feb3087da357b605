"""Suricata's eve.json: flow records, coin-miner alerts, DNS answers, TLS server names, HTTP
hosts and user agents, into batches of the flow schema.

One JSON object a line (Suricata's EVE format), read a block of lines at a time like the other
text formats (gzip, directories, growing files, file:line on every bad line). By
``event_type``:

- ``flow``: a flow record, both directions in one (like Zeek's conn.log): ``flow.start``,
  ``bytes_toserver + bytes_toclient``, ``pkts_*``; ``flow_id`` is the record's ``uid``, so
  the pipeline counts a connection once.
- ``alert``: counted when the signature mapping (``signatures``) says so, as a record carrying
  its verdict (``chainwatch.observations.VERDICT_SCHEMA``): the mapped category, detector and
  confidence, and the rule's ``signature_id``, ``signature``, ``rev``, ``gid`` and
  ``category`` in ``facts`` (the event's ``detail``). Other alerts are counted, not stored.
- ``dns``: answers become passive DNS ``Answer``s (``Batch.answers``; ``eve_dns``).
- ``tls`` (``sni``) and ``http`` (``hostname``): a name the catalogs list
  (``Classifier.match_host``: exact or ``*.suffix``) gives an ``endpoint`` verdict saying which
  name matched; a miner's ``http_user_agent`` (``coins.agent_coins``) a ``payload`` pool
  verdict with the agent's coin.
- anything else (``stats``, ``fileinfo``, ``anomaly``, ...) is skipped and counted by type.

A sensor record (alert, tls, http) carries no bytes: the flow record of its connection does,
and rollups would count them twice. The reader remembers the verdicts it gave per ``flow_id``
and gives the same verdict to the connection's flow record, which Suricata writes when the
flow ends: whichever of the two the pipeline keeps (the earliest), the event has the sensor's
facts, and with the flow record its bytes and start.

Plain flow records, most of a real eve.json, are read a block at a time by Arrow
(``eve_fast``); every other line is parsed with ``json`` one by one: an EVE line is a nested
object whose fields differ by event type, which Arrow's JSON reader would need one schema per
type for.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from chainwatch.categories import POOLS, Detector, coin_of
from chainwatch.classify import Classifier
from chainwatch.flows.columns import PROTOCOLS, UTC_US
from chainwatch.flows.inputs import FlowInput, split_lines
from chainwatch.flows.limits import Limits, Overlong, blocks, default_limits, open_stream
from chainwatch.flows.readers.text import BLOCK, overlong, resume
from chainwatch.observations import SCHEMA, VERDICT_SCHEMA, Batch
from chainwatch.passive_dns import Answer
from chainwatch.sensors.eve_dns import CnameMemo, dns_answers
from chainwatch.sensors.eve_fast import fast_flows
from chainwatch.sensors.eve_names import (
    Malformed,
    Verdict,
    facts_text,
    http_verdict,
    tls_verdict,
)
from chainwatch.sensors.signatures import SignatureMap

#: Verdicts remembered per flow_id for the connection's flow record (the oldest forgotten).
REMEMBERED = 100_000
#: Problems kept per batch with their line (the rest are counted).
EXAMPLES = 20
_SCHEMA = pa.schema([*SCHEMA, *VERDICT_SCHEMA])


def _time(value: Any, what: str) -> dt.datetime:
    if not isinstance(value, str):
        raise Malformed(f"{what} is missing" if value is None else f"{what} is not text")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(f"{what} {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise Malformed(f"{what} {value!r} has no time zone")
    return when.astimezone(dt.UTC)


def _port(record: dict[str, Any], key: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None  # ICMP has none
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise Malformed(f"{key} {value!r} is not a port number")
    return value


def _count(flow: dict[str, Any], one: str, other: str) -> int | None:
    """``one + other``, or None when either is missing (never a made-up part)."""
    a, b = flow.get(one), flow.get(other)
    if type(a) is not int or type(b) is not int:  # bool is an int, and not a count
        return None
    return a + b


class EveReader:
    """One eve.json input, read into ``Batch`` objects (see the module docstring). ``note``
    receives the summary lines (skipped event types, alerts ignored) once it is read."""

    def __init__(
        self,
        flow_input: FlowInput,
        classifier: Classifier,
        mapping: SignatureMap,
        limits: Limits | None = None,
        note: Callable[[str], None] | None = None,
        *,
        fast: bool = True,
    ) -> None:
        self.input = flow_input
        self.classifier = classifier
        self.mapping = mapping
        self.limits = limits or default_limits()
        self.note = note
        self.fast = fast  # plain flow records through Arrow (``eve_fast``); off: all line by line
        self.skipped: Counter[str] = Counter()
        self.ignored_alerts = 0
        self.verdicts: OrderedDict[str, Verdict] = OrderedDict()
        self.cnames = CnameMemo()

    def batches(self) -> Iterator[Batch]:
        limits = self.limits
        with open_stream(self.input.path, self.input.name, self.input.size) as handle:
            number = resume(handle, self.input.start, 1)
            for block in blocks(handle, BLOCK, limits.max_record_bytes):
                if isinstance(block, Overlong):
                    yield overlong(block, number, limits)
                    number += 1
                    continue
                lines, number = split_lines(block, number)
                batch = self._batch(block, lines.raw(), lines.numbers, lines.start, lines.end)
                batch.bytes_read = len(block)
                yield batch
        if self.note is not None:
            for line in self.summary():
                self.note(line)

    def summary(self) -> list[str]:
        """What was read but not stored, for the scan's output."""
        name, out = self.input.name, []
        if self.ignored_alerts:
            s = "s" if self.ignored_alerts > 1 else ""
            out.append(
                f"{name}: {self.ignored_alerts:,} alert{s} of other signatures ignored "
                "(not in the Suricata signature mapping)"
            )
        if self.skipped:
            kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(self.skipped.items()))
            out.append(f"{name}: event types not read, skipped: {kinds}")
        return out

    def _batch(
        self,
        block: bytes,
        raw: list[bytes],
        numbers: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
    ) -> Batch:
        fast = fast_flows(raw, self.limits, self.verdicts) if self.fast else None
        quick, quick_table = fast if fast is not None else (np.zeros(0, np.int64), None)
        rows: list[tuple[Any, ...]] = []
        keep: list[int] = []
        answers: list[Answer] = []
        bad, examples = 0, list[tuple[int, str]]()
        earliest, latest = self.limits.earliest, self.limits.latest
        rest = np.ones(len(raw), dtype=bool)
        rest[quick] = False
        for i in np.flatnonzero(rest).tolist():
            number = int(numbers[i])
            try:
                record = json.loads(raw[i])
                if not isinstance(record, dict):
                    raise Malformed("is not a JSON object")
                kind = record.get("event_type")
                if not isinstance(kind, str):
                    raise Malformed("has no event_type")
                when = _time(record.get("timestamp"), "timestamp")
                if when < earliest:  # DNS answers too: a sensor's clock at 1970 proves nothing
                    raise Malformed(self.limits.too_early())
                if when > latest:
                    raise Malformed(self.limits.too_late())
                row = self._record(kind, record, when, number, answers)
                if row is not None:
                    if row[0] < earliest:
                        raise Malformed(self.limits.too_early())
                    if row[0] > latest:
                        raise Malformed(self.limits.too_late())
                    rows.append(row)
                    keep.append(i)
            except ValueError:  # json's errors, bad UTF-8 among them
                bad += 1
                if len(examples) < EXAMPLES:
                    examples.append((number, "is not a JSON object"))
            except Malformed as exc:
                bad += 1
                if len(examples) < EXAMPLES:
                    examples.append((number, str(exc)))
        table = _table(rows)
        if quick_table is not None and quick_table.num_rows:
            plain = quick_table.num_rows
            nulls = [pa.nulls(plain, f.type) for f in VERDICT_SCHEMA]
            quick_table = pa.Table.from_arrays([*quick_table.columns, *nulls], schema=_SCHEMA)
            table = pa.concat_tables([quick_table, table])
        picked = np.concatenate([quick, np.asarray(keep, dtype=np.int64)])
        return Batch(
            table,
            numbers[picked],
            bad=bad,
            bad_examples=examples,
            block=block,
            spans=np.stack([starts[picked], ends[picked]], axis=1),
            usable=len(raw) - bad,
            answers=answers,
        )

    def _record(
        self,
        kind: str,
        record: dict[str, Any],
        when: dt.datetime,
        number: int,
        answers: list[Answer],
    ) -> tuple[Any, ...] | None:
        """The row of one record, or None when it makes none (answers are added to
        ``answers``)."""
        if kind == "dns":
            found, problem = dns_answers(
                record.get("dns"), when, f"{self.input.name}:{number}", self.cnames
            )
            if problem is not None:
                raise Malformed(problem)
            answers.extend(found)
            return None
        if kind == "flow":
            flow = record.get("flow")
            if not isinstance(flow, dict):
                raise Malformed("flow event has no flow object")
            start = _time(flow["start"], "flow.start") if "start" in flow else when
            uid = self._uid(record)
            verdict = self.verdicts.get(uid) if uid is not None else None
            return self._row(
                record,
                start,
                _count(flow, "bytes_toserver", "bytes_toclient"),
                _count(flow, "pkts_toserver", "pkts_toclient"),
                verdict,
            )
        if kind == "alert":
            verdict = self._alert(record)
        elif kind == "tls":
            verdict = tls_verdict(self.classifier, record, when)
        elif kind == "http":
            verdict = http_verdict(self.classifier, record, when)
        else:
            self.skipped[kind] += 1
            return None
        if verdict is None:
            return None
        flow = record.get("flow")
        start = when
        if isinstance(flow, dict) and "start" in flow:  # alerts carry their flow's start
            start = _time(flow["start"], "flow.start")
        row = self._row(record, start, None, None, verdict)
        self._remember(self._uid(record), verdict, f"{self.input.name}:{number}")
        return row

    def _row(
        self,
        record: dict[str, Any],
        start: dt.datetime,
        size: int | None,
        packets: int | None,
        verdict: Verdict | None,
    ) -> tuple[Any, ...]:
        src, dst = record.get("src_ip"), record.get("dest_ip")
        if not isinstance(src, str) or not isinstance(dst, str):
            raise Malformed("src_ip or dest_ip is missing")
        given = record.get("proto")
        proto = "" if given is None else str(given).lower()
        return (
            start,
            src,
            dst,
            _port(record, "src_port"),
            _port(record, "dest_port"),
            PROTOCOLS.get(proto, proto) or None,
            size,
            packets,
            self._uid(record),
            *(verdict or (None, None, None, None, None)),
        )

    @staticmethod
    def _uid(record: dict[str, Any]) -> str | None:
        flow_id = record.get("flow_id")
        return None if flow_id is None else str(flow_id)

    def _remember(self, uid: str | None, verdict: Verdict, where: str) -> None:
        """Keep a sensor record's verdict for its connection's flow record, saying where it
        was seen (the flow record, cited by the event, does not show it)."""
        if uid is None:
            return
        held = self.verdicts.get(uid)
        if held is not None and held[1] == Detector.PAYLOAD and verdict[1] != Detector.PAYLOAD:
            return  # the stronger verdict stays
        facts = json.loads(verdict[4])
        facts["verdict_ref"] = where
        self.verdicts[uid] = (*verdict[:4], json.dumps(facts, ensure_ascii=False, sort_keys=True))
        self.verdicts.move_to_end(uid)
        while len(self.verdicts) > REMEMBERED:
            self.verdicts.popitem(last=False)

    def _alert(self, record: dict[str, Any]) -> Verdict | None:
        alert = record.get("alert")
        if not isinstance(alert, dict) or not isinstance(alert.get("signature"), str):
            raise Malformed("alert event has no alert.signature")
        sid = alert.get("signature_id")
        if sid is not None and (isinstance(sid, bool) or not isinstance(sid, int)):
            raise Malformed(f"alert.signature_id {sid!r} is not a number")
        verdict = self.mapping.judge(sid, alert["signature"])
        if verdict is None:
            self.ignored_alerts += 1
            return None
        facts = facts_text(
            event_type="alert",
            signature_id=sid,
            signature=alert["signature"],
            rev=alert.get("rev"),
            gid=alert.get("gid"),
            category=alert.get("category"),
            rule=verdict.rule,
            coin_from=verdict.coin_from
            if coin_of(verdict.category) or verdict.category in POOLS
            else None,
        )
        return (verdict.category, verdict.detector, verdict.confidence, None, facts)


def _table(rows: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_SCHEMA)
    arrays = [
        pa.array(columns[0], pa.timestamp("us", tz="UTC")).cast(UTC_US),
        *(pa.array(columns[i], _SCHEMA.field(i).type) for i in range(1, len(_SCHEMA))),
    ]
    return pa.Table.from_arrays(arrays, schema=_SCHEMA)
