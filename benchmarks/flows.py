"""Flow scanning speed and memory against nfdump and a plain Python reader, in one run.

Generates N flows (20% from the watched kp ranges, the rest documentation addresses) as a pcap,
turns it into nfcapd files with the real nfpcapd, and writes the same flows as nfdump CSV
(by nfdump itself), Zeek TSV and generic CSV. Then it times, each in a fresh process:

- ``chainwatch scan`` on the nfcapd directory, the nfdump CSV, the Zeek log and the CSV, into
  a fresh SQLite database and into a fresh schema of the PostgreSQL at ``--pg`` (created and
  dropped here);
- ``nfdump -R DIR '<the same watch filter>' -q -o csv > /dev/null``, the floor for nfcapd;
- chainwatch's nfcapd reader alone (nfdump and parsing, nothing matched or stored);
- a plain Python reader (csv module + ipaddress, matching only) on all rows of the generic
  CSV (``--naive-sample`` reads fewer, its rate then stands for all);
- SQLite alone inserting the generic CSV scan's (and the nfcapd scan's) events again into a
  fresh database with the same schema and pragmas (one statement): the floor under storing
  them;
- a scan of a one-record CSV: what every scan costs before its first input (Python, imports,
  a fresh database, the watchlists), beside the nfcapd scan;

chainwatch's own modules are compiled to bytecode first, as installing a wheel does (an
editable install under ``PYTHONDONTWRITEBYTECODE`` would compile them in every scan). It
prints seconds, records per second, each scan's speed as a multiple of the plain reader's
("x naive"), each process's peak RSS, and the targets of issue 16 with pass or fail.

    python benchmarks/flows.py            # 2,000,000 flows
    python benchmarks/flows.py -n 5000000 # the memory target's size
    python benchmarks/flows.py --formats nfdump,csv,quoted  # some formats only; "quoted" is
                                          # the generic CSV written with csv.QUOTE_ALL
    python benchmarks/flows.py --pg ''    # SQLite only
"""

from __future__ import annotations

import argparse
import compileall
import csv
import os
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from flows_report import report  # benchmarks/: the script's own directory

REPO = Path(__file__).resolve().parent.parent
T0 = 1557100800  # 2019-05-06 00:00:00 UTC
WATCHLIST = "175.45.176.0/22\n210.52.109.0/24\n77.94.35.0/24\n"
CATALOG = '[[endpoints]]\nname = "bench-pool"\ncategory = "xmr-pool"\nips = ["203.0.113.10"]\nports = [3333]\n'


def flows(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    watched = rng.random(n) < 0.2
    kp = (175 << 24) | (45 << 16) | (176 << 8)
    src = np.where(
        watched,
        kp + rng.integers(0, 1024, n),
        (192 << 24) | (0 << 16) | (2 << 8) | rng.integers(1, 255, n),
    )
    kind = rng.integers(0, 4, n)  # pool, btc, xmr p2p, https
    dst = np.where(
        kind == 0,
        (203 << 24) | (113 << 8) | 10,
        (198 << 24) | (51 << 16) | (100 << 8) | rng.integers(1, 255, n),
    )
    dport = np.choose(kind, [3333, 8333, 18080, 443])
    sport = rng.integers(1024, 65535, n)
    ts = T0 + np.sort(rng.random(n)) * 86400
    size = rng.integers(60, 1400, n)
    return {
        "src": src.astype(np.uint32),
        "dst": dst.astype(np.uint32),
        "sport": sport,
        "dport": dport,
        "ts": ts,
        "size": size,
    }


def dotted(values: np.ndarray) -> pa.Array:
    octets = [((values >> shift) & 255).astype(str) for shift in (24, 16, 8, 0)]
    joined = np.char.add(
        np.char.add(np.char.add(np.char.add(octets[0], "."), octets[1]), "."), octets[2]
    )
    return pa.array(np.char.add(np.char.add(joined, "."), octets[3]))


def write_pcap(path: Path, f: dict[str, np.ndarray]) -> None:
    template = bytearray(14 + 20 + 20)
    template[12:14] = b"\x08\x00"
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for src, dst, sport, dport, ts, size in zip(
            f["src"].tolist(),
            f["dst"].tolist(),
            f["sport"].tolist(),
            f["dport"].tolist(),
            f["ts"].tolist(),
            f["size"].tolist(),
            strict=True,
        ):
            frame = template
            struct.pack_into("!BBHHHBBHII", frame, 14, 0x45, 0, size - 14, 0, 0, 64, 6, 0, src, dst)
            struct.pack_into("!HHIIBBHHH", frame, 34, sport, dport, 0, 0, 0x50, 0x10, 65535, 0, 0)
            sec = int(ts)
            out.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), size))
            out.write(frame)


