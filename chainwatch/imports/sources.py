"""What a publisher ships, opened as a stream of members: files, directories and archives.

``iter_sources(paths)`` expands each path into ``SourceMember``s:

- a file is one member; gzip, xz and bzip2 files are decompressed as they are read (told by
  their magic bytes, not their names: CollecTor's ``.tar.xz`` and a FireHOL ``.netset.gz`` alike);
- a tar archive (plain or compressed: ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.xz``, ``.tar.bz2``)
  is one member per regular file inside it, in archive order, streamed: a year of hourly Tor
  consensuses (~30 GB unpacked) is never unpacked to disk or held in memory;
- a directory is every file below it (recursively, sorted by path; hidden files and ``.tmp`` /
  ``.part`` files skipped), each expanded as above.

A member's ``name`` is what errors show: the path as given, then the path inside the archive
(``consensuses-2019-01.tar.xz/consensuses-2019-01/01/2019-01-01-00-00-00-consensus``). Its
``source`` is the top-level file (``SourceFile``: name, size, SHA-256 of the bytes on disk),
hashed before it is read, for the provenance header. A member's ``data`` is a binary stream
that is valid only until the iterator moves on (tar members are read in passing) and while
the iterator lives: ``next(iter_sources(...))`` alone hands out a closed stream, because the
dropped generator closes its files.

A compressed file that expands beyond ``MAX_EXPANSION`` times its size is refused, named,
as a decompression bomb. Damaged compressed data or archives are ``InputError``s naming the
member, whenever they are found (often halfway through a member), never ``EOFError`` or
``lzma.LZMAError``.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from chainwatch.errors import InputError
from chainwatch.imports.output import SourceFile

#: A text line longer than this is an error (named), not something to hold in memory.
MAX_LINE = 1 << 20
_HASH_BLOCK = 1 << 20
_TAR_BLOCK = 512
#: Archives inside archives are opened this deep (a tar of .gz files), no deeper.
_MAX_DEPTH = 3
#: Decompressed, a file may be this many times its size once it has given EXPANSION_FLOOR:
#: real Tor archives and blocklists expand 5-100 times, deflate's ceiling is about 1030 and
#: xz's far beyond, which is what a decompression bomb uses.
MAX_EXPANSION = 1000
EXPANSION_FLOOR = 256 << 20
_DAMAGE = (EOFError, lzma.LZMAError, zlib.error, gzip.BadGzipFile, OSError, tarfile.TarError)


@dataclass(frozen=True)
class SourceMember:
    """One document to parse: ``name`` for errors, ``data`` (read it before advancing the
    iterator), and the ``source`` file it came from."""

    name: str
    data: BinaryIO
    source: SourceFile


class _Guard(io.RawIOBase):
    """A stream whose decompression or archive errors become an ``InputError`` naming it."""

    def __init__(self, inner: Any, name: str, limit: int | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.name_shown = name
        self.limit = limit
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.inner.read(len(buffer))
        except InputError:
            raise
        except _DAMAGE as exc:
            raise damaged(self.name_shown, exc) from None
        self.given += len(data)
        if self.limit is not None and self.given > self.limit:
            raise InputError(
                self.name_shown,
                f"expands to more than {MAX_EXPANSION} times its size (a decompression bomb?)",
            )
        buffer[: len(data)] = data
        return len(data)


class _Chain(io.RawIOBase):
    """``head`` (bytes already read to sniff the content), then the rest of ``tail``."""

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        super().__init__()
        self.head = head
        self.tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def damaged(name: str, exc: BaseException) -> InputError:
    """The one-line error for damaged compressed data or a damaged archive."""
    what = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError):
        what = "it ends early (truncated?)"
    return InputError(name, f"damaged archive or compressed data: {what}")


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        block = stream.read(left)
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


def _decompressor(head: bytes, stream: BinaryIO) -> Any:
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(stream)
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return bz2.BZ2File(stream)
    return None


def _is_tar(head: bytes) -> bool:
    if len(head) < _TAR_BLOCK:
        return False
    if head[257:262] == b"ustar":  # POSIX and GNU tar
        return True
    try:  # pre-POSIX (v7) tar: only the header checksum tells
        stored = int(head[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(head[:148]) + 8 * 32 + sum(head[156:_TAR_BLOCK])
    return stored == computed


def _members(
    stream: IO[bytes], name: str, source: SourceFile, depth: int
) -> Iterator[SourceMember]:
    buffered = io.BufferedReader(_Guard(stream, name), 1 << 16)
    head = _read_exactly(buffered, _TAR_BLOCK)
    inner = _decompressor(head, io.BufferedReader(_Chain(head, buffered)))
    if inner is not None:
        # Judged against the file as shipped: nested members are small parts of it.
        limit = max(EXPANSION_FLOOR, MAX_EXPANSION * source.size) if depth == 0 else None
        decoded = io.BufferedReader(_Guard(inner, name, limit), 1 << 16)
        head = _read_exactly(decoded, _TAR_BLOCK)
        buffered = decoded
    data = io.BufferedReader(_Chain(head, buffered), 1 << 16)
    if not _is_tar(head) or depth >= _MAX_DEPTH:
        yield SourceMember(name, data, source)
        return
    try:
        archive = tarfile.open(fileobj=data, mode="r|")  # noqa: SIM115 - closed by the with below
    except _DAMAGE as exc:
        raise damaged(name, exc) from None
    with archive:
        while True:
            try:
                member = archive.next()
            except InputError:
                raise
            except _DAMAGE as exc:
                raise damaged(name, exc) from None
            if member is None:
                return
            if not member.isfile() or Path(member.name).name.startswith("."):
                continue
            handle = archive.extractfile(member)
            if handle is None:  # pragma: no cover - isfile() members always have data
                continue
            yield from _members(handle, f"{name}/{member.name}", source, depth + 1)


def _skip(path: Path) -> bool:
    return path.name.startswith(".") or path.name.endswith((".tmp", ".part"))


def hash_file(path: Path, shown: str) -> tuple[int, str]:
    """Size and SHA-256 of the file's bytes on disk."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
                size += len(block)
    except OSError as exc:
        raise InputError(shown, f"cannot be read: {exc.strerror or exc}") from None
    return size, digest.hexdigest()


