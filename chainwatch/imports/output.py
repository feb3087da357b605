"""Writing an imported catalog or watchlist CSV with its provenance header, and reading it back.

Every CSV an importer writes starts with comment lines that say where it came from
(INTERFACES.md section 4, kept by the loaders, which skip leading ``#`` lines)::

    # chainwatch catalog tor-2019
    # imported 2026-11-27T20:00:00Z by chainwatch 0.9.0: catalog import tor-consensus
    # source consensuses-2019-01.tar.xz size=123456 sha256=<hex>
    # span 2019-01-01T00:00:00Z 2019-12-31T23:00:00Z

one ``source`` line per source file; ``span`` is the earliest ``valid_from`` and the latest
``valid_to`` of the rows, ``-`` where some row is unbounded (or no row has that column).

The file is written to a temporary file in the target's own directory and renamed over the
target (``os.replace``) only once every row is written: an importer that fails halfway, or is
interrupted, leaves the previous file as it was and no temporary file behind. Rows stream
through, so a million-row catalog is never held in memory here.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chainwatch import __version__
from chainwatch.errors import ChainwatchError, WatchlistError

Kind = Literal["catalog", "watchlist"]
KINDS: tuple[Kind, ...] = ("catalog", "watchlist")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SOURCE = re.compile(r"^# source (?P<name>.+) size=(?P<size>\d+) sha256=(?P<sha>[0-9a-f]{64})$")
_IMPORTED = re.compile(r"^# imported (?P<at>\S+) by chainwatch (?P<version>\S+): (?P<cmd>.*)$")


@dataclass(frozen=True)
class SourceFile:
    """A file an import read, as the publisher shipped it: ``name`` (the file's name, or its
    path below a directory that was given), its ``size`` in bytes and the ``sha256`` of its
    bytes as they are on disk (of the archive, not of its members)."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class WriteSummary:
    """What ``write_csv`` wrote: the file, how many rows, and their date span (``None`` for an
    unbounded end)."""

    path: Path
    rows: int
    span_from: str | None
    span_to: str | None


@dataclass(frozen=True)
class Provenance:
    """The header of an imported CSV. ``span`` is (earliest valid_from, latest valid_to), each
    ``None`` when unbounded."""

    kind: Kind
    name: str
    imported_at: dt.datetime
    command: str
    sources: tuple[SourceFile, ...]
    span: tuple[str | None, str | None]
    version: str = ""


class NothingImported(ChainwatchError):
    """An import found no entries: nothing is written (an empty catalog would look like a
    successful import of a list that was not understood)."""


