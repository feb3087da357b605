"""Hostile and damaged flow files through the real CLI (issue 21, "every reader defends
itself"): CR-only line ends, concatenated Zeek logs, counts that would overflow the rollups,
IP text in other forms, times outside the window, and bombs (a gzip of zeros, one 50 MB
line) whose peak memory is measured in a child process. SQLite and PostgreSQL where
anything is stored."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chainwatch.config import load_settings
from chainwatch.errors import ConfigError
from chainwatch.store.models import Event, Rollup, RollupAddress
from tests.flows.conftest import rows

UTC = dt.UTC
HEADER = "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets"
LINE = "2017-05-17T10:00:{s:02d}Z,175.45.176.5,198.51.100.7,{port},8333,tcp,100,2"
#: Peak resident memory a scan of a hostile file may reach (the interpreter, pyarrow and
#: SQLAlchemy alone take about 150 MB).
CEILING = 300 << 20


@pytest.fixture
def wl(tmp_path: Path) -> Path:
    directory = tmp_path / "watchlists"
    (directory / "endpoints").mkdir(parents=True)
    (directory / "kp.toml").write_text('[[ranges]]\ncidr = "175.45.176.0/22"\n')
    (directory / "doc.txt").write_text("2001:db8:1::/48\n")
    return directory


def scan(cli: Any, db_url: str, wl: Path, *paths: Path) -> Any:
    args = [a for p in paths for a in ("--flows", p)]
    return cli("--db", db_url, "--watchlists", wl, "scan", *args)


def test_cr_only_line_ends_are_read(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """Classic Mac line ends (CR alone): every row read, none silently lost."""
    path = tmp_path / "mac.csv"
    lines = [HEADER, *(LINE.format(s=s, port=40000 + s) for s in range(3))]
    path.write_bytes("\r".join(lines).encode() + b"\r")
    result = scan(cli, db_url, wl, path)
    assert result.exit_code == 0, result.stderr
    assert "read 3, watched 3, classified 3, stored 3, skipped 0, bad 0" in result.stdout
    refs = sorted(e.source_ref for e in rows(db_url, Event))
    assert refs == [f"{path}:{n}" for n in (2, 3, 4)]  # line numbers count the CRs


def test_a_repeated_zeek_header_switches_the_columns(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """``cat a.log b.log``: b's rows are read with b's column order, not a's."""
    fields_a = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto"
    fields_b = "ts\tuid\tid.resp_h\tid.resp_p\tid.orig_h\tid.orig_p\tproto"

    def log(fields: str, row: str) -> str:
        return (
            "#separator \\x09\n#set_separator\t,\n#path\tconn\n#open\t2017-05-17-10-00-00\n"
            f"#fields\t{fields}\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n"
            f"{row}\n#close\t2017-05-17-11-00-00\n"
        )

    path = tmp_path / "conn.log"
    path.write_text(
        log(fields_a, "1495015200.0\tCa\t175.45.176.5\t40001\t198.51.100.7\t8333\ttcp")
        + log(fields_b, "1495015300.0\tCb\t198.51.100.8\t8333\t175.45.176.6\t40002\ttcp")
    )
    result = scan(cli, db_url, wl, path)
    assert result.exit_code == 0, result.stderr
    got = sorted((e.local_ip, e.direction, e.remote_ip, e.remote_port) for e in rows(db_url, Event))
    assert got == [
        ("175.45.176.5", "outbound", "198.51.100.7", 8333),
        ("175.45.176.6", "outbound", "198.51.100.8", 8333),
    ]


