"""Several inputs in one write transaction (``FlowWatcher.store_inputs`` with a group, as
nfcapd groups are read): each keeps its own ``inputs`` row, and what is stored is what one
transaction per input stores, the two directions of a connection paired across the inputs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from chainwatch.errors import InputError
from chainwatch.flows import readers
from chainwatch.flows.inputs import FlowInput, describe
from chainwatch.observations import Batch
from chainwatch.watchers import nfcapd_groups
from chainwatch.watchers.flows import FlowWatcher
from chainwatch.watchers.interface import ScanContext, WatcherResult
from tests.flows.conftest import snapshot

HEADER = "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets\n"
FILES = {
    "a.csv": "2017-05-17T10:00:00Z,175.45.176.5,198.51.100.7,40001,8333,tcp,100,2\n"
    "2017-05-17T10:01:00Z,175.45.176.6,203.0.113.10,40002,3333,tcp,50,1\n",
    # the other direction of a.csv's first connection, and one of its own
    "b.csv": "2017-05-17T10:00:30Z,198.51.100.7,175.45.176.5,8333,40001,tcp,200,3\n"
    "2017-05-17T10:02:00Z,175.45.176.7,198.51.100.8,40003,18080,tcp,70,1\n"
    "not a line\n",
    "c.csv": "2017-05-17T10:03:00Z,192.0.2.1,198.51.100.9,40004,443,tcp,10,1\n",
}


def write(tmp_path: Path) -> Path:
    directory = tmp_path / "flows"
    directory.mkdir()
    for name, body in FILES.items():
        (directory / name).write_text(HEADER + body)
    return directory


def read_group(inputs: Sequence[FlowInput]) -> Iterator[tuple[int, Batch]]:
    for index, flow_input in enumerate(inputs):
        for batch in readers.read_csv(flow_input):
            yield index, batch


def test_a_group_stores_what_one_transaction_per_input_does(
    cli: Any, wl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = write(tmp_path)
    db_url, grouped_url = (f"sqlite:///{tmp_path / name}" for name in ("one.db", "grouped.db"))
    separate = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", directory)
    assert separate.exit_code == 0, separate.stderr
    expected = snapshot(db_url)
    # b.csv's first record is the other direction of a.csv's first: one event for both
    assert len(expected["inputs"]) == 3 and len(expected["events"]) == 3

    calls: list[int] = []

    def read_all(
        self: FlowWatcher, ctx: ScanContext, inputs: list[tuple[Path, str]]
    ) -> WatcherResult:
        from chainwatch.classify import Classifier

        result = WatcherResult()
        classifier = Classifier(ctx.watchlists.endpoints, ctx.settings.port_rules)
        progress = self.progress_bar(ctx)
        described = [describe(path, name) for path, name in inputs]
        group = nfcapd_groups.Group(inputs, read_group(described))
        with progress:
            begun = self.store_inputs(ctx, classifier, inputs, result, progress, group)
        calls.append(len(begun))
        for one in begun:
            assert one is not None
            self.count(ctx, one, result)
        return result

    monkeypatch.setattr(FlowWatcher, "_read_all", read_all)
    grouped = cli("--db", grouped_url, "--watchlists", wl, "scan", "--flows", directory)
    assert calls == [3]
    assert grouped.exit_code == separate.exit_code, grouped.stderr
    assert "read 6, watched 4, classified 4, stored 3, skipped 0, bad 1" in grouped.stdout
    assert snapshot(grouped_url) == expected


def test_a_group_is_hashed_as_it_was_read(tmp_path: Path) -> None:
    """A group's inputs are hashed in the thread that read them (``hash_ahead``), while the
    group before is stored: an input is recorded with the hash of the bytes read then, and
    one that could not be hashed fails when it is stored, as if it were hashed then."""
    directory = write(tmp_path)
    (directory / "d.csv").write_text("")  # empty: not an input
    inputs = [(path, str(path)) for path in sorted(directory.iterdir())]
    read = [describe(path, name) for path, name in inputs[:3]]
    group = nfcapd_groups.Group(inputs, read_group(read), hash_ahead=True)
    (directory / "a.csv").write_text(HEADER)  # rewritten once the group was read
    assert group.describe(*inputs[0]) == read[0]
    assert describe(*inputs[0]).sha256 != read[0].sha256
    with pytest.raises(InputError, match="is empty"):
        group.describe(*inputs[3])
