"""Files, directories and archives as publishers ship them (``chainwatch.imports.sources``)."""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import tarfile
from pathlib import Path

import pytest

from chainwatch.errors import InputError
from chainwatch.imports.sources import iter_lines, iter_sources


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:xz") -> None:
    with tarfile.open(path, mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def read_all(paths: list[Path]) -> list[tuple[str, bytes, str, int, str]]:
    return [
        (m.name, m.data.read(), m.source.name, m.source.size, m.source.sha256)
        for m in iter_sources(paths)
    ]


def test_files_directories_and_archives(tmp_path: Path) -> None:
    plain = tmp_path / "list.txt"
    plain.write_bytes(b"192.0.2.1\n")
    packed = tmp_path / "consensuses-2019-01.tar.xz"
    make_tar(packed, {"c/01/a-consensus": b"A\n", "c/01/.hidden": b"H", "c/02/b-consensus": b"B\n"})
    gz = tmp_path / "firehol.netset.gz"
    gz.write_bytes(gzip.compress(b"198.51.100.0/24\n"))
    folder = tmp_path / "dir"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "z.txt").write_bytes(b"z")
    (folder / "a.txt").write_bytes(b"a")
    (folder / ".partial").write_bytes(b"skip")
    tgz = folder / "x.tgz"
    make_tar(tgz, {"inner.txt": b"tgz"}, "w:gz")

    got = read_all([plain, packed, gz, folder])
    digest = hashlib.sha256(packed.read_bytes()).hexdigest()
    assert got[0] == (
        str(plain),
        b"192.0.2.1\n",
        "list.txt",
        10,
        hashlib.sha256(b"192.0.2.1\n").hexdigest(),
    )
    assert got[1] == (
        f"{packed}/c/01/a-consensus",
        b"A\n",
        packed.name,
        packed.stat().st_size,
        digest,
    )
    assert got[2][:3] == (f"{packed}/c/02/b-consensus", b"B\n", packed.name)
    assert got[3][:3] == (str(gz), b"198.51.100.0/24\n", gz.name)
    assert [g[:3] for g in got[4:]] == [
        (str(folder / "a.txt"), b"a", "dir/a.txt"),
        (str(folder / "sub" / "z.txt"), b"z", "dir/sub/z.txt"),
        (f"{tgz}/inner.txt", b"tgz", "dir/x.tgz"),
    ]


def test_plain_tar_and_tar_of_gz_members(tmp_path: Path) -> None:
    packed = tmp_path / "lists.tar"
    make_tar(packed, {"one.gz": gzip.compress(b"one\n"), "two": b"two\n"}, "w")
    assert [(n, d) for n, d, *_ in read_all([packed])] == [
        (f"{packed}/one.gz", b"one\n"),
        (f"{packed}/two", b"two\n"),
    ]


def test_unread_members_are_skipped_in_passing(tmp_path: Path) -> None:
    packed = tmp_path / "a.tar.xz"
    make_tar(packed, {f"f{i}": bytes([65 + i]) * 5000 for i in range(3)})
    seen = [m.name.rsplit("/", 1)[1] for m in iter_sources([packed])]
    assert seen == ["f0", "f1", "f2"]


def test_truncated_archive_is_a_named_error(tmp_path: Path) -> None:
    packed = tmp_path / "cut.tar.xz"
    make_tar(packed, {f"f{i}": bytes(range(256)) * 400 for i in range(4)})
    data = packed.read_bytes()
    packed.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut.tar.xz.*damaged archive or compressed data"):
        read_all([packed])


def test_corrupt_gzip_is_a_named_error(tmp_path: Path) -> None:
    gz = tmp_path / "bad.gz"
    data = bytearray(gzip.compress(b"192.0.2.1\n" * 1000))
    data[20:30] = b"\xff" * 10
    gz.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"bad.gz: damaged archive or compressed data"):
        read_all([gz])


def test_xz_single_file(tmp_path: Path) -> None:
    xz = tmp_path / "list.xz"
    xz.write_bytes(lzma.compress(b"hello\n"))
    assert read_all([xz])[0][:2] == (str(xz), b"hello\n")


def test_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope: does not exist"):
        read_all([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: holds no files"):
        read_all([tmp_path / "empty"])


def test_lines_crlf_bom_and_bad_utf8(tmp_path: Path) -> None:
    text = tmp_path / "hosts"
    text.write_bytes(b"\xef\xbb\xbf# c\r\n0.0.0.0\tpool.example\r\nlast")
    members = iter_sources([text])  # kept: closing the iterator closes its files
    member = next(members)
    assert list(iter_lines(member)) == [(1, "# c"), (2, "0.0.0.0\tpool.example"), (3, "last")]
    text.write_bytes(b"ok\n\xff\xfe\n")
    members = iter_sources([text])
    member = next(members)
    with pytest.raises(InputError, match=r"hosts:2: not UTF-8 text"):
        list(iter_lines(member))


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chainwatch.imports import sources

    monkeypatch.setattr(sources, "EXPANSION_FLOOR", 1 << 20)  # a small bomb, for a quick test
    bomb = tmp_path / "list.xz"
    bomb.write_bytes(lzma.compress(b"\0" * (8 << 20)))  # 8 MiB of zeros: about 1,000 bytes
    with pytest.raises(InputError, match=r"list.xz: expands to more than 1000 times its size"):
        read_all([bomb])
