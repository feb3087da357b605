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
import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from chainwatch.errors import InputError
from chainwatch.flows.ahead import ahead
from chainwatch.flows.inputs import FlowInput
from chainwatch.flows.limits import Limits, default_limits
from chainwatch.flows.readers.batch import Batch, Layout, empty
from chainwatch.flows.readers.csv_readers import NFDUMP_FMT, NFDUMP_FMT_NAMES, nfdump_index
from chainwatch.flows.readers.nfcapd_marker import MARKER_FILTER, Marker, marker
from chainwatch.flows.readers.text import delimited

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
#: What nfdump prints on stdout, in place of records, when its filter kept none.
NONE = b"No matching flows"


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
            yield from delimited(proc.stdout, flow_input.name, layout, first_line=1, stop=NONE)
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
    """The group read by one nfdump, or None when nfdump complained or the markers did not
    line up (the caller then reads each file alone)."""
    files = tmp / "files"
    files.mkdir()
    for k, each in enumerate(inputs):  # nfdump -R reads a directory in name order
        os.symlink(each.path.resolve(), files / f"{k:06d}a")
        os.symlink(found.path, files / f"{k:06d}b")
    wanted = Path(filter_file).read_text(encoding="ascii")
    (tmp / "filter").write_text(f"(\n{wanted}\n) or ({MARKER_FILTER})\n", encoding="ascii")
    argv = _argv(["-R", str(files)], tmp / "filter")
    env = dict(os.environ, TZ="UTC")
    layout = _layout(limits)
    with (
        tempfile.TemporaryFile() as stderr,
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, env=env) as proc,
    ):
        assert proc.stdout is not None
        try:
            _widen(proc.stdout)
            segments = _Segments(cast(io.BufferedReader, proc.stdout), found.line)
            group = _Group([])
            for each in inputs:
                handle = cast(IO[bytes], segments.next())  # reads as a stream does
                batches = list(delimited(handle, each.name, layout, first_line=1))
                group.batches.append(batches or [empty()])
            lined_up = segments.markers == len(inputs) and not proc.stdout.read(1)
        finally:
            if proc.poll() is None:
                proc.kill()
        status = proc.wait()
        stderr.seek(0)
        error = stderr.read().decode(errors="replace").strip()
    return group if lined_up and _failure(error, status) is None else None


def _widen(pipe: IO[bytes]) -> None:
    # not Linux, or above /proc/sys/fs/pipe-max-size: the default pipe will do
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE)


class _Segments:
    """nfdump's output of a group cut at the marker lines: ``next()`` is a handle reading the
    next file's output up to (not including) its marker line."""

    def __init__(self, stream: io.BufferedReader, line: bytes) -> None:
        self.stream = stream
        self.line = line
        self.pending = bytearray()
        self.eof = False
        self.ended = True  # the current file's output has been read to its end
        self.markers = 0
        self.searched = 0

    def next(self) -> _Segments:
        if not self.ended:  # the caller stopped early: skip to this file's marker
            while self.read(1 << 20):
                pass
        self.ended = False
        return self

    def read(self, size: int = -1) -> bytes:
        if self.ended:
            return b""
        size = size if size > 0 else 1 << 22
        at = self._find()
        while at < 0 and not self.eof and len(self.pending) < size + len(self.line):
            # read1: what nfdump has written so far, so that its output is parsed while it
            # goes on writing rather than after a whole block has gathered
            chunk = self.stream.read1(1 << 20)
            if chunk:
                self.pending += chunk
                at = self._find()
            else:
                self.eof = True
        if 0 <= at <= size:
            out = bytes(self.pending[:at])
            del self.pending[: at + len(self.line)]
            self.searched = 0
            self.ended = True
            self.markers += 1
            return out
        # Hand out no byte that may begin a marker line not yet read whole.
        take = size if self.eof else min(size, len(self.pending) - len(self.line) + 1)
        out = bytes(self.pending[:take])
        del self.pending[:take]
        self.searched = max(self.searched - take, 0)
        if not out:
            self.ended = True  # the output ended before this file's marker
        return out

    def _find(self) -> int:
        """Where the first marker line starts (at the start of a line), or -1; the bytes
        before ``searched`` hold none."""
        at = self.pending.find(self.line, max(self.searched - len(self.line), 0))
        while at > 0 and self.pending[at - 1] != 0x0A:
            at = self.pending.find(self.line, at + 1)
        if at < 0:
            self.searched = len(self.pending)
        return at
