"""What a flow reader accepts from a file it does not trust, and the stream that enforces it.

Limits (``Limits``; configuration ``[limits]``, each key with an environment twin):

- ``max_record_bytes`` (default 1 MiB): a line (an RFC 4180 record) longer than this is one
  bad line; it is skipped as it streams by, never held whole, so memory stays bounded
  whatever the file holds (1 GB without a line feed costs one bad line, not 1 GB).
- ``earliest`` / ``latest_ahead`` (default 1990-01-01 and one day after the scan's own
  time): a record whose time lies outside is a bad line. Flow records from before NetFlow
  or from the future are damage, and times near year 1 or 9999 break date arithmetic
  further down (a Python ``datetime`` cannot hold 9999-12-31T23:59:59-01:00 in UTC).
- ``MAX_COUNT`` (2**44, fixed): bytes or packets above it make a bad line. 2**44 bytes is
  more than a saturated 100 Gbit/s link carries in 23 minutes (far beyond any exporter's
  active timeout), and 2**19 = 524,288 records at that maximum still sum within a signed
  64-bit integer, the type of the rollups: an hour's rollup cannot overflow from real
  data, while 999999999999999999 (which overflowed them) is refused at the record.
- Decompression (fixed): a gzip input is inflated as it is read, never whole; once it has
  given ``EXPANSION_FLOOR`` (64 MiB) of text, more than ``MAX_EXPANSION`` (500) bytes out for
  each compressed byte in means a decompression bomb, and the input fails, named. Real
  nfdump and Zeek text compresses about 5-30:1 and even one line repeated 300:1; deflate's
  own ceiling is about 1030:1 (what runs of zeros give).

``open_stream`` opens an input (gzip or not) under these limits, and also reads files whose
lines end in a carriage return alone (classic Mac OS; some Excel exports): such a file is
read as if each CR were a line feed, the same number of bytes, so offsets and line numbers
hold. ``blocks`` cuts the stream into blocks of whole lines, with ``Overlong`` markers where a
line was too long.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from chainwatch.errors import ConfigError, InputError

MAX_RECORD_BYTES = 1 << 20
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
LATEST_AHEAD = dt.timedelta(days=1)
#: The largest bytes or packets count one record may carry (see the module docstring).
MAX_COUNT = 1 << 44
MAX_EXPANSION = 500
EXPANSION_FLOOR = 64 << 20
GZIP_MAGIC = b"\x1f\x8b"
_SNIFF = 1 << 16  # bytes looked at to tell CR-only line ends
_SIZE = re.compile(r"^\s*(\d+)\s*(|B|KiB|MiB|GiB)\s*$")
_SIZE_UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
_DAYS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|d)\s*$")
#: Configuration keys of ``[limits]`` and their environment twins.
ENVIRONMENT = {
    "max_record_bytes": "CHAINWATCH_MAX_RECORD_BYTES",
    "earliest": "CHAINWATCH_EARLIEST",
    "latest_ahead": "CHAINWATCH_LATEST_AHEAD",
}


@dataclass(frozen=True)
class Limits:
    """What readers accept.

    Attributes:
        max_record_bytes: the longest line (record) read; longer ones are bad lines.
        earliest: records before this time are bad lines.
        latest_ahead: records more than this after the time they are read are bad lines
            (measured when read, so a long-running ``chainwatch run`` keeps up).
    """

    max_record_bytes: int = MAX_RECORD_BYTES
    earliest: dt.datetime = EARLIEST
    latest_ahead: dt.timedelta = LATEST_AHEAD

    @property
    def latest(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.latest_ahead

    def too_early(self) -> str:
        """The reason of a record before the window (fixed text: it names no moving time)."""
        moment = self.earliest.astimezone(dt.UTC)
        when = (
            f"{moment:%Y-%m-%d}" if moment.time() == dt.time() else f"{moment:%Y-%m-%dT%H:%M:%SZ}"
        )
        return f"time is before {when}"

    def too_late(self) -> str:
        """The reason of a record past the window."""
        hours = self.latest_ahead.total_seconds() / 3600
        span = f"{hours / 24:g} day" if hours % 24 == 0 else f"{hours:g} hour"
        return f"time is more than {span}{'' if span.startswith('1 ') else 's'} ahead of now"


def load_limits(
    table: Mapping[str, Any] | None, environ: Mapping[str, str], where: Path | str
) -> Limits:
    """Limits from a configuration file's ``[limits]`` table and the environment (which
    wins); ``where`` names the file in errors."""
    table = dict(table or {})
    unknown = sorted(set(table) - set(ENVIRONMENT))
    if unknown:
        raise ConfigError(
            where, f"unknown key limits.{unknown[0]}", expected=f"one of: {', '.join(ENVIRONMENT)}"
        )
    values: dict[str, tuple[Any, str]] = {k: (v, f"{where}") for k, v in table.items()}
    for key, variable in ENVIRONMENT.items():
        if environ.get(variable):
            values[key] = (environ[variable], f"${variable}")
    limits = Limits()
    if "max_record_bytes" in values:
        value, source = values["max_record_bytes"]
        limits = _replace(limits, max_record_bytes=_size(value, source))
    if "earliest" in values:
        value, source = values["earliest"]
        limits = _replace(limits, earliest=_date(value, source))
    if "latest_ahead" in values:
        value, source = values["latest_ahead"]
        limits = _replace(limits, latest_ahead=_ahead(value, source))
    return limits


def _replace(limits: Limits, **changes: Any) -> Limits:
    return dataclasses.replace(limits, **changes)


def _size(value: Any, source: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ConfigError(
                source,
                f"max_record_bytes is {value!r}",
                expected='a size in bytes such as 1048576 or "4 MiB"',
            )
        size = int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if not 256 <= size <= 1 << 30:
        raise ConfigError(
            source, f"max_record_bytes is {value!r}", expected="a size from 256 bytes to 1 GiB"
        )
    return size


def _date(value: Any, source: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                source, f"earliest is {value!r}", expected='a date such as "1990-01-01"'
            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _ahead(value: Any, source: str) -> dt.timedelta:
    match = _DAYS.match(str(value))
    if not match:
        raise ConfigError(
            source, f"latest_ahead is {value!r}", expected='hours or days: "1d", "36h"'
        )
    number = float(match.group(1))
    return dt.timedelta(days=number) if match.group(2) == "d" else dt.timedelta(hours=number)


def default_limits() -> Limits:
    """The limits when a caller gives none: the built-in values with the environment's."""
    return load_limits(None, os.environ, "environment")