def write_csv(path: Path, f: dict[str, np.ndarray]) -> None:
    table = pa.table(
        {
            "ts": pa.array(np.round(f["ts"], 6)),
            "src_ip": dotted(f["src"]),
            "dst_ip": dotted(f["dst"]),
            "src_port": pa.array(f["sport"]),
            "dst_port": pa.array(f["dport"]),
            "proto": pa.array(np.full(len(f["ts"]), "tcp")),
            "bytes": pa.array(f["size"]),
            "packets": pa.array(np.ones(len(f["ts"]), dtype=np.int64)),
        }
    )
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))


def write_zeek(path: Path, f: dict[str, np.ndarray]) -> None:
    n = len(f["ts"])
    names = [
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "duration",
        "orig_bytes",
        "resp_bytes",
        "orig_pkts",
        "resp_pkts",
    ]
    table = pa.table(
        {
            "ts": pa.array(np.round(f["ts"], 6)),
            "uid": pa.array(np.char.add("C", np.arange(n).astype(str))),
            "h": dotted(f["src"]),
            "p": pa.array(f["sport"]),
            "rh": dotted(f["dst"]),
            "rp": pa.array(f["dport"]),
            "proto": pa.array(np.full(n, "tcp")),
            "duration": pa.array(np.full(n, "-")),
            "ob": pa.array(f["size"]),
            "rb": pa.array(np.zeros(n, dtype=np.int64)),
            "op": pa.array(np.ones(n, dtype=np.int64)),
            "rp2": pa.array(np.zeros(n, dtype=np.int64)),
        }
    )
    with path.open("wb") as out:
        out.write(
            b"#separator \\x09\n#path\tconn\n#fields\t"
            + "\t".join(names).encode()
            + b"\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tinterval\tcount\tcount\tcount\tcount\n"
        )
        pacsv.write_csv(
            table,
            out,
            pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none"),
        )
        out.write(b"#close\t2019-05-07-00-00-00\n")


def run(
    argv: list[str], env: dict[str, str] | None = None, devnull: bool = True
) -> tuple[float, int, str]:
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL if devnull else out, stderr=subprocess.PIPE, env=env
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        err = proc.stderr.read().decode() if proc.stderr else ""
        proc.stderr.close() if proc.stderr else None
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(argv[:3])} failed: {err[-500:]}")
        out.seek(0)
        return seconds, usage.ru_maxrss * 1024, out.read().decode()


NAIVE = r"""
import csv, ipaddress, itertools, sys
nets = [ipaddress.ip_network(l) for l in open(sys.argv[2]).read().split()]
rows = watched = 0
with open(sys.argv[1], newline="") as handle:
    for row in itertools.islice(csv.DictReader(handle), int(sys.argv[3]) or None):
        a, b = ipaddress.ip_address(row["src_ip"]), ipaddress.ip_address(row["dst_ip"])
        rows += 1
        if any(a in n or b in n for n in nets):
            watched += 1
print(rows)
"""

