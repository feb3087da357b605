"""Zeek's dns.log, ssl.log and http.log, TSV or JSON lines, read record by record.

Which log a file is comes from its ``#path`` header line (TSV), else from its fields: TSV
``#fields`` or the keys of the first JSON line (dns: ``query``/``answers``; ssl:
``server_name``/``version``; http: ``host``/``method``/``uri``; conn: ``id.orig_h`` and
none of those). TSV follows Zeek's ASCII writer: ``#separator \\x09`` (then every header line
uses it), ``#set_separator`` between the elements of a set or vector, ``#empty_field``
(``(empty)``: an empty set, vector or string), ``#unset_field`` (``-``: no value), ``#fields``
and ``#types`` (``vector[...]``/``set[...]`` mark the container fields), ``#open``/``#close``
(comments), a header met again further on (logs joined with ``cat``) applying from there, and
``\\xHH`` escapes of separators and unprintable bytes inside values. JSON lines carry ``ts`` as
epoch seconds (float) or ISO-8601 text (Zeek's ``JSON::TS_ISO8601``), and ``id.orig_h`` etc. as
flat keys.

These logs hold one record per DNS transaction, TLS handshake or HTTP request: far fewer than
conn.log's packets-and-bytes records that the vectorised readers are built for, and what is
taken from each (names, an answers vector, a user agent) is looked at value by value anyway,
so they are read here one line at a time, in blocks of whole lines under the same limits
(record length, gzip expansion, the time window) as every reader. A line that cannot be used
is a ``Bad`` (its line number and why), never dropped silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chainwatch.flows.inputs import FlowInput
from chainwatch.flows.limits import Limits, Overlong, blocks, default_limits
from chainwatch.flows.limits import open_stream as _open
from chainwatch.flows.readers.text import BLOCK

#: The Zeek logs chainwatch reads, by their ``#path``.
KINDS = ("conn", "dns", "ssl", "http")
#: Fields that tell a log without a ``#path`` line (JSON lines always lack one).
_SIGNS = {
    "dns": ({"query", "answers"}, {"query", "qtype_name"}),
    "ssl": ({"server_name", "version"}, {"server_name", "cipher"}),
    "http": ({"host", "method", "uri"}, {"host", "user_agent"}),
}
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:?\d\d)$")


def kind_of_fields(names: set[str]) -> str | None:
    """The log kind a set of field names belongs to, or None."""
    for kind, signs in _SIGNS.items():
        if any(sign <= names for sign in signs):
            return kind
    return "conn" if "id.orig_h" in names else None


def log_kind(head: bytes) -> str | None:
    """``conn``, ``dns``, ``ssl``, ``http`` or None: from a TSV header's ``#path`` (else its
    ``#fields``), or the keys of a first JSON line."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().decode("utf-8", "replace")
    lines = text.splitlines()
    if not lines:
        return None
    if lines[0].startswith("{"):
        try:
            record = json.loads(lines[0])
        except ValueError:
            return None
        return kind_of_fields(set(record)) if isinstance(record, dict) else None
    sep = "\t"
    for line in lines:
        if not line.startswith("#"):
            break
        if line.startswith("#separator"):
            sep = _unescape(line.split(" ", 1)[-1])
            continue
        word, _, rest = line.partition(sep)
        if word == "#path":
            path = rest.strip()
            return path if path in KINDS else None
        if word == "#fields":
            return kind_of_fields(set(rest.split(sep)))
    return None


def _unescape(value: str) -> str:
    if "\\x" not in value:
        return value
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


@dataclass
class Bad:
    line: int
    reason: str


@dataclass
class Record:
    """One log line: its number, raw bytes' SHA-256, time and fields (unset ones absent,
    containers as lists)."""

    line: int
    raw: bytes
    ts: dt.datetime
    fields: dict[str, Any]

    @property
    def sha256(self) -> str:
        """The evidence hash of the line as read (computed only for lines an event cites)."""
        return hashlib.sha256(self.raw).hexdigest()

    def text(self, name: str) -> str | None:
        """A field as text, None when unset or empty."""
        value = self.fields.get(name)
        if value is None or value == "" or isinstance(value, list | dict):
            return None
        return str(value)

    def port(self, name: str) -> int | None:
        value = self.fields.get(name)
        try:
            port = int(value) if value is not None else None
        except (TypeError, ValueError):
            return None
        return port if port is not None and 0 <= port < 65536 else None


