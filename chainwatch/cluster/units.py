"""Planning a watcher's inputs into units, as a one-process scan reads them: nfcapd files in
groups (one nfdump and one transaction each, ``chainwatch.watchers.nfcapd_groups``), then
every other input alone, in name order. The units are written in this order, so that
connections pair across inputs as they do in one process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chainwatch.flows.inputs import FlowInput
from chainwatch.flows.readers.nfcapd import group_inputs
from chainwatch.watchers import nfcapd_groups


@dataclass(frozen=True)
class Unit:
    """One transaction's inputs ``(path, name)``; ``group``: read by one nfdump."""

    index: int
    inputs: tuple[tuple[Path, str], ...]
    group: bool
    size: int


def plan(inputs: Sequence[tuple[Path, str]]) -> list[Unit]:
    """The units of ``inputs`` in writing order."""
    grouped, rest = nfcapd_groups.split(inputs, lambda name: False)
    units: list[Unit] = []
    found = [FlowInput(path, name, size_of(path), "") for path, name in grouped]
    for group in group_inputs(found):
        members = tuple((each.path, each.name) for each in group)
        size = sum(each.size for each in group)
        units.append(Unit(len(units), members, len(group) > 1, size))
    for path, name in rest:
        units.append(Unit(len(units), ((path, name),), False, size_of(path)))
    return units


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # vanished: reading it says so
        return 0
