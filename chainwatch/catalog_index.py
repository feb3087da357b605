"""Catalog rows compiled into flat numpy tables, for classifying whole batches at once.

Two indexes answer "which rows could this (address, port, time) be":

- ``AddressIndex``: the catalog's address rows, per family cut into elementary segments
  (``watchlists/segments.py``, the watchlist matcher's structure), each segment with the list
  of rows covering it (CSR). Built once per scan; a million rows compile in about a second.
- ``HostIndex``: the addresses DNS answers gave the catalog's host rows. One rule per (host
  row, address, run of answers whose horizons overlap), valid from the first answer's time
  minus the horizon to the last one's plus it, within the row's own window. Rebuilt, cheaply,
  whenever answers are added; the runs keep their answers so the one nearest a record's time
  can be named.

``best_rules`` expands each record into its (record, rule) pairs, tests port and time on all
pairs at once, and keeps the passing rule of lowest priority (row index: catalogs in load
order, rows in file order) per record. Pairs are expanded in chunks, so a batch in which
every record hits a much-repeated address keeps memory bounded.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from chainwatch.passive_dns import Answer
from chainwatch.watchlists.endpoint_rows import ANY_PORT, EndpointRows
from chainwatch.watchlists.matcher import NO_TIME
from chainwatch.watchlists.ranges import NO_END, NO_START, micros
from chainwatch.watchlists.segments import Segments

#: Priority of "no rule": above every row index.
NONE = np.iinfo(np.int64).max
#: (record, rule) pairs tested at once.
CHUNK = 1 << 21


@dataclass
class Rules:
    """Per rule: priority (its row), port (``ANY_PORT``: any), window, and whether undated."""

    priority: np.ndarray
    port: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __post_init__(self) -> None:
        self.undated = (self.start == NO_START) & (self.end == NO_END)


def _pairs(
    records: np.ndarray, first: np.ndarray, count: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(record, position) pairs: positions ``first[i]..first[i]+count[i]`` of every record,
    in chunks of about ``CHUNK`` pairs."""
    keep = count > 0
    records, first, count = records[keep], first[keep], count[keep]
    ends = np.cumsum(count)
    start = 0
    while start < len(records):
        base = int(ends[start - 1]) if start else 0
        stop = max(int(np.searchsorted(ends, base + CHUNK, side="right")), start + 1)
        c = count[start:stop]
        total = int(c.sum())
        offsets = np.cumsum(c) - c
        position = np.repeat(first[start:stop] - offsets, c) + np.arange(total)
        yield np.repeat(records[start:stop], c), position
        start = stop


def best_rules(
    rules: Rules,
    pairs: Iterator[tuple[np.ndarray, np.ndarray]],
    rule_at: np.ndarray,
    ports: np.ndarray,
    times: np.ndarray,
    best: np.ndarray,
    chosen: np.ndarray | None = None,
) -> None:
    """Lower ``best[record]`` to the priority of each passing (record, rule) pair; with
    ``chosen``, also note the passing rule of that priority (one per record and row here:
    the rules of one row and address never overlap in time)."""
    for record, position in pairs:
        rule = rule_at[position]
        port = rules.port[rule]
        t = times[record]
        ok = (port == ANY_PORT) | (port == ports[record])
        ok &= rules.undated[rule] | (
            (t != NO_TIME) & (rules.start[rule] <= t) & (t <= rules.end[rule])
        )
        if not ok.any():
            continue
        record, rule = record[ok], rule[ok]
        priority = rules.priority[rule]
        np.minimum.at(best, record, priority)
        if chosen is not None:  # a record's pairs all come in one chunk: best is final
            won = priority == best[record]
            chosen[record[won]] = rule[won]


class AddressIndex:
    """The address rows of a catalog, per family (see the module docstring)."""

    def __init__(self, rows: EndpointRows) -> None:
        index = np.arange(len(rows), dtype=np.int64)
        self.rules = Rules(index, rows.port, rows.valid_from, rows.valid_to)
        self.families: dict[int, Segments] = {}
        for family in (4, 6):
            at = np.flatnonzero(rows.version == family)
            if len(at):
                self.families[family] = Segments(
                    family, rows.hi[at], rows.lo[at], rows.prefix[at], index[at]
                )

    def lower(
        self,
        family: int,
        records: np.ndarray,
        keys: np.ndarray,
        ports: np.ndarray,
        times: np.ndarray,
        best: np.ndarray,
    ) -> None:
        """Lower ``best`` (per record, indexed by ``records``) to the priority of the first
        address row that fits each record (address key, port, time)."""
        segments = self.families.get(family)
        if segments is None or not len(records):
            return
        segment = segments.segment(keys)
        first = segments.ptr[segment]
        count = segments.ptr[segment + 1] - first
        pairs = _pairs(records, first, count)
        best_rules(self.rules, pairs, segments.cover, ports, times, best)


@dataclass
class _Run:
    """Answers for one (host row, address) whose horizons overlap: one host rule."""

    start: int
    end: int
    answers: list[tuple[int, Answer]] = field(default_factory=list)


