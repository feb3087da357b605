"""Finding and opening flow inputs: files, directories, gzip, and stdin.

Every input is read twice at most: once to hash it (the SHA-256 decides whether it was read
before), once to parse it. Standard input is spooled to a temporary file first so that it too
has a hash and can be read in bounded memory.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from chainwatch.errors import InputError

_HASH_BLOCK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class FlowInput:
    """One input file: ``path`` to read, ``name`` to show (``-`` for stdin). ``start`` is where
    reading begins: 0, or where an earlier round stopped in a file that has grown since."""

    path: Path
    name: str
    size: int
    sha256: str
    start: int = 0


def sha256_of(path: Path, limit: int | None = None) -> str:
    """SHA-256 of the file, or of its first ``limit`` bytes."""
    digest = hashlib.sha256()
    left = limit
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK if left is None else min(_HASH_BLOCK, left)):
            digest.update(block)
            if left is not None:
                left -= len(block)
                if left <= 0:
                    break
    return digest.hexdigest()


def _skip(path: Path) -> bool:
    # nfcapd writes into nfcapd.current.* and renames at rotation: never read a file mid-write.
    return path.name.startswith((".", "nfcapd.current")) or path.name.endswith((".tmp", ".part"))


def list_inputs(
    path: Path, what: str = "flow", kinds: str = "nfcapd, nfdump CSV, Zeek or CSV files"
) -> list[Path]:
    """The files to read under ``path`` (a file, or a directory walked in name order);
    ``what`` and ``kinds`` name them in errors."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not _skip(p))
        if not files:
            raise InputError(path, f"holds no {what} files", expected=kinds)
        return files
    if not path.exists():
        raise InputError(path, "does not exist", expected=f"a {what} file or directory")
    return [path]


def describe(path: Path, name: str | None = None) -> FlowInput:
    size = path.stat().st_size
    if size == 0:
        raise InputError(name or path, "is empty", expected="flow records")
    return FlowInput(path=path, name=name or str(path), size=size, sha256=sha256_of(path))


@contextmanager
def spooled_stdin() -> Iterator[Path]:
    """Standard input copied to a temporary file (removed afterwards)."""
    with tempfile.NamedTemporaryFile(prefix="chainwatch-stdin-", delete=True) as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, _HASH_BLOCK)
        spool.flush()
        yield Path(spool.name)


def is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


@contextmanager
def open_decoded(flow_input: FlowInput) -> Iterator[BinaryIO]:
    """The input's bytes, decompressed when it is gzip."""
    if is_gzip(flow_input.path):
        with gzip.open(flow_input.path, "rb") as handle:
            yield handle  # type: ignore[misc]
    else:
        with flow_input.path.open("rb") as handle:
            yield handle


def head(flow_input: FlowInput, size: int = 65536) -> bytes:
    """The first bytes of the (decompressed) input, for format detection."""
    with open_decoded(flow_input) as handle:
        try:
            return handle.read(size)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(
                flow_input.name, f"cannot be decompressed: {exc}", expected="a valid gzip file"
            ) from None


def blocks(handle: IO[bytes], size: int, name: str) -> Iterator[bytes]:
    """Blocks of whole lines (each ends at a newline, but perhaps the last)."""
    rest = b""
    while True:
        try:
            chunk = handle.read(size)
        except EOFError:
            raise InputError(
                name, "is a truncated gzip file (it ends before the gzip end marker)"
            ) from None
        except (OSError, zlib.error) as exc:
            raise InputError(
                name, f"cannot be decompressed: {exc}", expected="a valid gzip file"
            ) from None
        if not chunk:
            if rest:
                yield rest
            return
        chunk = rest + chunk
        cut = chunk.rfind(b"\n")
        if cut < 0:
            rest = chunk
            continue
        rest = chunk[cut + 1 :]
        yield chunk[: cut + 1]
