"""Out-of-order flow files on PostgreSQL beside SQLite: a backfill read newest first.

Writes N files of R flows each (generic CSV, 20% from the watched kp ranges, three quarters of
those classified), file i covering day i, and scans the directory once, in one process, with
the files named so that the newest is read first. Every later file is then older than the
events already stored for its source, so each of its classified records is looked up among
them for a pairing partner (the case that ran ~10 s per batch under PostgreSQL's generic plan
on a freshly filled, unanalysed ``events`` table). Prints each database's time, records per
second and the ratio PostgreSQL / SQLite.

    python benchmarks/out_of_order.py                  # 10 files of 200,000 flows
    python benchmarks/out_of_order.py --files 4 -n 50000
    python benchmarks/out_of_order.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flows import CATALOG, WATCHLIST, flows, write_csv

DAY = 86400


def generate(work: Path, files: int, rows: int) -> Path:
    directory = work / "backfill"
    directory.mkdir()
    for day in range(files):
        f = flows(rows, seed=day)
        f["ts"] = f["ts"] + day * DAY  # T0 + day: one day per file
        # Named so that name order, which a directory is read in, is newest first.
        write_csv(directory / f"{files - 1 - day:03d}-day{day:03d}.csv", f)
    return directory


def scan(db_url: str, directory: Path, watchlists: Path) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINWATCH_")}
    env |= {"TZ": "UTC", "CHAINWATCH_RESOLVE_HOSTS": "0"}
    argv = [sys.executable, "-m", "chainwatch", "--db", db_url, "--watchlists", str(watchlists)]
    started = time.perf_counter()
    done = subprocess.run(
        [*argv, "scan", "--flows", str(directory)], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"scan on {db_url.split('://')[0]} failed: {done.stderr[-800:]}")
    return seconds, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10, help="files (default 10)")
    parser.add_argument("-n", type=int, default=200_000, help="flows per file (default 200,000)")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "CHAINWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL URL whose server may create a throw-away database",
    )
    args = parser.parse_args()
    name = f"cw_bench_{secrets.token_hex(4)}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    pg_url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
            work = Path(tmp)
            (work / "wl" / "endpoints").mkdir(parents=True)
            (work / "wl" / "kp.txt").write_text(WATCHLIST)
            (work / "wl" / "endpoints" / "bench.toml").write_text(CATALOG)
            print(f"generating {args.files} files of {args.n:,} flows ...", flush=True)
            directory = generate(work, args.files, args.n)
            records = args.files * args.n
            results = {}
            for label, url in (("SQLite", f"sqlite:///{work / 'cw.db'}"), ("PostgreSQL", pg_url)):
                seconds, line = scan(url, directory, work / "wl")
                results[label] = seconds
                print(
                    f"{label:<11} {seconds:8.1f} s  {records / seconds:>10,.0f} records/s  {line}",
                    flush=True,
                )
            ratio = results["PostgreSQL"] / results["SQLite"]
            print(f"PostgreSQL / SQLite: {ratio:.2f}x ({args.files} files newest first)")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
