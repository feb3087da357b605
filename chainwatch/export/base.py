"""What every exporter shares: the interface, value formatting and atomic output files.

An exporter receives chunks of event rows and writes one file: typed values in
``EXPORT_FIELDS`` order, or for the text formats the JSON the database serialised them to
(``json_rows``, see ``stream_json``), which is several times faster to read and write.
Files are written under a temporary name and renamed only when complete, so an export that is
interrupted never leaves a file that looks finished; ``manifest.json`` is renamed last.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

from chainwatch.store.evidence import EXPORT_FIELDS

NUMERIC_FIELDS = frozenset(
    {"event_id", "local_port", "remote_port", "confidence", "bytes", "packets"}
)


def utc_text(value: dt.datetime) -> str:
    """ISO-8601 UTC with ``Z`` (microseconds only when there are some)."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class Exporter(ABC):
    """Writes one output file from streamed event rows."""

    #: file name inside the export directory
    filename: str
    #: what ``write`` gets: None for typed values (``stream_events``: ``EXPORT_FIELDS``, then
    #: ``input_id``); "arrays" or "objects" for events serialised as JSON (``stream_json``)
    json_rows: ClassVar[Literal["arrays", "objects"] | None] = None

    @abstractmethod
    def begin(self, handle: IO[str]) -> None: ...

    @abstractmethod
    def write(self, handle: IO[str], rows: list[tuple[Any, ...]]) -> int:
        """Write rows; returns how many records (rows or objects) were written."""

    def end(self, handle: IO[str]) -> None:  # noqa: B027 - optional hook
        """Finish the file (footer); nothing by default."""


class AtomicFile:
    """A text file written as ``.NAME.partial`` and renamed to ``NAME`` on ``commit``."""

    def __init__(self, directory: Path, name: str) -> None:
        self.final = directory / name
        self.temp = directory / f".{name}.partial"
        self.handle: IO[str] = self.temp.open("w", encoding="utf-8", newline="")

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.temp, self.final)

    def discard(self) -> None:
        self.handle.close()
        self.temp.unlink(missing_ok=True)


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


__all__ = ["EXPORT_FIELDS", "NUMERIC_FIELDS", "AtomicFile", "Exporter", "sha256_file", "utc_text"]
