"""Several nfcapd files read by one nfdump process (``read_nfcapd_group``): every record is
attributed to its own file and numbered within it exactly as ``read_nfcapd`` numbers it, on
real files written by the real nfpcapd: files with watched records, one with none watched,
one with no record at all, a damaged one, and one holding the marker's own record."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainwatch.errors import InputError
from chainwatch.flows.inputs import FlowInput
from chainwatch.flows.readers import nfcapd, nfcapd_marker
from chainwatch.flows.readers.csv_readers import NFDUMP_FMT
from chainwatch.flows.readers.nfcapd import (
    GroupError,
    group_inputs,
    read_nfcapd,
    read_nfcapd_group,
    read_nfcapd_groups,
)
from chainwatch.observations import Batch
from tests.conftest import require_binary
from tests.flows.pcapgen import Conn, write_pcap

T0 = 1495015200.0  # 2017-05-17 10:00:00 UTC: one nfcapd file per five minutes from here
WATCHED = ["175.45.176.5", "175.45.176.6", "175.45.177.9", "175.45.178.1"]


def _conns() -> list[Conn]:
    conns = []
    for window in (0, 2, 3):  # watched records, both directions, some IPv6
        at = T0 + window * 300
        for k, local in enumerate(WATCHED[: window + 2]):
            conns.append(Conn(local, "198.51.100.7", 40000 + k, 8333, at + k))
            conns.append(Conn("192.0.2.1", "198.51.100.8", 41000 + k, 443, at + k + 0.5))
        conns.append(Conn("2001:db8:1::5", "2001:db8:ff::9", 42000 + window, 18080, at + 9))
    conns.append(Conn("192.0.2.1", "198.51.100.7", 43000, 8333, T0 + 300 + 5))  # none watched
    return conns


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Real nfcapd files by name, as nfpcapd writes them (a flow goes into the file of the
    five minutes it was flushed in): empty (no record), w0, none (no record watched), w23,
    and damaged (w0 cut short) and marker (a file holding the marker's record)."""
    nfpcapd = require_binary("nfpcapd")
    out = tmp_path / "nfcapd"
    out.mkdir()
    pcap = write_pcap(tmp_path / "flows.pcap", _conns())
    subprocess.run([nfpcapd, "-r", str(pcap), "-w", str(out)], check=True, capture_output=True)
    made = sorted(out.rglob("nfcapd.*"))
    assert len(made) == 4, made
    found = dict(zip(["empty", "w0", "none", "w23"], made, strict=True))
    whole = found["w0"].read_bytes()
    found["damaged"] = tmp_path / "nfcapd.damaged"
    found["damaged"].write_bytes(whole[: len(whole) * 2 // 3])
    mark = nfcapd_marker.marker(NFDUMP_FMT)
    assert mark is not None, "the marker file could not be made"
    found["marker"] = tmp_path / "nfcapd.marker"
    shutil.copy(mark.path, found["marker"])
    return found


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    """The filter file as ``nfdump_filter.filter_text`` writes it."""
    path = tmp_path / "watch.filter"
    path.write_text("ip in [\n175.45.176.0/22\n2001:db8:1::/48\n]\n")
    return path


def flow_input(path: Path) -> FlowInput:
    return FlowInput(path, str(path), path.stat().st_size, "0" * 64)


def rows(batches: list[Batch]) -> list[tuple[Any, ...]]:
    """Every row with its line number, digest and bad lines: what storing it would use."""
    found: list[tuple[Any, ...]] = []
    for b in batches:
        everything = np.arange(b.table.num_rows)
        digests = b.digests_for(everything) if b.table.num_rows else []
        found += zip(b.table.to_pylist(), b.lines.tolist(), digests, strict=True)
        found += [("bad", b.bad, tuple(b.bad_examples))] if b.bad else []
    return found


def alone(inputs: list[FlowInput], watch: Path) -> list[list[tuple[Any, ...]]]:
    return [rows(list(read_nfcapd(each, watch))) for each in inputs]


def grouped(inputs: list[FlowInput], watch: Path) -> tuple[list[list[Any]], list[int]]:
    """Each input's rows as the group read them, and the indexes in the order yielded."""
    batches: list[list[Batch]] = [[] for _ in inputs]
    order = []
    for index, batch in read_nfcapd_group(inputs, watch):
        batches[index].append(batch)
        order.append(index)
    return [rows(b) for b in batches], order


def one_process_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the group was read file by file")

    monkeypatch.setattr(nfcapd, "_each_alone", refuse)


def test_group_matches_each_file_read_alone(
    files: dict[str, Path], watch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["w0", "none", "empty", "w23", "w0"]  # a file twice: two inputs all the same
    inputs = [flow_input(files[n]) for n in names]
    expected = alone(inputs, watch)
    one_process_only(monkeypatch)
    assert [len(r) for r in expected] == [6, 0, 0, 19, 6]
    got, order = grouped(inputs, watch)
    assert got == expected
    assert sorted(set(order)) == order[:1] + sorted(set(order[1:]))  # in input order
    assert set(order) == set(range(len(inputs)))  # each input yields, even with no record


def test_nothing_watched_is_no_bad_line(files: dict[str, Path], watch: Path) -> None:
    """nfdump prints "No matching flows" on stdout when its filter kept nothing: that is not
    a malformed record of the file."""
    for name in ("none", "empty"):
        (batch,) = list(read_nfcapd(flow_input(files[name]), watch))
        assert (batch.table.num_rows, batch.bad) == (0, 0)


def test_damaged_file_fails_alone(files: dict[str, Path], watch: Path) -> None:
    names = ["w0", "damaged", "none", "w23"]
    inputs = [flow_input(files[n]) for n in names]
    with pytest.raises(InputError) as alone_error:
        list(read_nfcapd(inputs[1], watch))
    expected = alone([inputs[i] for i in (0, 2, 3)], watch)
    batches: list[list[Batch]] = [[] for _ in inputs]
    with pytest.raises(GroupError) as caught:
        for index, batch in read_nfcapd_group(inputs, watch):
            batches[index].append(batch)
    assert list(caught.value.failed) == [1]
    assert str(caught.value.failed[1]) == str(alone_error.value) == str(caught.value)
    assert "nfdump could not read it" in str(caught.value)
    assert batches[1] == []
    assert [rows(batches[i]) for i in (0, 2, 3)] == expected


def test_a_record_like_the_marker_is_not_a_boundary(files: dict[str, Path], tmp_path: Path) -> None:
    """A file whose record prints as the marker's line, under a filter that keeps it: the
    markers do not line up, and the group is read file by file, nothing misattributed."""
    keep_it = tmp_path / "keep.filter"
    keep_it.write_text(
        f"ip in [\n175.45.176.0/22\n192.0.2.0/24\n] or ({nfcapd_marker.MARKER_FILTER})\n"
    )
    inputs = [flow_input(files[n]) for n in ("w0", "marker", "w23")]
    expected = alone(inputs, keep_it)
    assert len(expected[1]) == 1  # the marker-like record is the file's record 1
    assert grouped(inputs, keep_it)[0] == expected


def test_without_the_marker_each_file_alone(
    files: dict[str, Path], watch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nfcapd, "marker", lambda fmt: None)  # nfpcapd missing, say
    inputs = [flow_input(files[n]) for n in ("w0", "none", "w23")]
    assert grouped(inputs, watch)[0] == alone(inputs, watch)


def test_groups_read_ahead(
    files: dict[str, Path], watch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["w0", "none", "w23", "empty", "w0", "w23", "w0"]
    inputs = [flow_input(files[n]) for n in names]
    expected = alone(inputs, watch)
    one_process_only(monkeypatch)
    groups = list(group_inputs(inputs, files=3))
    assert [len(g) for g in groups] == [3, 3, 1]  # the last, alone, is streamed
    got: list[list[Batch]] = [[] for _ in inputs]
    start = 0
    for group, batches in read_nfcapd_groups(groups, watch):
        for index, batch in batches:
            got[start + index].append(batch)
        start += len(group)
    assert [rows(b) for b in got] == expected


def test_group_inputs_bounds() -> None:
    sizes = [10, 10, 50, 10, 200, 10, 10, 10]
    inputs = [FlowInput(Path(f"f{i}"), f"f{i}", s, "") for i, s in enumerate(sizes)]
    groups = group_inputs(inputs, files=3, size=100)
    assert [[i.size for i in g] for g in groups] == [[10, 10, 50], [10], [200], [10, 10, 10]]