@dataclass
class _Header:
    """The TSV layout the header lines so far give."""

    sep: str = "\t"
    set_sep: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    names: list[str] = field(default_factory=list)
    containers: set[str] = field(default_factory=set)
    #: The fields the caller uses (None: all); only those are converted.
    wanted: frozenset[str] | None = None
    _taken: list[tuple[int, str]] = field(default_factory=list)

    def take(self, text: str) -> None:
        if text.startswith("#separator"):
            self.sep = _unescape(text.split(" ", 1)[-1]) or "\t"
            return
        word, _, rest = text.partition(self.sep)
        value = _unescape(rest)
        if word == "#set_separator":
            self.set_sep = value
        elif word == "#empty_field":
            self.empty = value
        elif word == "#unset_field":
            self.unset = value
        elif word == "#fields":
            self.names = rest.split(self.sep)
            self.containers = {n for n in self.names if n in ("answers", "TTLs")}
            self._taken = [
                (i, n) for i, n in enumerate(self.names) if self.wanted is None or n in self.wanted
            ]
        elif word == "#types":
            types = rest.split(self.sep)
            self.containers = {
                n
                for n, t in zip(self.names, types, strict=False)
                if t.startswith(("vector[", "set["))
            }

    def record(self, text: str) -> dict[str, Any] | str:
        """The fields of a data line, or why it is bad."""
        values = text.split(self.sep)
        if len(values) != len(self.names):
            return f"expected {len(self.names)} fields separated by {self.sep!r}"
        out: dict[str, Any] = {}
        for at, name in self._taken:
            value = values[at]
            if value == self.unset:
                continue
            if name in self.containers:
                out[name] = (
                    [] if value == self.empty else [_unescape(v) for v in value.split(self.set_sep)]
                )
            else:
                out[name] = "" if value == self.empty else _unescape(value)
        return out


def parse_ts(value: Any) -> dt.datetime | str:
    """A Zeek time (epoch seconds, number or text; or ISO-8601 with a zone), or why not."""
    if isinstance(value, bool) or value is None:
        return "ts is missing"
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _ISO.match(value.strip()):
        try:
            return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")).astimezone(
                dt.UTC
            )
        except ValueError:
            return "ts is not a valid date and time"
    else:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            return "ts is not epoch seconds or ISO-8601 with a zone"
    if not 0 <= seconds < 253402300800:
        return "ts is not epoch seconds or ISO-8601 with a zone"
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def read_records(
    flow_input: FlowInput,
    json_lines: bool,
    limits: Limits | None = None,
    wanted: Iterable[str] | None = None,
) -> Iterator[list[Record | Bad]]:
    """The records of a Zeek log (TSV or JSON lines), a block of lines at a time, with the
    ``wanted`` fields (and ``ts``; all when None). A file that has grown since a round read it
    (``flow_input.start``) is read from there, its header lines taken from the start."""
    limits = limits or default_limits()
    header = _Header(wanted=None if wanted is None else frozenset({"ts", *wanted}))
    number, offset = 1, 0
    with _open(flow_input.path, flow_input.name, flow_input.size) as handle:
        for chunk in blocks(handle, BLOCK, limits.max_record_bytes):
            if isinstance(chunk, Overlong):
                offset += chunk.size
                if offset > flow_input.start:
                    yield [Bad(number, f"is longer than {limits.max_record_bytes:,} bytes")]
                number += 1
                continue
            out: list[Record | Bad] = []
            for raw in io.BytesIO(chunk):  # lines end at LF only (a CR is data)
                end = offset + len(raw)
                line = raw.rstrip(b"\r\n")
                here, offset, number = number, end, number + 1
                if not line.strip():
                    continue
                if line.startswith(b"#") and not json_lines:
                    header.take(line.decode("utf-8", "replace"))
                    continue
                if end <= flow_input.start:
                    continue  # read by an earlier round
                out.append(_one(line, here, header, json_lines, limits))
            yield out


def _one(
    line: bytes, number: int, header: _Header, json_lines: bool, limits: Limits
) -> Record | Bad:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return Bad(number, "is not valid UTF-8")
    if json_lines:
        try:
            fields = json.loads(text)
        except ValueError:
            return Bad(number, "is not a JSON object")
        if not isinstance(fields, dict):
            return Bad(number, "is not a JSON object")
        fields = {k: v for k, v in fields.items() if v is not None}
    else:
        if not header.names:
            return Bad(number, "comes before the #fields line")
        parsed = header.record(text)
        if isinstance(parsed, str):
            return Bad(number, parsed)
        fields = parsed
    ts = parse_ts(fields.get("ts"))
    if isinstance(ts, str):
        return Bad(number, ts)
    if ts < limits.earliest:
        return Bad(number, limits.too_early())
    if ts > limits.latest:
        return Bad(number, limits.too_late())
    return Record(number, line, ts, fields)
