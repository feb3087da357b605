"""Scan speed on a Dask cluster against one process, in one run (issue 19).

Generates N flows with ``benchmarks/flows.py``'s generator (20% from the watched kp ranges)
as a directory of generic CSV files (and with ``--formats csv,nfcapd`` also as nfcapd files,
written by the real nfpcapd), then times, each a whole ``chainwatch scan`` process into a
fresh database on the PostgreSQL server of ``--pg`` (created and dropped here):

- one process (no ``--cluster``);
- ``--cluster local:1`` (one worker process: the cluster's own cost);
- ``--cluster local:2`` (two worker processes);
- one process and ``local:2`` again on a one-record input: what a scan and a cluster cost
  before the first record (start-up, imports, database, workers);
- two one-process scans at once, of half the files each, into databases of their own: what
  two processes sharing nothing but the cores and the server reach;

and prints seconds, records per second, the speed-ups (local:2 against one process and
against local:1), the peak RSS of the client and of each worker (``VmHWM`` of every process
of the scan, read from /proc every 0.2 s while it runs), the load of the machine, and a
projection (computed, not measured) of the workers a year of a border seeing 1,000,000
flows/s takes. Then the target of issue 19 with pass or fail, and what bounds it here: the
two processes sharing nothing (no cluster of two workers on these cores does better), the
cluster's start, and the CPU seconds it adds per record.

    python benchmarks/cluster.py                    # 2,000,000 flows in 16 CSV files
    python benchmarks/cluster.py -n 500000 --files 8
    python benchmarks/cluster.py --formats csv,nfcapd --sqlite   # also nfcapd, also SQLite
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from flows import CATALOG, WATCHLIST, flows, pg, write_csv, write_pcap  # benchmarks/

YEAR = 365 * 86400
WEEK = 7 * 86400
BORDER = 1_000_000  # flows per second at the border of the projection
TARGET = 1.6  # issue 19: two workers on two cores at least 1.6x one process


@dataclass
class Run:
    """One timed scan: wall seconds, its summary line, and peak RSS per process."""

    label: str
    seconds: float
    summary: str
    cpu: float = 0.0  # user + system seconds of the scan, what it waited for, and `unwaited`
    #: the last CPU seconds read of the fork server and the workers it forked (their own)
    unwaited: dict[int, float] = field(default_factory=dict)
    server: dict[int, float] = field(default_factory=dict)  # PostgreSQL backends' CPU seconds
    client: int = 0
    workers: dict[int, int] = field(default_factory=dict)
    others: dict[int, int] = field(default_factory=dict)


def generate(work: Path, n: int, files: int, formats: list[str]) -> None:
    f = flows(n)
    (work / "csv").mkdir()
    bounds = np.linspace(0, n, files + 1).astype(int)
    for k in range(files):
        part = {key: values[bounds[k] : bounds[k + 1]] for key, values in f.items()}
        write_csv(work / "csv" / f"flows-{k:02d}.csv", part)
    if "nfcapd" in formats:
        write_pcap(work / "flows.pcap", f)
        (work / "nfcapd").mkdir()
        subprocess.run(
            [
                "nfpcapd",
                "-r",
                str(work / "flows.pcap"),
                "-w",
                str(work / "nfcapd"),
                "-B",
                "2000000",
            ],
            check=True,
            capture_output=True,
        )
        (work / "flows.pcap").unlink()


def tree() -> dict[int, tuple[int, str]]:
    """Every process: its parent and command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, UnicodeDecodeError):
                continue
            found[int(entry.name)] = (int(stat[stat.rindex(")") + 2 :].split()[1]), cmdline)
    return found


def peak_rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends(pg_url: str | None, database: str) -> list[int]:
    """The PostgreSQL server processes serving the scan's connections (to its own database)."""
    if pg_url is None:
        return []
    import psycopg

    with psycopg.connect(pg_url.replace("+psycopg", "", 1), autocommit=True) as conn:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
        return [row[0] for row in conn.execute(query, (database,))]


