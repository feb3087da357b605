"""Finding and opening flow inputs: files, directories, gzip, and stdin.

An input is known by the SHA-256 of its decoded stream (a ``.gz`` copy of a file is the same
input as the file) and by its resolved path (``./a/../a/f.csv`` and a symlink to it name one
file). Every input is read twice at most: once to hash it, once to parse it, and the parse reads
exactly the bytes that were hashed (``FlowInput.size``): lines a writer appends in between are
left for the next round, which resumes there. A file that vanishes or cannot be opened is an
``InputError`` naming it, never an ``OSError``. Standard input is spooled to a temporary file
first so that it too has a hash and can be read in bounded memory. Text is parsed in blocks of
whole lines (``blocks``), each cut into its data lines at once (``split_lines``).

Why hash first rather than while parsing: a rescan of a directory (every ``run`` round) meets
mostly inputs read before, and deciding that from a hash taken while parsing would parse each of
them in full and roll it back. Hashing first costs one extra read of a plain file (from the page
cache) and one extra decompression of a gzip file: ``benchmarks/inputs.py`` measured 0.09 s and
0.14 s for a million CSV records (66 MiB; 1.07x hashlib alone, 1.17x gzip alone), beside about
10 s to scan them, and the bounded read as fast as a plain one.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from chainwatch.errors import InputError
from chainwatch.flows.limits import GZIP_MAGIC, guarded_reader

_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class FlowInput:
    """One input file: ``path`` to read, ``name`` to show (``-`` for stdin). ``size`` is how
    many bytes of the file were hashed, and so how many are read; ``sha256`` the hash of those
    bytes decoded (decompressed, for gzip). ``start`` is where reading begins: 0, or where an
    earlier round stopped in a file that has grown since. A piece of a large text input
    (``chainwatch.flows.ranges.split``) also has ``end``, where reading stops (exclusive; None:
    ``size``), and ``first_line``, the number of the line at ``start`` when known, so that the
    piece's reader need not count the lines before it."""

    path: Path
    name: str
    size: int
    sha256: str
    start: int = 0
    end: int | None = None
    first_line: int | None = None

    @property
    def stop(self) -> int:
        """The byte offset reading stops at: ``end``, else ``size``."""
        return self.size if self.end is None else self.end


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


def identity(path: Path) -> str:
    """The path an input is recorded under: absolute, ``..`` and symlinks resolved, so that
    another spelling of a file finds the round that read it (a growing file resumes)."""
    return str(path.resolve())


def unreadable(name: str | Path, exc: OSError) -> InputError:
    """An input that vanished or cannot be opened, as the one-line error naming it."""
    if isinstance(exc, FileNotFoundError):
        return InputError(name, "vanished before it could be read (deleted or renamed)")
    return InputError(name, f"cannot be read: {exc.strerror or exc}")


def describe(path: Path, name: str | None = None) -> FlowInput:
    """The input at ``path``, sized and hashed (its decoded stream) as it is now."""
    shown = name or str(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise InputError(shown, "is empty", expected="flow records")
        digest = hashlib.sha256()
        with guarded_reader(path, shown, size) as decoded:
            while block := decoded.read(_HASH_BLOCK):
                digest.update(block)
    except OSError as exc:  # gzip's own errors are InputErrors by now (``limits``)
        raise unreadable(shown, exc) from None
    return FlowInput(path=path, name=shown, size=size, sha256=digest.hexdigest())


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
    """The input's bytes, as many as were hashed, decompressed when it is gzip (under the
    expansion guard of ``limits``)."""
    try:
        handle = guarded_reader(flow_input.path, flow_input.name, flow_input.size)
    except OSError as exc:
        raise unreadable(flow_input.name, exc) from None
    with handle:
        yield handle


def head(flow_input: FlowInput, size: int = 65536) -> bytes:
    """The first bytes of the (decompressed) input, for format detection."""
    with open_decoded(flow_input) as handle:  # gzip damage is an InputError there already
        try:
            return handle.read(size)
        except OSError as exc:
            raise unreadable(flow_input.name, exc) from None


_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True  # what bytes.strip() removes


@dataclass
class Lines:
    """The lines of a block that hold data (not blank, not comments), as byte ranges of the
    block, ``start`` to ``end``: without the newline and trailing carriage returns. ``nul``
    marks lines holding a NUL byte, ``high`` lines holding bytes above ASCII (perhaps not
    UTF-8): readers look closer at those."""

    block: bytes
    data: np.ndarray
    start: np.ndarray
    end: np.ndarray
    numbers: np.ndarray
    nul: np.ndarray
    high: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def raw(self, rows: np.ndarray | None = None) -> list[bytes]:
        """The lines (at ``rows``, else all) as bytes, for the few that need Python."""
        block = self.block
        start, end = (self.start, self.end) if rows is None else (self.start[rows], self.end[rows])
        return [block[s:e] for s, e in zip(start.tolist(), end.tolist(), strict=True)]


def split_lines(
    block: bytes, first_line: int, *, comment: bytes | None = None
) -> tuple[Lines, int]:
    """The data lines of ``block``, whose first line is number ``first_line``, and the number
    of the line after the block. The lines are found with numpy on the whole block rather than
    one by one: a block is a few MiB and tens of thousands of lines."""
    data = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    count = len(newlines) + (1 if block and block[-1:] != b"\n" else 0)
    start = np.empty(count, dtype=np.int64)
    start[:1] = 0
    start[1:] = newlines[: count - 1] + 1
    end = np.empty(count, dtype=np.int64)
    end[: len(newlines)] = newlines
    end[len(newlines) :] = len(block)
    cr = np.arange(count)
    for _ in range(4):  # all trailing CRs go, as bytes.rstrip(b"\r") did; mostly one
        cr = cr[end[cr] > start[cr]]
        cr = cr[data[end[cr] - 1] == 13]
        end[cr] -= 1
    for row in cr.tolist():  # rare: more CRs than that (a long run only costs its length)
        end[row] = start[row] + len(block[start[row] : end[row]].rstrip(b"\r"))
    filled = end > start
    head = data[start]  # every line starts inside the block
    keep = filled.copy()
    for row in np.flatnonzero(filled & _SPACE[head]).tolist():
        keep[row] = bool(block[start[row] : end[row]].strip())  # rare: maybe only white space
    if comment:
        marked = np.flatnonzero(keep & (head == comment[0]))
        if len(comment) > 1:
            marked = np.asarray(
                [row for row in marked.tolist() if block.startswith(comment, start[row])],
                dtype=np.int64,
            )
        keep[marked] = False
    rows = np.flatnonzero(keep)
    nul = np.zeros(count, dtype=bool)
    if b"\x00" in block:
        nul[np.searchsorted(start, np.flatnonzero(data == 0), side="right") - 1] = True
    high = np.zeros(count, dtype=bool)
    if count and not block.isascii():
        high = np.maximum.reduceat(data, start) >= 0x80
    lines = Lines(block, data, start[rows], end[rows], rows + first_line, nul[rows], high[rows])
    return lines, first_line + count
