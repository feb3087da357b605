"""nfcapd files, read through the real nfdump: one file at a time, or a group of files in one
nfdump process (``read_nfcapd_group``), the next group read while the current one is stored
(``read_nfcapd_groups``).

A five-minute file holds little, and an nfdump process and a transaction per file cost more
than reading it: a group of files is read by one nfdump over a directory of symlinks where a
marker file follows each input (``nfcapd_marker``), so that each record is still known by its
file and numbered within it exactly as ``read_nfcapd`` numbers it. A group is read whole
before its first batch is handed out: nfdump reports a damaged file only on stderr, perhaps
after printing, so nothing of a group is stored before nfdump has ended without complaint.
When it complained, or the markers do not line up, each file of the group is read alone, as
``read_nfcapd`` reads it, and only the files that fail so fail (``GroupError``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import numpy as np

from chainwatch.errors import InputError
from chainwatch.flows.ahead import ahead
from chainwatch.flows.inputs import FlowInput
from chainwatch.flows.limits import Limits, default_limits
from chainwatch.flows.readers.batch import Layout
from chainwatch.flows.readers.csv_readers import (
    NFDUMP_FMT,
    NFDUMP_FMT_NAMES,
    NO_FLOWS,
    nfdump_index,
)
from chainwatch.flows.readers.nfcapd_marker import MARKER_FILTER, Marker, marker
from chainwatch.flows.readers.text import delimited
from chainwatch.observations import Batch, empty

#: At most this many files, and this many bytes of them, in one group: bounds the memory a
#: group's output takes while it waits to be stored (two groups are held, one being stored).
GROUP_FILES = 64
GROUP_BYTES = 16 << 20
#: Where a group's directory of symlinks goes: in memory when it can (a symlink on a disk
#: /tmp took 0.5 to 1.5 ms here, a third of nfdump's time for a group; in /dev/shm 20 us).
_LINKS = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
#: Pipe capacity asked for nfdump's output (Linux): nfdump writes on while a block is parsed.
_PIPE = 1 << 20


def nfdump_binary() -> str:
    path = shutil.which("nfdump")
    if path is None:
        raise InputError(
            "nfdump",
            "is not installed",
            expected="the nfdump package (apt-get install nfdump) to read nfcapd files",
        )
    return path


#: What nfdump prints on stderr when it could not read a file (it may still exit 0).
_NFDUMP_ERROR = re.compile(r"error|short read|corrupt|failed|can't|cannot|unable", re.I)


def _argv(source: list[str], filter_file: os.PathLike[str] | str) -> list[str]:
    return [nfdump_binary(), *source, "-q", "-N", "-o", NFDUMP_FMT, "-f", os.fspath(filter_file)]


def _layout(limits: Limits) -> Layout:
    index = nfdump_index(NFDUMP_FMT_NAMES)
    return Layout(",", len(NFDUMP_FMT_NAMES), index, naive_is_utc=True, limits=limits)


def _failure(error: str, status: int) -> str | None:
    """Why nfdump failed, or None. nfdump 1.7 exits 0 on a damaged file ("Open file F:
    appendix offset error", "Short read for ...", "GetNextFile() error"): its error lines
    count as failure too, so the input is not recorded as read."""
    failed = [line for line in error.splitlines() if _NFDUMP_ERROR.search(line)]
    if status == 0 and not failed:
        return None
    return (failed or error.splitlines() or [f"exit status {status}"])[0]


def read_nfcapd(
    flow_input: FlowInput, filter_file: os.PathLike[str], limits: Limits | None = None
) -> Iterator[Batch]:
    """nfcapd files through the real nfdump: nfdump's C code applies the watch filter (read
    from ``filter_file``, see ``chainwatch.flows.nfdump_filter``) and prints only the fields
    chainwatch uses, in UTC."""
    argv = _argv(["-r", str(flow_input.path)], filter_file)
    env = dict(os.environ, TZ="UTC")
    layout = _layout(limits or default_limits())
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        try:
            # nfdump prints "No matching flows" when the filter kept nothing: not a record.
            yield from delimited(
                proc.stdout, flow_input.name, layout, first_line=1, stop=(NO_FLOWS,)
            )
        finally:
            if proc.poll() is None:
                proc.kill()
        error = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        reason = _failure(error, proc.wait())
        if reason is not None:
            raise InputError(
                flow_input.name, f"nfdump could not read it: {reason}", expected="an nfcapd file"
            )


class GroupError(InputError):
    """Inputs of a group that nfdump could not read, each read alone (``failed``: index into
    the group -> that input's error, as ``read_nfcapd`` raises it). Raised after every other
    input's batches were yielded: those inputs are whole."""

    def __init__(self, failed: dict[int, InputError]) -> None:
        first = next(iter(failed.values()))
        super().__init__(first.path, first.problem, line=first.line, expected=first.expected)
        self.failed = failed


@dataclass
class _Group:
    """A group read whole: each input's batches (at least one, perhaps empty), the failed."""

    batches: list[list[Batch]]
    failed: dict[int, InputError] = field(default_factory=dict)


def read_nfcapd_group(
    inputs: Sequence[FlowInput], filter_file: os.PathLike[str], limits: Limits | None = None
) -> Iterator[tuple[int, Batch]]:
    """(index into ``inputs``, batch) for every input in order, at least one batch each, read
    by one nfdump process; each batch's lines are record numbers within its own file. Inputs
    nfdump could not read are left out and raised at the end as one ``GroupError``."""
    return _replay(_read_group(inputs, filter_file, limits or default_limits()))


def read_nfcapd_groups(
    groups: Iterable[Sequence[FlowInput]],
    filter_file: os.PathLike[str],
    limits: Limits | None = None,
) -> Iterator[tuple[Sequence[FlowInput], Iterator[tuple[int, Batch]]]]:
    """Each group with what ``read_nfcapd_group`` yields of it, nfdump reading the next group
    in a thread while the caller stores the current one. A group of one input is streamed,
    not held (a big file is a group of its own, ``group_inputs``): its failure is the
    ``InputError`` of ``read_nfcapd``, raised where nfdump reported it."""
    limits = limits or default_limits()

    def read(group: Sequence[FlowInput]) -> tuple[Sequence[FlowInput], _Group | None]:
        return group, _read_group(group, filter_file, limits) if len(group) > 1 else None

    for group, read_whole in ahead(groups, read, depth=1):
        if read_whole is None:
            yield group, ((0, b) for b in read_nfcapd(group[0], filter_file, limits))
        else:
            yield group, _replay(read_whole)


def group_inputs(
    inputs: Iterable[FlowInput], *, files: int = GROUP_FILES, size: int = GROUP_BYTES
) -> Iterator[list[FlowInput]]:
    """Consecutive inputs in groups of at most ``files`` files and ``size`` bytes; a file of
    ``size`` bytes or more is a group of its own."""
    group: list[FlowInput] = []
    total = 0
    for each in inputs:
        if group and (len(group) >= files or total + each.size > size):
            yield group
            group, total = [], 0
        group.append(each)
        total += each.size
    if group:
        yield group


def _replay(group: _Group) -> Iterator[tuple[int, Batch]]:
    for index, batches in enumerate(group.batches):
        if index not in group.failed:
            for batch in batches:
                yield index, batch
    if group.failed:
        raise GroupError(group.failed)


def _read_group(
    inputs: Sequence[FlowInput], filter_file: os.PathLike[str], limits: Limits
) -> _Group:
    found = marker(NFDUMP_FMT) if len(inputs) > 1 else None
    if found is not None:
        with tempfile.TemporaryDirectory(prefix="chainwatch-nfcapd-", dir=_LINKS) as tmp:
            read = _one_process(inputs, filter_file, limits, found, Path(tmp))
        if read is not None:
            return read
    return _each_alone(inputs, filter_file, limits)


def _each_alone(
    inputs: Sequence[FlowInput], filter_file: os.PathLike[str], limits: Limits
) -> _Group:
    group = _Group([])
    for index, each in enumerate(inputs):
        try:
            group.batches.append(list(read_nfcapd(each, filter_file, limits)) or [empty()])
        except InputError as exc:
            group.batches.append([])
            group.failed[index] = exc
    return group


def _one_process(
    inputs: Sequence[FlowInput],
    filter_file: os.PathLike[str],
    limits: Limits,
    found: Marker,
    tmp: Path,
) -> _Group | None:
    """The group read by one nfdump, or None when nfdump complained, the markers did not line
    up or a line was malformed (the caller then reads each file alone, as it would be read)."""
    files = tmp / "files"
    files.mkdir()
    for k, each in enumerate(inputs):  # nfdump -R reads a directory in name order
        os.symlink(each.path.resolve(), files / f"{k:06d}a")
        os.symlink(found.path, files / f"{k:06d}b")
    wanted = Path(filter_file).read_text(encoding="ascii")
    (tmp / "filter").write_text(f"(\n{wanted}\n) or ({MARKER_FILTER})\n", encoding="ascii")
    argv = _argv(["-R", str(files)], tmp / "filter")
    env = dict(os.environ, TZ="UTC")
    cut = _Cut(found.line, len(inputs))
    with (
        tempfile.TemporaryFile() as stderr,
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, env=env) as proc,
    ):
        assert proc.stdout is not None
        _widen(proc.stdout)
        drained = _Drained(proc.stdout)
        try:
            # The group's output is parsed as one text, in blocks, and cut into files after:
            # parsing each file's few lines alone took three times as long.
            stream = cast(IO[bytes], drained)
            for batch in delimited(stream, inputs[0].name, _layout(limits), first_line=1):
                if not cut.add(batch):
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
            drained.thread.join()
        status = proc.wait()
        stderr.seek(0)
        error = stderr.read().decode(errors="replace").strip()
    if not cut.whole() or _failure(error, status) is not None:
        return None
    return _Group([pieces or [empty()] for pieces in cut.pieces])