def _file_members(path: Path, shown: str, source_name: str) -> Iterator[SourceMember]:
    size, sha256 = hash_file(path, shown)
    source = SourceFile(name=source_name, size=size, sha256=sha256)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(shown, f"cannot be read: {exc.strerror or exc}") from None
    with handle:
        yield from _members(handle, shown, source, 0)


def iter_sources(paths: Sequence[Path]) -> Iterator[SourceMember]:
    """The members of every path, in the order given (see the module docstring)."""
    for path in paths:
        shown = str(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not _skip(p))
            if not files:
                raise InputError(shown, "holds no files", expected="files or archives to import")
            for file in files:
                # The directory's own name stays in the source's name: "2019-01/01/...".
                yield from _file_members(file, str(file), str(file.relative_to(path.parent)))
        elif path.exists():
            yield from _file_members(path, shown, path.name)
        else:
            raise InputError(shown, "does not exist", expected="a file, directory or archive")


def iter_lines(member: SourceMember) -> Iterator[tuple[int, str]]:
    """The member's text lines, numbered from 1, without their line ends (LF or CRLF). Not
    UTF-8, or a line over ``MAX_LINE`` bytes, is an ``InputError`` at that line."""
    number = 0
    while True:
        raw = member.data.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            raise InputError(member.name, f"line longer than {MAX_LINE} bytes", line=number)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                member.name,
                f"not UTF-8 text (byte {exc.start + 1} of the line)",
                line=number,
                expected="a text file",
            ) from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        yield number, text.rstrip("\r\n")
