"""Writing an export: ``run_export`` streams the selected events once through one exporter
(``chainwatch.export.FORMATS``), keeps the set of input files they came from, and writes
``manifest.json`` last. ``manifest.verify`` checks a written export.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from chainwatch import __version__
from chainwatch.errors import UsageError
from chainwatch.export import FORMATS
from chainwatch.export.base import AtomicFile, Exporter, sha256_file, utc_text
from chainwatch.export.manifest import MANIFEST, lists_used
from chainwatch.store.db import Store, redact
from chainwatch.store.evidence import EvidenceQuery, input_files, stream_events, stream_json


@dataclass
class ExportSummary:
    directory: Path
    files: list[dict[str, Any]]
    records: int
    inputs: int


def exporter_for(fmt: str) -> Exporter:
    entry = FORMATS.get(fmt)
    if entry is None:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    exporter: Exporter = entry.load()()
    return exporter


def prepare_directory(directory: Path, force: bool) -> None:
    """Create the output directory; refuse a non-empty one unless ``force`` (then clear ours)."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--out {directory}: exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    entries = list(directory.iterdir())
    if entries and not force:
        raise UsageError(f"--out {directory}: directory is not empty (use --force to overwrite)")
    # With --force only files an export writes are replaced; other files would fail verify.
    for entry in entries:
        if entry.is_file() and (
            entry.name == MANIFEST or entry.name.startswith(("events.", ".events."))
        ):
            entry.unlink()


def run_export(
    store: Store, query: EvidenceQuery, fmt: str, directory: Path, *, force: bool = False
) -> ExportSummary:
    """Write the export; the manifest appears only once every data file is complete."""
    exporter = exporter_for(fmt)
    prepare_directory(directory, force)
    (directory / MANIFEST).unlink(missing_ok=True)
    target = AtomicFile(directory, exporter.filename)
    input_ids: set[int | None] = set()
    records = 0
    events = 0
    chunks: Iterator[list[tuple[Any, ...]]]
    if exporter.json_rows is None:
        chunks = stream_events(store, query)
    else:
        chunks = stream_json(store, query, objects=exporter.json_rows == "objects")
    try:
        exporter.begin(target.handle)
        for rows in chunks:
            events += len(rows)
            input_ids.update(map(itemgetter(-1), rows))  # every row ends with its input_id
            records += exporter.write(target.handle, rows)
        exporter.end(target.handle)
        records = getattr(exporter, "records", records)
        target.commit()
    except BaseException:
        target.discard()
        raise
    digest, size = sha256_file(target.final)
    files = [
        {
            "path": exporter.filename,
            "format": fmt,
            "records": records,
            "events": events,
            "size": size,
            "sha256": digest,
        }
    ]
    inputs = input_files(store, (i for i in input_ids if i is not None))
    manifest = {
        "tool": "chainwatch",
        "version": __version__,
        "created_at": utc_text(dt.datetime.now(dt.UTC)),
        "database": redact(store.url),
        "query": query.as_json(),
        "files": files,
        "inputs": inputs,
        "lists": lists_used(store, query),
    }
    out = AtomicFile(directory, MANIFEST)
    try:
        json.dump(manifest, out.handle, indent=2, ensure_ascii=False)
        out.handle.write("\n")
        out.commit()
    except BaseException:
        out.discard()
        raise
    return ExportSummary(directory, files, events, len(inputs))