# chainwatch's nfcapd reader alone: the groups of issue 16 where the branch has them, else
# file by file as main reads them.
READER = r"""
import sys, pathlib
try:
    from chainwatch.flows.inputs import FlowInput
    from chainwatch.flows.readers import nfcapd
except ImportError as exc:  # moved by a later layout: the row says so, the run goes on
    print(f"not measured: {exc}")
    sys.exit()
files = sorted(p for p in pathlib.Path(sys.argv[1]).rglob("nfcapd.*"))
inputs = [FlowInput(p, str(p), p.stat().st_size, "") for p in files]
rows = 0
if hasattr(nfcapd, "read_nfcapd_groups"):
    for _, batches in nfcapd.read_nfcapd_groups(nfcapd.group_inputs(inputs), sys.argv[2]):
        rows += sum(b.table.num_rows for _, b in batches)
    how = "in groups, one nfdump each"
else:
    for each in inputs:
        rows += sum(b.table.num_rows for b in nfcapd.read_nfcapd(each, sys.argv[2]))
    how = "file by file"
print(f"{rows:,} records of {len(files)} files, {how}")
"""

PG_SQL = "import psycopg, sys\nwith psycopg.connect(sys.argv[1], autocommit=True) as c:\n    c.execute(sys.argv[2])\n"


def pg(url: str, sql: str) -> None:
    """One statement on the PostgreSQL server, from a child (the parent stays small)."""
    admin = url.replace("+psycopg", "", 1)
    done = subprocess.run([sys.executable, "-c", PG_SQL, admin, sql], capture_output=True)
    if done.returncode:
        sys.exit(f"PostgreSQL at {url}: {done.stderr.decode().strip().splitlines()[-1]}")