class HostIndex:
    """Addresses that answers gave the catalog's host rows (see the module docstring)."""

    def __init__(self, rows: EndpointRows, horizon_us: int) -> None:
        self.rows = rows
        self.horizon = horizon_us
        #: host pattern -> its rows, in priority order
        self.patterns: dict[str, list[int]] = {}
        for row in np.flatnonzero(rows.host >= 0).tolist():
            self.patterns.setdefault(rows.hosts[int(rows.host[row])], []).append(row)
        self._seen: dict[tuple[int, int, int], dict[Answer, int]] = {}
        self._families: dict[int, tuple[np.ndarray, Rules]] = {}
        self._sightings: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._dirty = False

    def rows_for(self, name: str) -> list[int]:
        """The host rows whose pattern covers ``name``, exact names and ``*.`` suffixes."""
        found = list(self.patterns.get(name, ()))
        labels = name.split(".")
        for i in range(1, len(labels)):
            found.extend(self.patterns.get("*." + ".".join(labels[i:]), ()))
        return found

    def add(self, answers: list[Answer]) -> None:
        for answer in answers:
            name = answer.host.strip().lower().rstrip(".")
            rows = self.rows_for(name) if not name.startswith("*") else []
            if not rows:
                continue
            try:
                address = ipaddress.ip_address(answer.address)
            except ValueError:
                continue  # not an address: it cannot match a record
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped  # as records are matched (addresses.py)
            seen = micros(answer.seen_at)
            for row in rows:
                key = (row, address.version, int(address))
                self._seen.setdefault(key, {})[answer] = seen
                self._dirty = True

    def _compile(self) -> None:
        built: dict[int, list[tuple[int, int, int, int, int, _Run]]] = {4: [], 6: []}
        for (row, version, value), sightings in self._seen.items():
            low, high = int(self.rows.valid_from[row]), int(self.rows.valid_to[row])
            runs: list[_Run] = []
            for answer, seen in sorted(sightings.items(), key=lambda item: item[1]):
                start, end = seen - self.horizon, seen + self.horizon
                if runs and start <= runs[-1].end + 1:
                    runs[-1].end = end
                else:
                    runs.append(_Run(start, end))
                runs[-1].answers.append((seen, answer))
            for run in runs:
                start, end = max(run.start, low), min(run.end, high)
                if start <= end:
                    port = int(self.rows.port[row])
                    built[version].append((value, row, port, start, end, run))
        self._families = {}
        for version, items in built.items():
            items.sort(key=lambda item: item[:2])
            keys: np.ndarray
            if version == 4:
                keys = np.array([item[0] for item in items], np.uint64)
            else:
                keys = np.array([item[0].to_bytes(16, "big") for item in items], "S16")
            rules = Rules(
                np.array([item[1] for item in items], np.int64),
                np.array([item[2] for item in items], np.int32),
                np.array([item[3] for item in items], np.int64),
                np.array([item[4] for item in items], np.int64),
            )
            runs = [item[5] for item in items]
            self._families[version] = (keys, rules)
            # Every run's sightings, in (rule, time) order, for naming the nearest answer.
            counts = [len(run.answers) for run in runs]
            answers = np.empty(sum(counts), dtype=object)
            answers[:] = [answer for run in runs for _, answer in run.answers]
            self._sightings[version] = (
                np.repeat(np.arange(len(runs), dtype=np.int64), counts),
                np.array([seen for run in runs for seen, _ in run.answers], np.int64),
                answers,
            )
        self._dirty = False

    def lower(
        self,
        family: int,
        records: np.ndarray,
        keys: np.ndarray,
        ports: np.ndarray,
        times: np.ndarray,
        best: np.ndarray,
        chosen: np.ndarray,
    ) -> None:
        """Like ``AddressIndex.lower``, also noting each record's rule in ``chosen``."""
        if self._dirty:
            self._compile()
        if family not in self._families or not len(records):
            return
        table, rules = self._families[family]
        first = np.searchsorted(table, keys, side="left")
        count = np.searchsorted(table, keys, side="right") - first
        order = np.arange(len(table))
        best_rules(rules, _pairs(records, first, count), order, ports, times, best, chosen)

    def answers(self, family: int, rule: np.ndarray, times: np.ndarray) -> np.ndarray:
        """The answer through which each record matched host rule ``rule``: of the rule's
        run, the one seen nearest the record's time. Vectorised: answers and records sorted
        together by (rule, time), each record takes the nearest answer before and after it
        within its rule (running max/min of answer positions)."""
        seen_rule, seen_time, seen_answer = self._sightings[family]
        a = len(seen_rule)
        is_record = np.concatenate([np.zeros(a, bool), np.ones(len(rule), bool)])
        order = np.lexsort(
            (is_record, np.concatenate([seen_time, times]), np.concatenate([seen_rule, rule]))
        )
        record_at = is_record[order]
        before = np.maximum.accumulate(np.where(record_at, -1, order))[record_at]
        after = np.minimum.accumulate(np.where(record_at, a, order)[::-1])[::-1][record_at]
        record = order[record_at] - a
        mine = rule[record]
        t = times[record]
        safe_before, safe_after = np.maximum(before, 0), np.minimum(after, a - 1)
        has_before = (before >= 0) & (seen_rule[safe_before] == mine)
        has_after = (after < a) & (seen_rule[safe_after] == mine)
        gap_before = np.where(has_before, t - seen_time[safe_before], NONE)
        gap_after = np.where(has_after, seen_time[safe_after] - t, NONE)
        found = np.full(len(rule), None, dtype=object)
        found[record] = np.where(
            gap_after < gap_before, seen_answer[safe_after], seen_answer[safe_before]
        )
        return found