def _clean(text: str) -> str:
    """``text`` on one line: control characters (a newline in a file name would end the
    comment and start a CSV row) become ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _from_key(value: str) -> str:
    # A date alone starts at midnight, so it sorts before any time on that day, as it should.
    return value


def _to_key(value: str) -> str:
    # A date alone as valid_to is the whole day (inclusive): after any time on that day.
    return value + "T99" if len(value) == 10 else value


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def header_lines(
    kind: Kind,
    name: str,
    command: str,
    sources: Sequence[SourceFile],
    span: tuple[str | None, str | None],
    imported_at: str | None = None,
) -> list[str]:
    """The provenance comment lines, without line ends."""
    lines = [
        f"# chainwatch {kind} {_clean(name)}",
        f"# imported {imported_at or _utc_now()} by chainwatch {__version__}: {_clean(command)}",
    ]
    lines += [f"# source {_clean(s.name)} size={s.size} sha256={s.sha256}" for s in sources]
    lines.append(f"# span {span[0] or '-'} {span[1] or '-'}")
    return lines


def write_csv(
    path: Path,
    kind: Kind,
    name: str,
    command: str,
    sources: Sequence[SourceFile],
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
) -> WriteSummary:
    """Write ``rows`` under ``header`` to ``path`` with the provenance header, atomically.

    The span needs every row, and the header comes first, so rows go to a temporary body file
    and the final file is header + body, renamed into place. Raises ``NothingImported`` (and
    leaves ``path`` untouched) when there are no rows; any exception from ``rows`` leaves it
    untouched too. ``sources`` is read only once ``rows`` is exhausted, so it may be a list
    that the rows' generator fills as it opens each source.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    width = len(header)
    at_from = header.index("valid_from") if "valid_from" in header else None
    at_to = header.index("valid_to") if "valid_to" in header else None
    earliest: str | None = None
    latest: str | None = None
    unbounded_from = at_from is None
    unbounded_to = at_to is None
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    body_fd, body_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    final_name: str | None = None
    try:
        with open(body_fd, "w", encoding="utf-8", newline="") as body:
            writer = csv.writer(body, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                if len(row) != width:
                    raise ValueError(f"row of {len(row)} fields for a header of {width}: {row!r}")
                writer.writerow(row)
                count += 1
                if at_from is not None and not unbounded_from:
                    start = row[at_from]
                    if not start:
                        unbounded_from = True
                    elif earliest is None or _from_key(start) < _from_key(earliest):
                        earliest = start
                if at_to is not None and not unbounded_to:
                    end = row[at_to]
                    if not end:
                        unbounded_to = True
                    elif latest is None or _to_key(end) > _to_key(latest):
                        latest = end
        if count == 0:
            raise NothingImported(
                f"no entries found in {', '.join(s.name for s in sources) or 'the input'}; "
                f"{path} was not written"
            )
        span = (None if unbounded_from else earliest, None if unbounded_to else latest)
        final_fd, final_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        with (
            open(final_fd, "w", encoding="utf-8", newline="") as final,
            open(body_name, encoding="utf-8", newline="") as written,
        ):
            final.write("\n".join(header_lines(kind, name, command, sources, span)) + "\n")
            while block := written.read(1 << 20):
                final.write(block)
            final.flush()
            os.fsync(final.fileno())
        os.chmod(final_name, 0o644)  # mkstemp makes 0600; a catalog is not a secret
        os.replace(final_name, path)
        final_name = None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(body_name)
        if final_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(final_name)
    return WriteSummary(path=path, rows=count, span_from=span[0], span_to=span[1])


def read_provenance(path: Path) -> Provenance | None:
    """The provenance header of an imported CSV, or None when the file has none (a CSV written
    by hand). A header that starts as chainwatch's but is damaged is a ``WatchlistError``
    naming the line."""
    sources: list[SourceFile] = []
    imported: re.Match[str] | None = None
    span: tuple[str | None, str | None] | None = None
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        first = handle.readline().rstrip("\r\n").split(" ", 3)
        if len(first) != 4 or first[:2] != ["#", "chainwatch"] or first[2] not in KINDS:
            return None
        kind: Kind = "catalog" if first[2] == "catalog" else "watchlist"
        name = first[3]
        for number, raw in enumerate(handle, start=2):
            line = raw.rstrip("\r\n")
            if not line.startswith("#"):
                break
            if line.startswith("# imported "):
                imported = _IMPORTED.match(line)
                if imported is None:
                    raise WatchlistError(
                        path,
                        "damaged provenance line",
                        line=number,
                        expected="# imported TIME by chainwatch VERSION: COMMAND",
                    )
            elif line.startswith("# source "):
                source = _SOURCE.match(line)
                if source is None:
                    raise WatchlistError(
                        path,
                        "damaged provenance line",
                        line=number,
                        expected="# source NAME size=BYTES sha256=HEX",
                    )
                sources.append(SourceFile(source["name"], int(source["size"]), source["sha"]))
            elif line.startswith("# span "):
                parts = line.split(" ")
                if len(parts) != 4:
                    raise WatchlistError(
                        path, "damaged provenance line", line=number, expected="# span FROM TO"
                    )
                span = (
                    None if parts[2] == "-" else parts[2],
                    None if parts[3] == "-" else parts[3],
                )
    if imported is None:
        raise WatchlistError(path, "provenance header has no '# imported' line", line=2)
    try:
        at = dt.datetime.fromisoformat(imported["at"].replace("Z", "+00:00"))
    except ValueError:
        raise WatchlistError(path, "damaged import time", line=2, expected="ISO-8601 UTC") from None
    return Provenance(
        kind=kind,
        name=name,
        imported_at=at,
        command=imported["cmd"],
        sources=tuple(sources),
        span=span or (None, None),
        version=imported["version"],
    )