def timed(
    label: str, argv: list[str], env: dict[str, str], pg_url: str | None, database: str
) -> Run:
    """Run ``argv``; every 0.2 s read the peak RSS of it and its descendants (the last reading
    of each process is its peak: VmHWM only grows), and the CPU time of the PostgreSQL server
    processes serving it (the last reading of each is what it used, as the server's backends
    are started for the scan's connections)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        run = Run(label, 0.0, "")
        kinds: dict[int, str] = {}
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                run.cpu = usage.ru_utime + usage.ru_stime + sum(run.unwaited.values())
                break
            table, family, frontier = tree(), [process.pid], {process.pid}
            while frontier:
                frontier = {p for p, (ppid, _) in table.items() if ppid in frontier}
                family += frontier
            for each in family:
                parent, cmd = table.get(each, (0, ""))
                if each not in kinds:
                    # Workers are spawned by the scan, or forked by its fork server (a child of
                    # the scan whose own children they are).
                    server = "forkserver" in cmd and parent == process.pid
                    worker = "spawn_main" in cmd or ("forkserver" in cmd and not server)
                    kinds[each] = "client" if each == process.pid else "worker" if worker else ""
                    kinds[each] = "forkserver" if server else kinds[each]
                forked = kinds[each] == "worker" and parent != process.pid
                if forked or kinds[each] == "forkserver":
                    used = cpu_seconds(each)  # not waited for by the scan: not in its rusage
                    if used is not None:
                        run.unwaited[each] = used
                if kinds[each] == "forkserver":
                    continue
                rss = peak_rss(each)
                if rss is None or "resource_tracker" in cmd:
                    continue
                if kinds[each] == "client":
                    run.client = rss
                else:
                    (run.workers if kinds[each] == "worker" else run.others)[each] = rss
            for each in backends(pg_url, database):
                used = cpu_seconds(each)
                if used is not None:
                    run.server[each] = used
            time.sleep(0.2)
        run.seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        run.summary = (
            out.read().decode().strip().splitlines()[-1:][0] if process.returncode == 0 else ""
        )
        if process.returncode != 0:
            sys.exit(f"{label} failed (exit {process.returncode}): {err.read().decode()[-800:]}")
    return run


def mib(value: int) -> str:
    return f"{value / 2**20:,.0f}"


def print_runs(n: int, title: str, runs: list[Run]) -> None:
    print(f"\n{title}: {n:,} records")
    print(
        f"{'':22} {'s':>8} {'rec/s':>11} {'CPU s':>7} {'server':>7} {'client MiB':>10}  workers' peak RSS MiB"
    )
    for run in runs:
        workers = ", ".join(mib(v) for v in sorted(run.workers.values())) or "-"
        print(
            f"{run.label:22} {run.seconds:8.2f} {n / run.seconds:11,.0f} {run.cpu:7.1f} "
            f"{sum(run.server.values()):7.1f} {mib(run.client):>10}  {workers}"
        )
    print(
        "  (CPU s: the scan and its worker processes; server: the PostgreSQL processes serving"
        " its connections)"
    )
    for run in runs:
        print(f"  {run.label}: {run.summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2_000_000, help="flows (default 2,000,000)")
    parser.add_argument("--files", type=int, default=16, help="CSV files (default 16)")
    parser.add_argument(
        "--formats", default="csv", help="comma-separated, of csv, nfcapd (default csv)"
    )
    parser.add_argument(
        "--pg",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL server (a fresh database per run is created on it and dropped)",
    )
    parser.add_argument("--sqlite", action="store_true", help="also into fresh SQLite files")
    args = parser.parse_args()
    formats = args.formats.split(",")
    env = dict(os.environ, TZ="UTC", CHAINWATCH_RESOLVE_HOSTS="0")
    env = {k: v for k, v in env.items() if k not in ("CHAINWATCH_DB", "CHAINWATCH_CLUSTER")}
    clusters = [
        ("1 process", None),
        ("--cluster local:1", "local:1"),
        ("--cluster local:2", "local:2"),
    ]
    results: dict[tuple[str, str], list[Run]] = {}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="cw-bench-cluster-") as tmp:
        work = Path(tmp)
        (work / "wl" / "endpoints").mkdir(parents=True)
        (work / "wl" / "kp.txt").write_text(WATCHLIST)
        (work / "wl" / "endpoints" / "bench.toml").write_text(CATALOG)
        print(
            f"generating {args.n:,} flows ({args.files} CSV files; {', '.join(formats)}) ...",
            flush=True,
        )
        generate(work, args.n, args.files, formats)
        for fmt in formats:
            for db_kind in ["PostgreSQL", *(["SQLite"] if args.sqlite else [])]:
                runs = []
                for label, cluster in clusters:
                    key = f"{fmt}_{label.split(':')[-1].replace(' ', '')}"
                    database = f"cw_bench_cluster_{os.getpid()}_{key}".lower()
                    if db_kind == "SQLite":
                        url = f"sqlite:///{work / key}.db"
                    else:
                        pg(args.pg, f"CREATE DATABASE {database}")
                        url = f"{args.pg.rsplit('/', 1)[0]}/{database}"
                    argv = scan_argv(url, work, work / fmt, cluster)
                    try:
                        pg_url = args.pg if db_kind == "PostgreSQL" else None
                        runs.append(timed(label, argv, env, pg_url, database))
                    finally:
                        if db_kind == "SQLite":
                            Path(f"{work / key}.db").unlink(missing_ok=True)
                        else:
                            pg(args.pg, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
                    load.append(os.getloadavg()[0])
                results[fmt, db_kind] = runs
        fixed = references(work, env, args.pg) if "csv" in formats else []
    report(args.n, results, load, fixed)


def scan_argv(url: str, work: Path, inputs: Path, cluster: str | None) -> list[str]:
    argv = [sys.executable, "-m", "chainwatch", "--db", url, "--watchlists", str(work / "wl")]
    return argv + ["scan", "--flows", str(inputs)] + (["--cluster", cluster] if cluster else [])


def references(work: Path, env: dict[str, str], pg_url: str) -> list[Run]:
    """What bounds a cluster here, measured into fresh PostgreSQL databases: one process and
    ``local:2`` scanning one record (what each costs before any work), and two one-process
    scans at once, of half the CSV files each (two processes that share nothing but the
    cores and the server: no cluster of two workers does better on these cores)."""
    (work / "one").mkdir()
    files = sorted((work / "csv").iterdir())
    with files[0].open() as handle:
        (work / "one" / "one.csv").write_text(handle.readline() + handle.readline())
    for k in range(2):
        (work / f"half{k}").mkdir()
        for each in files[k::2]:
            (work / f"half{k}" / each.name).symlink_to(each)
    base = pg_url.rsplit("/", 1)[0]
    runs: list[Run] = []

    def one(label: str, inputs: str, cluster: str | None) -> Run:
        database = f"cw_bench_cluster_{os.getpid()}_{inputs}_{cluster or 'process'}"
        database = database.replace(":", "")
        pg(pg_url, f"CREATE DATABASE {database}")
        try:
            argv = scan_argv(f"{base}/{database}", work, work / inputs, cluster)
            return timed(label, argv, env, pg_url, database)
        finally:
            pg(pg_url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")

    runs.append(one("1 process, one record", "one", None))
    runs.append(one("local:2, one record", "one", "local:2"))
    with ThreadPoolExecutor(2) as pool:  # the two halves at once
        halves = [pool.submit(one, f"half {k}", f"half{k}", None) for k in range(2)]
        runs += [half.result() for half in halves]
    return runs


def report(
    n: int, results: dict[tuple[str, str], list[Run]], load: list[float], fixed: list[Run]
) -> None:
    cores = os.cpu_count() or 1
    print(
        f"\nmachine: {cores} cores; load average (1 min) {min(load):.1f} .. {max(load):.1f} during the runs"
    )
    for (fmt, db_kind), runs in results.items():
        print_runs(n, f"{fmt} into {db_kind}", runs)
        one, local1, local2 = runs
        print(
            f"  speed-up local:2 / 1 process {one.seconds / local2.seconds:.2f}x; "
            f"local:2 / local:1 {local1.seconds / local2.seconds:.2f}x; "
            f"local:1 / 1 process {one.seconds / local1.seconds:.2f}x"
        )
    fmt, db_kind = next(iter(results))
    one, _, local2 = results[fmt, db_kind]
    per_worker = n / local2.seconds / 2
    year = BORDER * YEAR
    print(f"\nprojection (computed from the {fmt} into {db_kind} run, not measured):")
    print(f"  a year at {BORDER:,} flows/s = {year:.3g} records")
    print(f"  per worker (local:2 rate / 2): {per_worker:,.0f} records/s")
    print(f"  one worker reads that year in {year / per_worker / YEAR:,.0f} worker-years")
    print(f"  workers to keep up in real time: {math.ceil(BORDER / per_worker):,}")
    print(f"  workers to re-read the year in a week: {math.ceil(year / per_worker / WEEK):,}")
    print("  (assumes the per-worker rate holds as workers are added and the database keeps up)")
    speedup = one.seconds / local2.seconds
    print("\ntargets (issue 19):")
    verdict = "PASS" if speedup >= TARGET else "FAIL"
    print(
        f"  speed-up with 2 workers on {cores} cores >= {TARGET}x ({fmt} into {db_kind})"
        f"   {speedup:.2f}x  {verdict}"
    )
    if fixed:
        ceiling(results["csv", "PostgreSQL"], fixed, cores)


def ceiling(runs: list[Run], fixed: list[Run], cores: int) -> None:
    """What bounds ``local:2`` here: two processes sharing nothing (measured), the cluster's
    start, and the CPU seconds the cluster adds per record."""
    one, _, local2 = runs
    one_fixed, local2_fixed, *halves = fixed
    together = max(half.seconds for half in halves)
    used = [r.cpu + sum(r.server.values()) for r in (one, local2, one_fixed, local2_fixed)]
    work = used[0] - used[2]  # CPU seconds of the records themselves, one process
    extra = (used[1] - used[3]) - work  # what the cluster adds for them
    print(f"\nceiling on this machine ({cores} cores, shared with the PostgreSQL server):")
    print(
        f"  two one-process scans at once, half the files each: {together:.2f} s, "
        f"{one.seconds / together:.2f}x one process (no cluster of 2 workers does better here)"
    )
    print(
        f"  one record: 1 process {one_fixed.seconds:.2f} s, local:2 {local2_fixed.seconds:.2f} s"
        f" (the cluster's start: {local2_fixed.seconds - one_fixed.seconds:+.2f} s)"
    )
    print(
        f"  the records' CPU s (scan, workers, server): 1 process {work:.1f} "
        f"({work / (one.seconds - one_fixed.seconds):.2f} cores busy), local:2 {work + extra:.1f}"
        f" ({extra / work:+.0%})"
    )


if __name__ == "__main__":
    main()
