"""Shared pieces of the pcap tests: a watchlist (the kp ranges and a documentation IPv6
range), a catalog naming a pool by host name only (for TLS SNI), and a scan helper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

POOL_HOST = "xmr.pool.example"


@pytest.fixture(autouse=True)
def _no_checksum_policy_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--checksums`` has an environment twin; a developer's shell must not leak into tests."""
    monkeypatch.delenv("CHAINWATCH_CHECKSUMS", raising=False)


@pytest.fixture
def wl(tmp_path: Path) -> Path:
    directory = tmp_path / "watchlists"
    (directory / "endpoints").mkdir(parents=True)
    (directory / "kp.toml").write_text(
        'description = "test"\n[[ranges]]\ncidr = "175.45.176.0/22"\n'
        '[[ranges]]\ncidr = "2001:db8:1::/48"\n'
    )
    (directory / "endpoints" / "pools.toml").write_text(
        f'[[endpoints]]\nname = "hostpool"\ncategory = "xmr-pool"\nhosts = ["{POOL_HOST}"]\n'
    )
    return directory


def scan(cli: Any, db_url: str, wl: Path, *args: Any) -> Any:
    return cli("--db", db_url, "--watchlists", wl, "scan", *args)
