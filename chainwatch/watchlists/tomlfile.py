"""Reading watchlist and catalog files: bytes, UTF-8 text, TOML, and the lines of tables.

TOML is parsed with ``tomli``, the library the standard ``tomllib`` was taken from, because
its wheels are compiled (mypyc): on a 1,000,000-range watchlist it parses about ten times as
fast as ``tomllib``, whose pure-Python parse alone took 1.3-1.4x a bare ``ip_network`` loop
over the same CIDRs, most of the 2x budget (benchmarks/watchlists.py). Same grammar, same
errors. TOML keeps no positions, so the line of the n-th ``[[table]]`` is found with one regular
expression pass that counts newlines between consecutive headers: linear in the file size
(the former per-header count from the start was quadratic: 7 s for 20,000 ranges).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomli

from chainwatch.errors import WatchlistError


def read_text(path: Path, *, bom: bool = False) -> tuple[bytes, str]:
    """The file's bytes and its UTF-8 text (a leading BOM dropped when ``bom``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WatchlistError(path, f"cannot read: {exc.strerror}") from None
    try:
        return raw, raw.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise WatchlistError(path, "not UTF-8 text", line=line) from None


def read_toml(path: Path) -> tuple[bytes, str, dict[str, Any]]:
    raw, text = read_text(path)
    try:
        return raw, text, tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+)", str(exc))
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise WatchlistError(
            path, f"not valid TOML: {problem}", line=int(match.group(1)) if match else None
        ) from None


class TableLines:
    """The line of the n-th ``[[table]]`` header."""

    def __init__(self, text: str, table: str) -> None:
        pattern = re.compile(rf"^[ \t]*\[\[[ \t]*{re.escape(table)}[ \t]*\]\]", re.MULTILINE)
        self.lines: list[int] = []
        line, position = 1, 0
        for match in pattern.finditer(text):
            line += text.count("\n", position, match.start())
            position = match.start()
            self.lines.append(line)

    def __call__(self, index: int) -> int | None:
        return self.lines[index] if index < len(self.lines) else None
