"""The source contract's fixtures: a watchlists directory and, per format, the contract with
the programs it needs checked (missing ones fail under CI=true, skip elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.sources.contracts import CONTRACTS, WATCHED, Contract


@pytest.fixture(params=CONTRACTS, ids=[c.name for c in CONTRACTS])
def contract(request: pytest.FixtureRequest) -> Contract:
    found: Contract = request.param
    for tool in found.tools:
        require_binary(tool)
    return found


def write_watchlists(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kp.txt").write_text(f"{WATCHED}\n")
    return directory


@pytest.fixture
def wl(tmp_path: Path) -> Path:
    return write_watchlists(tmp_path / "watchlists")
