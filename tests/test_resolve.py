"""Catalog host names looked up at scan time: in parallel, within a short total budget, and
given up quickly when no resolver answers.

The scan tests run ``chainwatch scan`` in a network namespace of its own (``unshare -rnm``:
only loopback exists, ``/etc/resolv.conf`` bound to ``nameserver 127.0.0.1``) with a DNS
server from tests/dns_stub.py on 127.0.0.1:53, so the real getaddrinfo path is exercised and
nothing leaves the machine. PostgreSQL on the host is out of the namespace's reach, so those
scans use SQLite; storing the answers is tested on both backends with an injected look-up.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from chainwatch import resolve
from chainwatch.resolve import BUDGET, PROBE, lookup_hosts, resolve_catalog_hosts
from chainwatch.store.db import open_store
from chainwatch.store.models import Event, HostResolution
from chainwatch.store.scans import start_scan
from chainwatch.watchlists import load_watchlists
from tests.conftest import REPO, missing

CATALOG = """
[[endpoints]]
name = "examplepool"
category = "xmr-pool"
hosts = ["pool.example.org", "other.example.org"]
"""


def _watchlists(directory: Path) -> Path:
    (directory / "endpoints").mkdir(parents=True)
    (directory / "kp.txt").write_text("175.45.176.0/22\n")
    (directory / "endpoints" / "pools.toml").write_text(CATALOG)
    return directory


def _namespace_ok() -> None:
    if not (shutil.which("unshare") and shutil.which("ip")):
        missing("unshare and ip (util-linux, iproute2)")
    probe = subprocess.run(["unshare", "-rnm", "true"], capture_output=True)
    if probe.returncode != 0:
        missing("user and network namespaces (unshare -rnm)")


def _scan(tmp_path: Path, mode: str, *, resolve: bool, db: Path) -> dict[str, Any]:
    """``chainwatch scan`` of one flow to a host of the catalog, in the namespace."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    flows = tmp_path / "flows.csv"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    flows.write_text(
        "ts,src_ip,dst_ip,src_port,dst_port,proto\n"
        f"{now.isoformat()},175.45.176.5,203.0.113.77,40001,3333,tcp\n"
    )
    command = [
        sys.executable,
        "-m",
        "chainwatch",
        "--db",
        f"sqlite:///{db}",
        "--watchlists",
        str(_watchlists(tmp_path / f"lists-{mode}-{resolve}")),
        "scan",
        "--flows",
        str(flows),
    ]
    script = 'mount --bind "$0" /etc/resolv.conf && ip link set lo up && exec "$@"'
    env = {"PATH": "/usr/sbin:/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    env["CHAINWATCH_RESOLVE_HOSTS"] = "1" if resolve else "0"
    done = subprocess.run(
        [
            *("unshare", "-rnm", "sh", "-c", script, str(resolv)),
            *(sys.executable, "-m", "tests.dns_stub", mode, "--", *command),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["exit"] == 0, result["stderr"]
    return result


def _rows(db: Path, model: Any) -> list[Any]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        found = list(conn.execute(select(model)))
    engine.dispose()
    return found


def test_scan_offline_skips_lookups_within_the_budget(tmp_path: Path) -> None:
    _namespace_ok()
    without = _scan(tmp_path, "silent", resolve=False, db=tmp_path / "off.db")
    offline = _scan(tmp_path, "silent", resolve=True, db=tmp_path / "on.db")
    # The same scan with look-ups that are never answered costs at most the budget more
    # (before: 5 s or more per name, the resolver's own timeout).
    assert offline["seconds"] - without["seconds"] < BUDGET, (offline, without)
    failures = {(r.host, r.address, r.error) for r in _rows(tmp_path / "on.db", HostResolution)}
    reason = f"no resolver answered within {PROBE:g} s; look-ups skipped"
    assert failures == {
        ("pool.example.org", None, reason),
        ("other.example.org", None, reason),
    }
    assert _rows(tmp_path / "on.db", Event) == []  # a pool port alone classifies nothing


def test_scan_stores_answers_of_a_local_resolver(tmp_path: Path) -> None:
    _namespace_ok()
    _scan(tmp_path, "answer", resolve=True, db=tmp_path / "on.db")
    answers = {(r.host, r.address) for r in _rows(tmp_path / "on.db", HostResolution)}
    assert answers == {("pool.example.org", "203.0.113.77"), ("other.example.org", None)}
    (event,) = _rows(tmp_path / "on.db", Event)
    assert (event.remote_ip, event.category, event.detector) == (
        "203.0.113.77",
        "xmr-pool",
        "endpoint",
    )


def test_budget_bounds_slow_lookups_and_answers_are_stored(db_url: str, tmp_path: Path) -> None:
    """One name answers at once, one never does: the step ends after the budget, both
    outcomes stored with the scan."""
    release = threading.Event()

    def lookup(host: str) -> list[str]:
        if host == "pool.example.org":
            return ["203.0.113.77", "2001:db8::77"]
        release.wait(60)  # a look-up stuck in the resolver
        raise OSError("gave up")

    store = open_store(db_url)
    watchlists = load_watchlists(_watchlists(tmp_path / "lists"))
    now = dt.datetime.now(dt.UTC)
    scan_id = start_scan(store, "scan", now)
    start = time.monotonic()
    resolved = resolve_catalog_hosts(
        watchlists.endpoints, store, scan_id, enabled=True, now=now, lookup=lookup
    )
    elapsed = time.monotonic() - start
    release.set()
    assert resolved == {
        "pool.example.org": ["203.0.113.77", "2001:db8::77"],
        "other.example.org": [],
    }
    assert elapsed < BUDGET + 1.0
    with store.session() as session:
        rows = {
            (r.host, r.address, r.error, r.scan_id) for r in session.scalars(select(HostResolution))
        }
    assert rows == {
        ("pool.example.org", "203.0.113.77", None, scan_id),
        ("pool.example.org", "2001:db8::77", None, scan_id),
        ("other.example.org", None, f"not answered within the {BUDGET:g} s budget", scan_id),
    }
    store.close()


def test_lookups_run_in_parallel() -> None:
    """Ten names that each take 0.3 s resolve together in well under their serial 3 s."""

    def lookup(host: str) -> list[str]:
        time.sleep(0.3)
        return ["192.0.2.1"]

    hosts = [f"h{i}.example.org" for i in range(10)]
    start = time.monotonic()
    results = lookup_hosts(hosts, lookup=lookup)
    assert time.monotonic() - start < 1.5
    assert [r.host for r in results] == hosts and all(r.address for r in results)


def test_scan_time_answers_attribute_only_records_near_the_scan(
    cli: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "2017 records attributed with 2026 DNS answers" bug: an address a catalog host
    resolves to when the scan runs says nothing of 2017. A 2017 flow to it is not a pool
    connection; a flow dated at the scan's time is, citing the look-up."""
    asked: list[str] = []

    def lookup(host: str) -> list[str]:
        asked.append(host)
        return ["203.0.113.77"] if host == "pool.example.org" else []

    monkeypatch.setattr(resolve, "system_lookup", lookup)
    monkeypatch.setenv("CHAINWATCH_RESOLVE_HOSTS", "1")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "ts,src_ip,dst_ip,src_port,dst_port,proto\n"
        "2017-05-17T10:00:00+00:00,175.45.176.5,203.0.113.77,40001,3333,tcp\n"
        f"{now.isoformat()},175.45.176.5,203.0.113.77,40002,3333,tcp\n"
    )
    lists = _watchlists(tmp_path / "lists")
    result = cli("--db", db_url, "--watchlists", lists, "scan", "--flows", flows)
    assert result.exit_code == 0, result.stderr
    assert sorted(asked) == ["other.example.org", "pool.example.org"]
    assert "read 2, watched 2, classified 1, stored 1" in result.stdout, result.stdout
    engine = create_engine(db_url)
    with engine.connect() as conn:
        events = list(conn.execute(select(Event)))
        stored = list(conn.execute(select(HostResolution)))
    engine.dispose()
    (event,) = events
    assert (event.local_port, event.category, event.detector) == (40002, "xmr-pool", "endpoint")
    resolution = event.detail["resolution"]
    assert (resolution["host"], resolution["address"], resolution["seen_in"]) == (
        "pool.example.org",
        "203.0.113.77",
        "look-up at scan time",
    )
    seen_at = dt.datetime.fromisoformat(resolution["seen_at"].replace("Z", "+00:00"))
    assert abs(seen_at - now) < dt.timedelta(minutes=5)
    assert {(r.host, r.address, r.kind) for r in stored} == {
        ("pool.example.org", "203.0.113.77", "lookup"),
        ("other.example.org", None, "lookup"),
    }