def _widen(pipe: IO[bytes]) -> None:
    # not Linux, or above /proc/sys/fs/pipe-max-size: the default pipe will do
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE)


class _Drained:
    """nfdump's output read by a thread as fast as nfdump writes it, handed out as a stream:
    nfdump does not wait on a full pipe while a block is parsed (the group is held whole
    anyway, so this holds no more)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.chunks: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.rest = b""
        self.done = False
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream: IO[bytes]) -> None:
        read1 = getattr(stream, "read1", stream.read)
        try:
            while chunk := read1(1 << 20):
                self.chunks.put(chunk)
        finally:
            self.chunks.put(b"")

    def read(self, size: int = -1) -> bytes:
        parts, have = [self.rest], len(self.rest)
        while (size < 0 or have < size) and not self.done:
            chunk = self.chunks.get()
            if not chunk:
                self.done = True
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        if size < 0:
            self.rest = b""
            return data
        self.rest = data[size:]
        return data[:size]


class _Cut:
    """The batches of a group's output cut at the marker lines into each file's batches,
    lines numbered within the file."""

    def __init__(self, line: bytes, files: int) -> None:
        self.line = line
        self.pieces: list[list[Batch]] = [[] for _ in range(files)]
        self.file = 0  # the file the next row belongs to
        self.before = 0  # lines of the group's output before that file's first line
        self.ok = True

    def add(self, batch: Batch) -> bool:
        """Cut ``batch``; False when the group cannot be read whole."""
        if batch.bad or batch.spans is None:  # a malformed line: told as reading alone tells it
            self.ok = False
            return False
        starts = batch.spans[:, 0]
        at, rows = 0, batch.table.num_rows
        for row in self._markers(batch, starts):
            if self.file >= len(self.pieces):  # more markers than files: a record like one
                self.ok = False
                return False
            self._piece(batch, at, row)
            self.file += 1
            self.before = int(batch.lines[row])
            at = row + 1
        if at < rows:
            if self.file >= len(self.pieces):
                self.ok = False
                return False
            self._piece(batch, at, rows)
        return True

    def whole(self) -> bool:
        return self.ok and self.file == len(self.pieces)

    def _markers(self, batch: Batch, starts: np.ndarray) -> list[int]:
        """Rows whose line is the marker's."""
        rows = []
        block, at = batch.block, batch.block.find(self.line)
        while at >= 0:
            row = int(np.searchsorted(starts, at))
            if row < len(starts) and starts[row] == at:  # at a line's start
                rows.append(row)
            at = block.find(self.line, at + 1)
        return rows

    def _piece(self, batch: Batch, start: int, stop: int) -> None:
        if stop <= start:
            return
        assert batch.spans is not None
        self.pieces[self.file].append(
            Batch(
                batch.table.slice(start, stop - start),
                batch.lines[start:stop] - self.before,
                block=batch.block,
                spans=batch.spans[start:stop],
                bytes_read=batch.bytes_read if stop == batch.table.num_rows else 0,
            )
        )
