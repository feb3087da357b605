"""A scan on a Dask cluster stores exactly what a one-process scan stores (issue 19).

Inputs like the benchmark's (``benchmarks/flows.py``'s generator: 20% of the flows from the
watched kp ranges, pool, Bitcoin, Monero and HTTPS remotes), with each connection's reply a
few seconds later: the generic CSV cut into files so that some connections have their two
records in different files (pairing across inputs), and an nfcapd directory written by the
real nfpcapd and read through the real nfdump on the workers. Each is scanned through the
command line with ``--cluster local:2`` and, into another fresh database, by one process;
every stored column but ids and times of storing must agree. (Reruns: test_cluster_kill.py.)

The helpers here (inputs, running a scan, reading what it stored) serve the other cluster
tests too.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import REPO, PgDatabases, require_binary

pytestmark = pytest.mark.slow

T0 = 1557100800  # 2019-05-06 00:00:00 UTC
SPAN = 7200  # two hours of flows: several hourly rollups, many nfcapd files
FLOWS = 20_000  # connections; each is two records (the reply follows 1..40 s later)
CSV_FILES = 8

#: Columns that differ by who stored a row and when, not by what was read.
NOT_COMPARED = {"id", "input_id", "scan_id", "recorded_at"}
#: The tables a flow scan writes, and the columns of ``inputs`` that say what was read.
TABLES = ("events", "rollups", "rollup_addresses", "rollup_day_addresses")
INPUT_COLUMNS = ("sha256", "size", "format", "records", "watched", "bad")


@cache
def bench() -> ModuleType:
    """``benchmarks/flows.py``, whose generator the benchmark of issue 19 uses too."""
    folder = REPO / "benchmarks"
    sys.path.insert(0, str(folder))  # it imports its sibling flows_report
    try:
        spec = importlib.util.spec_from_file_location("bench_flows", folder / "flows.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def connections(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """``n`` of the benchmark's flows over ``SPAN`` seconds, each followed by its reply (the
    remote side's record, 1..40 s later), all in time order as a collector writes them."""
    f = bench().flows(n, seed)
    rng = np.random.default_rng(seed + 1)
    ts = T0 + np.sort(rng.random(n)) * SPAN
    reply = ts + rng.uniform(1, 40, n)
    both = {
        "src": np.concatenate([f["src"], f["dst"]]),
        "dst": np.concatenate([f["dst"], f["src"]]),
        "sport": np.concatenate([f["sport"], f["dport"]]),
        "dport": np.concatenate([f["dport"], f["sport"]]),
        "ts": np.concatenate([ts, reply]),
        "size": np.concatenate([f["size"], rng.integers(60, 1400, n)]),
    }
    order = np.argsort(both["ts"], kind="stable")
    return {key: values[order] for key, values in both.items()}


def write_csv_files(directory: Path, f: dict[str, np.ndarray], parts: int) -> list[Path]:
    """The records cut into ``parts`` files of equal length, in time order: the connections
    at a cut have their reply in the next file, as when a collector rotates between them."""
    directory.mkdir(parents=True)
    bounds = np.linspace(0, len(f["ts"]), parts + 1).astype(int)
    paths = []
    for k, (start, end) in enumerate(itertools.pairwise(bounds)):
        path = directory / f"flows-{k:02d}.csv"
        bench().write_csv(path, {key: values[start:end] for key, values in f.items()})
        paths.append(path)
    return paths


def write_nfcapd_dir(directory: Path, f: dict[str, np.ndarray], work: Path) -> Path:
    """The records as packets of a pcap, turned into nfcapd files (one a minute) by nfpcapd."""
    nfpcapd = require_binary("nfpcapd")
    require_binary("nfdump")  # the workers read the files through it
    pcap = work / "flows.pcap"
    bench().write_pcap(pcap, f)
    directory.mkdir(parents=True)
    command = [nfpcapd, "-r", str(pcap), "-w", str(directory), "-t", "60", "-B", "2000000"]
    subprocess.run(command, check=True, capture_output=True)
    pcap.unlink()
    assert len(list(directory.rglob("nfcapd.*"))) > 64  # more than one nfdump group
    return directory


def write_watchlists(directory: Path) -> Path:
    """The benchmark's watchlist (kp ranges) and pool catalog."""
    (directory / "endpoints").mkdir(parents=True)
    (directory / "kp.txt").write_text(bench().WATCHLIST)
    (directory / "endpoints" / "bench.toml").write_text(bench().CATALOG)
    return directory


