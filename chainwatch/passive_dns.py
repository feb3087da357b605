"""Passive DNS: the answers that tie a catalog host name to an address, and when and where
each was seen.

An address belongs to a catalog host for a record at time t only when an answer for that
host with that address was seen within ``[catalogs] dns_horizon`` of t (the rule lives in
``chainwatch.classify``). Answers come from the traffic (DNS responses in captures, Zeek
``dns.log``, Suricata ``dns`` events) and from look-ups made when a scan runs
(``chainwatch.resolve``, seen at the scan's time, so they only speak for records near it).

One name may be answered thousands of times in one input. ``Sightings`` folds the answers of
an input into *clusters*: for each (host, address), sightings less than ``SPAN`` apart from
each other's extremes share a row holding the first and the last sighting (with where each was
seen). Both ends are handed to the classifier, so nothing is lost for any horizon of at least
``SPAN``: a record within the horizon of a folded sighting s lies within it of an end too
(if it lies between the ends, it is less than ``SPAN`` from either; otherwise the nearer end
is nearer than s). ``MIN_HORIZON`` (= ``SPAN``) is therefore the smallest horizon accepted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainwatch.errors import ConfigError

#: Sightings of one (host, address) closer together than this share one stored row.
SPAN = dt.timedelta(hours=1)
#: The smallest ``dns_horizon`` for which the folded rows answer exactly as the sightings would.
MIN_HORIZON = SPAN
#: Open clusters held per input before all are written out (memory stays flat on a dns.log
#: of millions of distinct names; a closed cluster is as correct as an open one).
MAX_OPEN = 100_000
#: ``seen_in`` of the answers of look-ups made by a scan.
LOOKUP_SEEN_IN = "look-up at scan time"
#: ``kind`` of a stored answer: from the traffic, or looked up by a scan.
TRAFFIC, LOOKUP = "traffic", "lookup"
#: The configuration key and its environment twin.
HORIZON_KEY, HORIZON_ENV = "dns_horizon", "CHAINWATCH_DNS_HORIZON"


@dataclass(frozen=True)
class Answer:
    """One DNS answer: ``host`` resolved to ``address``, seen at ``seen_at`` in ``seen_in``.

    Attributes:
        host: lower case, no trailing dot (the name asked for, or a name of the CNAME chain
            leading to the address: one Answer per name of the chain).
        address: canonical text (``str(ipaddress.ip_address(...))``).
        seen_at: UTC-aware; the packet's or log line's time, or the scan's for its look-ups.
        seen_in: where: ``"FILE:PACKET"``, ``"FILE:LINE"`` or ``"look-up at scan time"``.
    """

    host: str
    address: str
    seen_at: dt.datetime
    seen_in: str


def host_name(name: str) -> str:
    """A DNS name as answers and catalogs compare it: lower case, no trailing dot."""
    return name.strip().lower().rstrip(".")


@dataclass(slots=True)
class Cluster:
    """Sightings of one (host, address) in one input, less than ``SPAN`` apart: the first and
    the last (the same Answer when seen once)."""

    first: Answer
    last: Answer

    def answers(self) -> list[Answer]:
        return [self.first] if self.first == self.last else [self.first, self.last]


class Sightings:
    """Folds an input's answers into clusters (see the module docstring). ``add`` returns the
    clusters it closed; ``close`` the ones still open at the input's end."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], Cluster] = {}

    def add(self, answers: Iterable[Answer]) -> list[Cluster]:
        closed: list[Cluster] = []
        held = self._open
        for answer in answers:
            key = (answer.host, answer.address)
            cluster = held.get(key)
            if cluster is None:
                held[key] = Cluster(answer, answer)
                continue
            when = answer.seen_at
            if when > cluster.last.seen_at:
                if when - cluster.first.seen_at < SPAN:
                    cluster.last = answer
                    continue
            elif when < cluster.first.seen_at:
                if cluster.last.seen_at - when < SPAN:
                    cluster.first = answer
                    continue
            else:
                continue  # within the cluster: its ends already cover it
            closed.append(cluster)
            held[key] = Cluster(answer, answer)
        if len(held) > MAX_OPEN:
            closed.extend(self.close())
        return closed

    def close(self) -> list[Cluster]:
        closed = list(self._open.values())
        self._open = {}
        return closed


def unique(answers: Iterable[Answer]) -> list[Answer]:
    """The answers without repeats, in their first order."""
    return list(dict.fromkeys(answers))


def exact_hosts(hosts: Iterable[str]) -> list[str]:
    """The catalog hosts that are names (not ``*.suffix`` patterns, never looked up)."""
    return sorted({host_name(h) for h in hosts if not h.startswith("*.")})


def load_horizon(
    table: Mapping[str, Any] | None,
    environ: Mapping[str, str],
    path: Path,
    default: dt.timedelta,
) -> dt.timedelta:
    """``[catalogs] dns_horizon`` (a duration such as ``"7d"``; ``CHAINWATCH_DNS_HORIZON``
    wins), at least ``MIN_HORIZON``; errors name the file and line of the key (or the
    variable)."""
    from chainwatch.config import parse_duration  # config imports this module

    table = dict(table or {})
    unknown = sorted(set(table) - {HORIZON_KEY})
    if unknown:
        raise ConfigError(
            path,
            f"unknown key catalogs.{unknown[0]}",
            line=_line_of(path, unknown[0]),
            expected=HORIZON_KEY,
        )
    value: Any = table.get(HORIZON_KEY)
    where: Path | str = path
    line = _line_of(path, HORIZON_KEY)
    if environ.get(HORIZON_ENV):
        value, where, line = environ[HORIZON_ENV], f"${HORIZON_ENV}", None
    if value is None:
        return default
    try:
        seconds = parse_duration(value, where=HORIZON_KEY, path=where)
    except ConfigError as exc:
        raise ConfigError(where, exc.problem, line=line, expected=exc.expected) from None
    horizon = dt.timedelta(seconds=seconds)
    if horizon < MIN_HORIZON:
        raise ConfigError(
            where,
            f"{HORIZON_KEY} is {value!r}",
            line=line,
            expected='a duration of at least 1h, such as "7d"',
        )
    return horizon


def _line_of(path: Path, key: str) -> int | None:
    """The line of ``key = ...`` in the file's ``[catalogs]`` table, for error messages."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeError):
        return None
    table = ""
    for number, text in enumerate(lines, start=1):
        header = re.match(r"^\s*\[\s*([^\]\s]+)\s*\]", text)
        if header:
            table = header.group(1)
        elif re.match(
            rf"^\s*{'' if table == 'catalogs' else 'catalogs[.]'}{re.escape(key)}\s*=", text
        ):
            return number
    return None