def test_counts_that_could_overflow_are_bad_lines(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """bytes 999999999999999999 ten times (in two files) once summed past int64."""
    paths = []
    for n in range(2):
        path = tmp_path / f"big{n}.csv"
        body = [
            f"2017-05-17T10:00:{s:02d}Z,175.45.176.5,198.51.100.7,{40000 + s},8333,tcp,"
            f"999999999999999999,{s + 1}"
            for s in range(5)
        ]
        path.write_text("\n".join([HEADER, *body, LINE.format(s=30 + n, port=41000 + n)]) + "\n")
        paths.append(path)
    result = scan(cli, db_url, wl, *paths)
    assert result.exit_code == 0, result.stderr
    assert "read 12, watched 2, classified 2, stored 2, skipped 0, bad 10" in result.stdout
    assert f"{paths[0]}:2: bytes is above 17592186044416" in result.stderr
    assert [r.bytes for r in rows(db_url, Rollup)] == [200]


def test_ip_text_is_canonical(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    """One address, one text: compressed IPv6 without a zone; IPv4-mapped is IPv4."""
    path = tmp_path / "v6.csv"
    body = [
        "2017-05-17T10:00:00Z,2001:db8:1::1,198.51.100.7,40001,8333,tcp,1,1",
        "2017-05-17T10:00:01Z,2001:DB8:1:0:0:0:0:1,198.51.100.7,40002,8333,tcp,1,1",
        "2017-05-17T10:00:02Z,2001:db8:1::1%eth0,198.51.100.7,40003,8333,tcp,1,1",
        "2017-05-17T10:00:03Z,198.51.100.7,::ffff:175.45.176.5,8333,40004,tcp,1,1",
    ]
    path.write_text("\n".join([HEADER, *body]) + "\n")
    result = scan(cli, db_url, wl, path)
    assert result.exit_code == 0, result.stderr
    assert "read 4, watched 4, classified 4" in result.stdout
    assert sorted({e.local_ip for e in rows(db_url, Event)}) == ["175.45.176.5", "2001:db8:1::1"]
    assert sorted(a.local_ip for a in rows(db_url, RollupAddress)) == [
        "175.45.176.5",
        "2001:db8:1::1",
    ]


def test_times_outside_the_window_are_bad_lines(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """Years 33658, 10000 and 0 once crashed the scan (OverflowError) and left the rest of
    the directory unread; now each is a bad line with its reason, and the report works."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "a.csv").write_text(
        "\n".join(
            [
                HEADER,
                "999999999999,175.45.176.5,198.51.100.7,40001,8333,tcp,1,1",
                "9999-12-31T23:59:59-01:00,175.45.176.5,198.51.100.7,40002,8333,tcp,1,1",
                "0001-01-01T00:00:00+01:00,175.45.176.5,198.51.100.7,40003,8333,tcp,1,1",
                "1989-12-31T23:59:59Z,175.45.176.5,198.51.100.7,40004,8333,tcp,1,1",
                LINE.format(s=1, port=40005),
            ]
        )
        + "\n"
    )
    (folder / "b.csv").write_text(HEADER + "\n" + LINE.format(s=2, port=40006) + "\n")
    result = scan(cli, db_url, wl, folder)
    assert result.exit_code == 0, result.stderr
    assert "read 6, watched 2, classified 2, stored 2, skipped 0, bad 4" in result.stdout
    assert "a.csv:2: time is more than 1 day ahead of now" in result.stderr
    assert "a.csv:4: time is before 1990-01-01" in result.stderr
    assert len(rows(db_url, Event)) == 2
    report = cli("--db", db_url, "--watchlists", wl, "report", "--format", "json")
    assert report.exit_code == 0, report.stderr


def test_the_window_follows_the_environment(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINWATCH_EARLIEST", "2017-05-17T10:00:05Z")
    path = tmp_path / "w.csv"
    path.write_text("\n".join([HEADER, *(LINE.format(s=s, port=40000 + s) for s in (1, 9))]) + "\n")
    result = scan(cli, db_url, wl, path)
    assert "read 2, watched 1, classified 1, stored 1, skipped 0, bad 1" in result.stdout
    assert f"{path}:2: time is before 2017-05-17T10:00:05Z" in result.stderr


def test_limits_from_the_configuration_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in (
        "CHAINWATCH_MAX_RECORD_BYTES",
        "CHAINWATCH_EARLIEST",
        "CHAINWATCH_LATEST_AHEAD",
    ):
        monkeypatch.delenv(variable, raising=False)
    config = tmp_path / "chainwatch.toml"
    config.write_text(
        '[limits]\nmax_record_bytes = "4 MiB"\nearliest = "2000-01-01"\nlatest_ahead = "36h"\n'
    )
    limits = load_settings(config=config).limits
    assert limits.max_record_bytes == 4 << 20
    assert limits.earliest == dt.datetime(2000, 1, 1, tzinfo=UTC)
    assert limits.latest_ahead == dt.timedelta(hours=36)
    monkeypatch.setenv("CHAINWATCH_MAX_RECORD_BYTES", "65536")  # the twin wins
    assert load_settings(config=config).limits.max_record_bytes == 65536
    config.write_text('[limits]\nmax_record_bytes = "lots"\n')
    monkeypatch.delenv("CHAINWATCH_MAX_RECORD_BYTES")
    with pytest.raises(ConfigError, match="max_record_bytes is 'lots'; expected a size"):
        load_settings(config=config)


# -- Bombs, in a child process whose peak memory is measured --------------------------------

#: Runs the CLI and writes its exit status and its peak RSS: VmHWM, the high-water mark of
#: this program's own memory (ru_maxrss would also count the forked copy of pytest).
_CHILD = """
import sys
from chainwatch.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open("/proc/self/status") as status:
    peak = next(int(x.split()[1]) << 10 for x in status if x.startswith("VmHWM"))
with open(sys.argv[1], "w") as out:
    out.write(f"{code} {peak}")
"""


def _scan_in_child(tmp_path: Path, wl: Path, path: Path) -> tuple[int, int, str]:
    """Exit status, peak RSS (bytes) and output of a scan of ``path`` in a child process.
    The child is killed if it grows past 1 GiB (the unguarded readers took 18 GB)."""
    report = tmp_path / "child.txt"
    db = f"sqlite:///{tmp_path / 'bomb.db'}"
    argv = [sys.executable, "-c", _CHILD, str(report), "--db", db, "--watchlists", str(wl)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINWATCH_")}
    env["CHAINWATCH_RESOLVE_HOSTS"] = "0"
    child = subprocess.Popen(
        [*argv, "scan", "--flows", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 300  # a safety net, not a speed test
    while child.poll() is None:
        status = Path(f"/proc/{child.pid}/status").read_text(errors="replace")
        rss = next(
            (int(x.split()[1]) << 10 for x in status.splitlines() if x.startswith("VmRSS")), 0
        )
        if rss > 1 << 30 or time.monotonic() > deadline:
            child.kill()
            child.wait()
            pytest.fail(f"the scan grew to {rss:,} bytes or ran past 300 s; killed")
        time.sleep(0.05)
    output = child.stdout.read().decode(errors="replace") if child.stdout else ""
    code, peak = report.read_text().split()
    return int(code), int(peak), output


def test_a_gzip_bomb_is_refused_in_bounded_memory(tmp_path: Path, wl: Path) -> None:
    """About 1 MB of gzip: a CSV header, then 1 GiB of zero bytes without a line feed."""
    path = tmp_path / "bomb.csv.gz"
    zeros = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write((HEADER + "\n").encode())
        for _ in range(1024):
            handle.write(zeros)
    assert path.stat().st_size < 1_100_000
    code, peak, output = _scan_in_child(tmp_path, wl, path)
    assert code == 1, output
    assert f"{path}: inflates more than 500:1" in output
    assert "decompression bomb" in output
    assert peak < CEILING, f"peak RSS {peak:,} bytes"


def test_a_50_mb_line_is_one_bad_line_in_bounded_memory(tmp_path: Path, wl: Path) -> None:
    path = tmp_path / "long.csv"
    with path.open("wb") as handle:
        handle.write((HEADER + "\n").encode())
        handle.write(b"2017-05-17T10:00:00Z," + b"9" * (50 << 20) + b"\n")
        handle.write((LINE.format(s=1, port=40001) + "\n").encode())
    code, peak, output = _scan_in_child(tmp_path, wl, path)
    assert peak < CEILING, f"peak RSS {peak:,} bytes"
    assert code == 0, output
    assert "read 2, watched 1, classified 1, stored 1, skipped 0, bad 1" in output
    assert f"{path}:2: is longer than 1,048,576 bytes" in output
