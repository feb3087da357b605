"""Shared by the catalog import tests: archives as publishers ship them, and the written CSV."""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

COLUMNS = "name,category,coin,address,host,port,valid_from,valid_to,source"


def make_tar(path: Path, files: dict[str, bytes], mode: str = "w:xz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def catalog_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a written catalog CSV (its provenance header checked and left out)."""
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# chainwatch catalog ")
    body = [line for line in lines if not line.startswith("#")]
    assert body[0] == COLUMNS
    return list(csv.DictReader(io.StringIO("\n".join(body) + "\n")))


def table(path: Path, *columns: str) -> list[tuple[str, ...]]:
    """Chosen columns of every row, sorted."""
    return sorted(tuple(row[c] for c in columns) for row in catalog_rows(path))