class Bounded(io.RawIOBase):
    """The first ``size`` bytes of an open file: what a writer appends after the file was
    hashed is not read now, but by the next round (which resumes there)."""

    def __init__(self, handle: io.FileIO, size: int, name: str) -> None:
        self.handle = handle
        self.size = size
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.handle.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            offset, whence = self.size + offset, io.SEEK_SET
        return self.handle.seek(offset, whence)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        left = self.size - self.handle.tell()
        if left <= 0:
            return 0
        view = memoryview(buffer)
        count = self.handle.readinto(view[: min(len(view), left)])
        if count == 0 and len(view):  # truncated or replaced since it was hashed
            raise InputError(
                self.name,
                f"shrank while it was read (it ends at byte {self.handle.tell():,}, "
                f"{self.size:,} were hashed)",
                expected="a file that only grows while it is read; scan again",
            )
        return count or 0


class _Counting(io.RawIOBase):
    """A file, counting the bytes read from it (the compressed side of a gzip input)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        got = self.handle.readinto(buffer)  # type: ignore[attr-defined]
        self.count += got or 0
        return int(got or 0)


class _Guarded(io.RawIOBase):
    """An input's decoded bytes: inflated if gzip, refused past the expansion guard, CRs
    made line feeds where the file ends its lines with CR alone. Seeking is to the start
    only (readers look at the first line again), by opening the file anew."""

    def __init__(self, path: Path, name: str, *, text: bool, size: int | None = None) -> None:
        self.path, self.name, self.size = path, name, size
        self.gzipped = False
        self.cr_only = False
        self._open()
        if text:
            head = self.read(_SNIFF) or b""
            self.cr_only = b"\n" not in head and b"\r" in head
            self._open()

    def _open(self) -> None:
        raw = self.path.open("rb", buffering=0)
        # Only the bytes that were hashed are read: what a writer appends meanwhile is the
        # next round's (which resumes there), so a growing file is read exactly once.
        self._file: Any = io.BufferedReader(
            raw if self.size is None else Bounded(raw, self.size, self.name), 1 << 16
        )
        self.gzipped = self._file.read(2) == GZIP_MAGIC
        self._file.seek(0)
        self._counting = _Counting(self._file)
        self._inner: Any = gzip.GzipFile(fileobj=self._counting) if self.gzipped else self._file
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or offset != 0:
            raise io.UnsupportedOperation("only seek(0)")
        self._close_inner()
        self._open()
        return 0

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not self.gzipped and not self.cr_only:  # straight into the buffer: no copy
            got = int(self._file.readinto(view) or 0)
            self.position += got
            return got
        try:
            data = self._inner.read(len(view))
        except EOFError:
            raise InputError(
                self.name, "is a truncated gzip file (it ends before the gzip end marker)"
            ) from None
        except (OSError, zlib.error) as exc:
            raise InputError(
                self.name, f"cannot be decompressed: {exc}", expected="a valid gzip file"
            ) from None
        if self.cr_only:
            data = data.replace(b"\r", b"\n")
        view[: len(data)] = data
        self.position += len(data)
        if (
            self.gzipped
            and self.position > EXPANSION_FLOOR
            and self.position > MAX_EXPANSION * max(self._counting.count, 1)
        ):
            raise InputError(
                self.name,
                f"inflates more than {MAX_EXPANSION}:1 ({self._counting.count:,} compressed "
                f"bytes gave {self.position:,}): refused as a decompression bomb",
                expected="a gzip file of flow records",
            )
        return len(data)

    def _close_inner(self) -> None:
        if self.gzipped:
            self._inner.close()
        self._file.close()

    def close(self) -> None:
        if not self.closed:
            self._close_inner()
        super().close()


def open_stream(path: Path, name: str, size: int | None = None) -> io.BufferedReader:
    """The input's text under the guards above (see the module docstring), its first
    ``size`` bytes (as hashed) when given."""
    return io.BufferedReader(_Guarded(path, name, text=True, size=size), buffer_size=1 << 16)


def guarded_reader(path: Path, name: str, size: int | None = None) -> BinaryIO:
    """The input's bytes exactly as decoded (no line ends changed), under the expansion
    guard: for callers that inflate an input in full without parsing it as text (hashing
    the decoded stream, a gzip-compressed capture)."""
    return io.BufferedReader(_Guarded(path, name, text=False, size=size), buffer_size=1 << 16)


@dataclass(frozen=True)
class Overlong:
    """A line longer than the maximum, skipped: ``size`` bytes, its line feed included."""

    size: int


def blocks(handle: IO[bytes], size: int, max_record: int) -> Iterator[bytes | Overlong]:
    """Blocks of whole lines (each ends at a line feed, but perhaps the last), and an
    ``Overlong`` in place of each line that grew past ``max_record`` bytes before its line
    feed: memory holds one block and at most ``max_record`` bytes carried over."""
    rest = b""
    skipping: int | None = None  # bytes of an over-long line passed so far
    while True:
        chunk = handle.read(size)
        if not chunk:
            break
        if skipping is not None:
            at = chunk.find(b"\n")
            if at < 0:
                skipping += len(chunk)
                continue
            yield Overlong(skipping + at + 1)
            skipping, chunk = None, chunk[at + 1 :]
            if not chunk:
                continue
        cut = chunk.rfind(b"\n")
        if cut < 0:
            rest += chunk
        else:
            if rest or cut + 1 < len(chunk):
                yield b"".join((rest, memoryview(chunk)[: cut + 1]))
            else:
                yield chunk
            rest = chunk[cut + 1 :]
        if len(rest) > max_record:
            skipping, rest = len(rest), b""
    if skipping is not None:
        yield Overlong(skipping)
    elif rest:
        yield rest


def read_line(handle: IO[bytes], max_record: int, name: str) -> bytes:
    """One line (a header), refusing one longer than ``max_record`` bytes."""
    line = handle.readline(max_record + 1)
    if len(line) > max_record and not line.endswith(b"\n"):
        raise InputError(
            name,
            f"has a header line longer than {max_record:,} bytes",
            expected="a header line naming the columns",
        )
    return line
