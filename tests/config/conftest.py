"""Settings tests run in an empty directory with none of chainwatch's variables set."""

from __future__ import annotations

from pathlib import Path

import pytest

VARIABLES = (
    "CHAINWATCH_DB",
    "CHAINWATCH_CONFIG",
    "CHAINWATCH_WATCHLISTS",
    "CHAINWATCH_RESOLVE_HOSTS",
    "CHAINWATCH_MAX_RECORD_BYTES",
    "CHAINWATCH_EARLIEST",
    "CHAINWATCH_LATEST_AHEAD",
    "CHAINWATCH_DNS_HORIZON",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