def store_floor(db: Path, floor: Path) -> tuple[float, int]:
    """Seconds SQLite itself takes to insert a scan's events into a fresh database with
    chainwatch's schema and pragmas, in one statement and one commit (no Python per row):
    the floor under any way of storing them."""
    con = sqlite3.connect(floor, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
        con.execute(f"PRAGMA {pragma}")
    con.execute("PRAGMA cache_size = -65536")
    con.execute("PRAGMA wal_autocheckpoint = 16384")
    con.execute("ATTACH DATABASE ? AS scanned", (str(db),))
    schema = (
        "SELECT sql FROM scanned.sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
    )
    for (sql,) in con.execute(schema).fetchall():
        con.execute(sql)
    for table in ("scans", "inputs"):
        con.execute(f"INSERT INTO main.{table} SELECT * FROM scanned.{table}")
    started = time.perf_counter()
    con.execute("BEGIN")
    events = con.execute("INSERT INTO main.events SELECT * FROM scanned.events").rowcount
    con.execute("COMMIT")
    seconds = time.perf_counter() - started
    con.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{floor}{suffix}").unlink(missing_ok=True)
    return seconds, events


def generate(work: Path, n: int) -> None:
    f = flows(n)
    write_pcap(work / "flows.pcap", f)
    (work / "nfcapd").mkdir()
    subprocess.run(
        ["nfpcapd", "-r", str(work / "flows.pcap"), "-w", str(work / "nfcapd"), "-B", "2000000"],
        check=True,
        capture_output=True,
    )
    (work / "flows.pcap").unlink()
    with (work / "nfdump.csv").open("wb") as out:
        subprocess.run(
            ["nfdump", "-R", str(work / "nfcapd"), "-o", "csv"],
            check=True,
            stdout=out,
            env=dict(os.environ, TZ="UTC"),
        )
    write_csv(work / "flows.csv", f)
    write_zeek(work / "conn.log", f)


FORMATS = (
    ("nfcapd", "nfcapd", "nfcapd"),
    ("nfdump", "nfdump CSV", "nfdump.csv"),
    ("zeek", "Zeek TSV", "conn.log"),
    ("csv", "generic CSV", "flows.csv"),
    ("quoted", "CSV, QUOTE_ALL", "quoted.csv"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2_000_000, help="flows (default 2,000,000)")
    parser.add_argument(
        "--naive-sample", type=int, default=0, help="rows for the plain Python reader (0: all)"
    )
    parser.add_argument(
        "--formats",
        default="nfcapd,nfdump,zeek,csv",
        help="comma-separated, of nfcapd, nfdump, zeek, csv, quoted (default: all but quoted)",
    )
    parser.add_argument(
        "--pg",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL database for the second column ('': SQLite only)",
    )
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    formats = args.formats.split(",")
    if args.generate:  # the child that writes the data: the parent stays small, so the peak
        generate(args.generate, args.n)  # RSS its children inherit at fork is not inflated
        if "quoted" in formats:
            source, target = args.generate / "flows.csv", args.generate / "quoted.csv"
            with source.open(newline="") as src, target.open("w", newline="") as dst:
                csv.writer(dst, quoting=csv.QUOTE_ALL).writerows(csv.reader(src))
        return
    dbs = ["SQLite", "PostgreSQL"] if args.pg else ["SQLite"]
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as tmp:
        work = Path(tmp)
        (work / "wl" / "endpoints").mkdir(parents=True)
        (work / "wl" / "kp.txt").write_text(WATCHLIST)
        (work / "wl" / "endpoints" / "bench.toml").write_text(CATALOG)
        (work / "filter.txt").write_text("ip in [\n" + WATCHLIST + "]\n")
        print(f"generating {args.n:,} flows ...", flush=True)
        subprocess.run(
            [
                *(sys.executable, __file__, "-n", str(args.n), "--formats", args.formats),
                *("--generate", str(work)),
            ],
            check=True,
        )
        env = dict(os.environ, TZ="UTC", CHAINWATCH_RESOLVE_HOSTS="0")
        nfilter = "net 175.45.176.0/22 or net 210.52.109.0/24 or net 77.94.35.0/24"
        floors: dict[str, tuple[float, int]] = {}
        compileall.compile_dir(REPO / "chainwatch", quiet=1)

        def scan(path: Path, key: str, db_kind: str) -> tuple[float, int, str]:
            db = work / f"{key}.db"
            schema = f"cw_bench_{os.getpid()}_{key}"
            if db_kind == "SQLite":
                url = f"sqlite:///{db}"
            else:
                pg(args.pg, f"CREATE SCHEMA {schema}")
                url = f"{args.pg}?options=-csearch_path%3D{schema}"
            argv = [sys.executable, "-m", "chainwatch", "--db", url, "--watchlists"]
            argv += [str(work / "wl"), "scan", "--flows", str(path)]
            try:
                result = run(argv, env=env, devnull=False)
            finally:
                if db_kind != "SQLite":
                    pg(args.pg, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            if key in ("csv", "nfcapd") and db_kind == "SQLite":
                floors[key] = store_floor(db, work / "floor.db")
            db.unlink(missing_ok=True)
            return result

        scans: dict[tuple[str, str], tuple[float, int, str]] = {}
        floor, floor_rss, _ = run(
            ["nfdump", "-R", str(work / "nfcapd"), nfilter, "-q", "-o", "csv"], env=env
        )
        reader = start = None
        if "nfcapd" in formats:
            argv = [sys.executable, "-c", READER, str(work / "nfcapd"), str(work / "filter.txt")]
            reader = run(argv, env=env, devnull=False)
            one = work / "one.csv"
            head = "ts,src_ip,dst_ip,src_port,dst_port,proto\n"
            one.write_text(head + "1557100800,175.45.176.1,203.0.113.10,40000,3333,tcp\n")
            start = scan(one, "one", "SQLite")
        for key, name, file in FORMATS:
            if key in formats:
                for db_kind in dbs:
                    scans[name, db_kind] = scan(work / file, key, db_kind)
        naive_argv = [sys.executable, "-c", NAIVE, str(work / "flows.csv")]
        naive, naive_rss, naive_out = run(
            [*naive_argv, str(work / "wl" / "kp.txt"), str(args.naive_sample)], devnull=False
        )
    naive_rows = int(naive_out.strip())
    naive_run = (naive, naive_rss, naive_rows)
    report(args.n, floor, floor_rss, reader, start, scans, dbs, naive_run, floors)


if __name__ == "__main__":
    main()
