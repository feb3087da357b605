"""The HTML page's detail views from a real scan: busiest local addresses and remote endpoints
(with the catalog entry) per coin, detectors and confidence, and the evidence (inputs with
their hash, watchlists, catalogs with their dates). SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

FLOWS = """\
ts,src_ip,dst_ip,src_port,dst_port,proto,bytes
2019-05-01T10:00:00Z,175.45.178.1,203.0.113.10,40001,3333,tcp,100
2019-05-01T11:00:00Z,175.45.178.1,203.0.113.10,40002,3333,tcp,100
2019-05-02T12:00:00Z,175.45.178.2,203.0.113.10,40003,3333,tcp,100
2019-05-02T13:00:00Z,175.45.178.2,198.51.100.8,40004,8333,tcp,100
2019-05-03T09:30:00Z,175.45.178.3,198.51.100.90,40005,9001,tcp,100
"""
CATALOG = """\
[[endpoints]]
name = "test-xmr-pool"
category = "xmr-pool"
ips = ["203.0.113.10"]
ports = [3333]
valid_from = "2018-06-01"
valid_to = "2020-01-31"
"""


def _table(page: str, table_id: str) -> list[list[str]]:
    match = re.search(f'<table id="{table_id}">(.*?)</table>', page)
    assert match is not None, table_id
    body = match.group(1).split("<tbody>")[1]
    return [re.findall(r"<td>(.*?)</td>", row) for row in body.split("<tr>")[1:]]


@pytest.fixture
def scanned(cli: Any, db_url: str, tmp_path: Path) -> tuple[str, Path, Path]:
    lists = tmp_path / "watchlists"
    (lists / "endpoints").mkdir(parents=True)
    shutil.copyfile(REPO / "watchlists" / "kp.toml", lists / "kp.toml")
    (lists / "endpoints" / "test.toml").write_text(CATALOG)
    flows = tmp_path / "flows.csv"
    flows.write_text(FLOWS)
    result = cli("--db", db_url, "--watchlists", lists, "scan", "--flows", flows)
    assert result.exit_code == 0, result.stderr
    return db_url, lists, flows


def test_detail_views(cli: Any, scanned: tuple[str, Path, Path], tmp_path: Path) -> None:
    url, lists, flows = scanned
    out = tmp_path / "r.html"
    result = cli("--db", url, "--watchlists", lists, "report", "--format", "html", "--out", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text()
    assert _table(page, "local-xmr") == [
        ["175.45.178.1", "2", "2019-05-01 10:00", "2019-05-01 11:00"],
        ["175.45.178.2", "1", "2019-05-02 12:00", "2019-05-02 12:00"],
    ]
    assert _table(page, "remote-xmr") == [
        ["203.0.113.10:3333", "test-xmr-pool", "3", "2019-05-01 10:00", "2019-05-02 12:00"]
    ]
    assert _table(page, "remote-btc") == [
        ["198.51.100.8:8333", "", "1", "2019-05-02 13:00", "2019-05-02 13:00"]
    ]
    assert _table(page, "local-tor") == [
        ["175.45.178.3", "1", "2019-05-03 09:30", "2019-05-03 09:30"]
    ]
    assert 'id="local-eth"' not in page  # no events, no section
    assert _table(page, "detectors") == [
        ["btc-p2p", "port", "1", "0.40", "0.40–0.40"],
        ["tor", "port", "1", "0.40", "0.40–0.40"],
        ["xmr-pool", "endpoint", "3", "0.90", "0.90–0.90"],
    ]
    digest = hashlib.sha256(flows.read_bytes()).hexdigest()
    ((_, path, fmt, records, events, first, last, sha),) = _table(page, "inputs")
    assert (path, fmt, records, events, sha) == (str(flows), "csv", "5", "5", digest[:16])
    assert (first, last) == ("2019-05-01 10:00", "2019-05-03 09:30")
    catalog = hashlib.sha256((lists / "endpoints" / "test.toml").read_bytes()).hexdigest()
    assert _table(page, "catalogs") == [
        ["test", "1", "xmr-pool", "2018-06-01", "2020-01-31", catalog[:16]]
    ]
    assert [row[0] for row in _table(page, "watchlists")] == ["kp"]


def test_broken_catalog_is_named_not_fatal(
    cli: Any, scanned: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, lists, _ = scanned
    (lists / "endpoints" / "bad.toml").write_text("[[endpoints]]\nname = 3\n")
    out = tmp_path / "r.html"
    result = cli("--db", url, "--watchlists", lists, "report", "--format", "html", "--out", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text()
    assert "catalogs not listed: " in page and "bad.toml" in page
    assert 'id="local-xmr"' in page  # the rest of the page is there
