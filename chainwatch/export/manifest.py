"""``manifest.json``: what an export holds and how to check it was not changed.

It records the tool version, the exact query, per file the row count, size and SHA-256, per
input file the events came from its path, size and SHA-256 (from the ``inputs`` table), and
under ``lists`` the watchlists and catalogs the scans of those events used: kind, name, the
file's SHA-256, its sources (files with size and SHA-256, from the provenance header of an
imported CSV, or a TOML ``source``), import time and date span (``lists_used``).
``verify`` recomputes the hashes, sizes and row counts of the written files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainwatch.errors import InputError
from chainwatch.export.base import sha256_file
from chainwatch.store.db import Store
from chainwatch.store.evidence import EvidenceQuery

MANIFEST = "manifest.json"


@dataclass
class VerifyResult:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def count_records(path: Path) -> int:
    """Records in a written file: CSV rows (minus header), JSON lines, or STIX objects."""
    if path.suffix == ".csv":
        import csv

        with path.open(encoding="utf-8", newline="") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    if path.suffix == ".jsonl":
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    with path.open(encoding="utf-8") as handle:
        return len(json.load(handle).get("objects", []))


def lists_used(store: Store, query: EvidenceQuery) -> list[dict[str, Any]]:
    """The watchlists and catalogs used by the scans of the events ``query`` selects."""
    from chainwatch.store.provenance import lists_for_events

    return lists_for_events(store, query.statement())


def load(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise InputError(path, "no manifest", expected="a directory written by chainwatch export")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            path, f"not valid JSON ({exc})", expected="a chainwatch manifest"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise InputError(path, "no 'files' list", expected="a chainwatch manifest")
    return data


def verify(directory: Path) -> VerifyResult:
    """Compare every file listed in the manifest with what is on disk; list the differences."""
    data = load(directory)
    result = VerifyResult()
    listed = set()
    for entry in data["files"]:
        name = str(entry.get("path"))
        listed.add(name)
        path = directory / name
        result.checked += 1
        if Path(name).name != name or not path.is_file():
            result.problems.append(f"{name}: missing")
            continue
        digest, size = sha256_file(path)
        if size != entry.get("size"):
            result.problems.append(f"{name}: size {size}, manifest says {entry.get('size')}")
        if digest != entry.get("sha256"):
            result.problems.append(f"{name}: SHA-256 {digest}, manifest says {entry.get('sha256')}")
        else:
            continue
        try:
            rows = count_records(path)
        except (ValueError, UnicodeDecodeError):
            result.problems.append(f"{name}: no longer parses")
            continue
        if rows != entry.get("records"):
            result.problems.append(f"{name}: {rows} records, manifest says {entry.get('records')}")
    for path in sorted(directory.iterdir()):
        if path.name != MANIFEST and path.name not in listed:
            result.problems.append(f"{path.name}: not in the manifest")
    return result
