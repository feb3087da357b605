"""Named extension points, imported only when used: source formats, watcher kinds, exporters,
report formats.

Each registry maps a name to an ``Entry`` ("module:attr" plus a one-line description). The
config validator, ``--help``, error messages and ``tests/test_docs.py`` read the names from the
registries, so adding a format is one line in one place. Nothing here imports the target: a
slow or optional import (pyarrow, matplotlib, bitcoinlib, stix2) costs nothing until it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Entry:
    """One registered implementation.

    Attributes:
        name: what users type (``--format csv``, ``kind = "flows"``).
        target: ``"module:attr"``, imported by ``load``.
        description: one line for ``--help`` and the README.
    """

    name: str
    target: str
    description: str

    def load(self) -> Any:
        return load(self.target)


def load(target: str) -> Any:
    """The object a ``"module:attr"`` target names (the module imported now)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def registry(*entries: Entry) -> dict[str, Entry]:
    return {entry.name: entry for entry in entries}


class Described(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...


def listing(entries: Iterable[Described]) -> str:
    """``"csv: one row per event; jsonl: ..."``: the names and descriptions for ``--help``."""
    return "; ".join(f"{entry.name}: {entry.description}" for entry in entries)