def environment(db_url: str | None = None, **extra: str) -> dict[str, str]:
    """The scan's environment: none of the caller's CHAINWATCH_ settings, no DNS look-ups, and
    an internal error's traceback in full (for the failure message)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINWATCH_")}
    env |= {"CHAINWATCH_RESOLVE_HOSTS": "0", "CHAINWATCH_TRACEBACK": "1", "TZ": "UTC", **extra}
    if db_url is not None:
        env["CHAINWATCH_DB"] = db_url
    return env


def scan_argv(db_url: str, watchlists: Path, *paths: Path, cluster: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "chainwatch", "--db", db_url, "--watchlists", str(watchlists)]
    argv.append("scan")
    for path in paths:
        argv += ["--flows", str(path)]
    if cluster is not None:
        argv += ["--cluster", cluster]
    return argv


def scan(
    db_url: str, watchlists: Path, *paths: Path, cluster: str | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """``chainwatch scan --flows PATH...`` in a child process; it must succeed."""
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        scan_argv(db_url, watchlists, *paths, cluster=cluster),
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def plain(value: Any) -> Any:
    """A value both backends give alike and that can be sorted (JSON as its sorted text)."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value


def table(db_url: str, name: str, without: Iterable[str] = NOT_COMPARED) -> list[tuple[Any, ...]]:
    """A table's rows as sorted tuples of every column but ``without`` (by name)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            result = conn.execute(text(f"SELECT * FROM {name}"))
            keep = [k for k, column in enumerate(result.keys()) if column not in set(without)]
            rows = [tuple(plain(row[k]) for k in keep) for row in result]
    finally:
        engine.dispose()
    return sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))


def inputs(db_url: str) -> list[tuple[Any, ...]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = f"SELECT {', '.join(INPUT_COLUMNS)} FROM inputs"
            return sorted(tuple(row) for row in conn.execute(text(query)))
    finally:
        engine.dispose()


def stored(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a flow scan stores, but ids, scans and times of storing."""
    return {name: table(db_url, name) for name in TABLES} | {"inputs": inputs(db_url)}


def assert_same(got: dict[str, list[Any]], want: dict[str, list[Any]]) -> None:
    """Table by table, so a difference names its table and its first differing rows."""
    assert want["events"], "the reference scan stored no events"
    for name in want:
        if got[name] == want[name]:
            continue
        have, expected = set(got[name]), set(want[name])
        extra = [row for row in got[name] if row not in expected][:3]
        lacking = [row for row in want[name] if row not in have][:3]
        raise AssertionError(
            f"{name}: {len(got[name])} rows, expected {len(want[name])}; "
            f"not expected: {extra}; missing: {lacking}"
        )


def fresh_database(backend: str, tmp_path: Path, pg_databases: PgDatabases, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    return pg_databases.new()


@pytest.fixture(scope="module")
def bench_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The watchlists, the CSV directory and the nfcapd directory, written once."""
    root = tmp_path_factory.mktemp("cluster-inputs")
    f = connections(FLOWS)
    return {
        "watchlists": write_watchlists(root / "watchlists"),
        "csv": write_csv_files(root / "csv", f, CSV_FILES)[0].parent,
        "nfcapd": write_nfcapd_dir(root / "nfcapd", f, root),
    }


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
@pytest.mark.parametrize("kind", ["csv", "nfcapd"])
def test_local_cluster_stores_what_one_process_stores(
    kind: str,
    backend: str,
    bench_inputs: dict[str, Path],
    tmp_path: Path,
    pg_databases: PgDatabases,
) -> None:
    watchlists, path = bench_inputs["watchlists"], bench_inputs[kind]
    reference = fresh_database(backend, tmp_path, pg_databases, "reference")
    clustered = fresh_database(backend, tmp_path, pg_databases, "clustered")
    one = scan(reference, watchlists, path, cwd=tmp_path / "one")
    two = scan(clustered, watchlists, path, cluster="local:2", cwd=tmp_path / "two")
    want = stored(reference)
    assert_same(stored(clustered), want)
    # The summary counts the same records (read, watched, classified, stored, skipped, bad).
    counts = two.stdout.split(" ok: ", 1)[-1].split(" in ")[0]
    assert counts == one.stdout.split(" ok: ", 1)[-1].split(" in ")[0], (one.stdout, two.stdout)
    if kind == "csv":  # a file of each connection cut in two: pairing crossed the inputs
        assert len(want["inputs"]) == CSV_FILES
