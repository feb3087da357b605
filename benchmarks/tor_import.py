"""A full year of hourly Tor consensuses through ``chainwatch catalog import tor-consensus``.

1. Generates 8,760 hourly consensus documents for 2019 (dir-spec format, tests/imports/tordocs.py;
   every other hour the microdescriptor flavour) as CollecTor ships them: one
   ``consensuses-2019-MM.tar.xz`` per month. About 6,500 relays are listed each hour, with
   churn: relays leave for good (mean life two months) and new ones join, some go offline for
   1-12 hours (restarts: the short absences merge, the long ones start a new interval), a few
   move to a new address. IPv4 addresses come from 198.18.0.0/15 (RFC 2544's benchmarking
   block), IPv6 ``a`` lines from 2001:db8::/32; a third of the relays have a DirPort. The
   archives are cached in /tmp/chainwatch-bench-tor (``--fresh`` rebuilds them).
2. Imports the whole year with the real command in a child process and prints the time, the
   rows written and the child's peak RSS.
3. Reference: stem alone reading the first month's archive (``parse_file`` over each document,
   reading the same attributes the importer reads), timed against chainwatch importing that
   same archive; prints both and the ratio.

    python benchmarks/tor_import.py              # the full year
    python benchmarks/tor_import.py --hours 720  # one month, for a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import lzma
import random
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from tests.imports.tordocs import Relay, consensus  # noqa: E402

CACHE = Path("/tmp/chainwatch-bench-tor")
START = dt.datetime(2019, 1, 1)
TARGET = 6500
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 1, "dict_size": 32 << 20}]


def _address(rng: random.Random) -> str:
    n = rng.randrange(1, 1 << 17)
    return f"198.{18 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"


def _relay(rng: random.Random, serial: int) -> Relay:
    ipv6 = (
        f"[2001:db8:{serial >> 16:x}:{serial & 0xFFFF:x}::1]:9001" if rng.random() < 0.2 else None
    )
    return Relay(
        nickname=f"relay{serial}",
        address=_address(rng),
        or_port=rng.choice((9001, 443, 9001, 8443, 9090)),
        dir_port=rng.choice((9030, 80)) if rng.random() < 1 / 3 else 0,
        ipv6=ipv6,
        exit=rng.random() < 0.15,
    )


def generate(hours: int, directory: Path) -> list[Path]:
    """One .tar.xz per month of hourly consensuses; returns the archives."""
    rng = random.Random(2019)
    serial = 0
    alive: dict[int, Relay] = {}
    offline_until: dict[int, int] = {}
    for _ in range(TARGET):
        alive[serial] = _relay(rng, serial)
        serial += 1
    archives: list[Path] = []
    archive: tarfile.TarFile | None = None
    packed: lzma.LZMAFile | None = None
    month = None
    for hour in range(hours):
        when = START + dt.timedelta(hours=hour)
        if when.month != month:
            if archive is not None:
                archive.close()
                packed.close()
            month = when.month
            path = directory / f"consensuses-{when:%Y-%m}.tar.xz"
            archives.append(path)
            # xz's fast preset, with a dictionary larger than one document: consecutive
            # consensuses differ little, so the archives shrink as CollecTor's do.
            packed = lzma.LZMAFile(path.with_suffix(".part"), "w", filters=_FILTERS)  # noqa: SIM115
            archive = tarfile.open(fileobj=packed, mode="w|")  # noqa: SIM115
        for key in list(alive):
            roll = rng.random()
            if roll < 1 / 1440:  # gone for good (mean life 60 days)
                del alive[key]
                offline_until.pop(key, None)
            elif roll < 1 / 1440 + 0.004 and key not in offline_until:  # a restart or outage
                offline_until[key] = hour + rng.choice((1, 1, 2, 3, 6, 12))
            elif roll > 1 - 0.0001:  # moved to another address
                old = alive[key]
                alive[key] = Relay(
                    old.nickname, _address(rng), old.or_port, old.dir_port, old.ipv6, old.exit
                )
        while len(alive) < TARGET + rng.randrange(-300, 300):
            alive[serial] = _relay(rng, serial)
            serial += 1
        for key in [k for k, until in offline_until.items() if until <= hour]:
            del offline_until[key]
        listed = [relay for key, relay in alive.items() if key not in offline_until]
        data = consensus(when, listed, micro=hour % 2 == 1)
        info = tarfile.TarInfo(
            f"consensuses-{when:%Y-%m}/{when:%d}/{when:%Y-%m-%d-%H}-00-00-consensus"
        )
        info.size = len(data)
        info.mtime = int(when.replace(tzinfo=dt.UTC).timestamp())
        assert archive is not None
        archive.addfile(info, io.BytesIO(data))
        if hour % 720 == 0:
            print(
                f"  generated {hour:,}/{hours:,} hours ({len(listed):,} relays listed)", flush=True
            )
    if archive is not None:
        archive.close()
        packed.close()
    for path in archives:
        path.with_suffix(".part").rename(path)
    return archives


def stem_alone(archive: Path) -> tuple[float, int]:
    """stem reading every document of ``archive``: seconds, router entries."""
    import stem.descriptor
    from stem.descriptor import DocumentHandler

    entries = 0
    started = time.perf_counter()
    with tarfile.open(archive, "r|xz") as tar:
        for member in tar:
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            kind = data.split(b"\n", 1)[0][6:].decode()
            for entry in stem.descriptor.parse_file(
                io.BytesIO(data), kind, document_handler=DocumentHandler.ENTRIES
            ):
                _ = (entry.address, entry.or_port, entry.dir_port, entry.fingerprint)
                _ = (entry.nickname, entry.or_addresses, entry.document.valid_after)
                entries += 1
    return time.perf_counter() - started, entries


def run_import(archives: list[Path], name: str) -> tuple[float, str, int]:
    """The real command in a child process: seconds, its output, peak RSS in KiB."""
    with tempfile.TemporaryDirectory(prefix="chainwatch-bench-tor-") as lists:
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "chainwatch",
                "--watchlists",
                lists,
                "catalog",
                "import",
                "tor-consensus",
                *map(str, archives),
                "--name",
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"import failed ({done.returncode}): {done.stderr}")
        csv_size = (Path(lists) / "endpoints" / f"{name}.csv").stat().st_size
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, done.stdout + f"  csv        {csv_size / 1e6:,.1f} MB\n", peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=int, default=8760)
    parser.add_argument("--fresh", action="store_true", help="regenerate the cached archives")
    parser.add_argument("--no-reference", action="store_true", help="skip the stem-alone run")
    args = parser.parse_args()
    directory = CACHE / f"{args.hours}h"
    archives = sorted(directory.glob("consensuses-*.tar.xz"))
    if args.fresh or not archives:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.iterdir():
            stale.unlink()
        print(f"generating {args.hours:,} hourly consensuses in {directory} ...", flush=True)
        started = time.perf_counter()
        archives = generate(args.hours, directory)
        print(f"  done in {time.perf_counter() - started:,.0f} s", flush=True)
    size = sum(p.stat().st_size for p in archives)
    print(f"{len(archives)} archives, {size / 1e6:,.0f} MB compressed")

    seconds, output, peak = run_import(archives, "tor-year")
    print(
        f"full import of {args.hours:,} hourly consensuses: {seconds:,.1f} s "
        f"({args.hours / seconds:,.1f} documents/s), peak RSS {peak / 1024:,.0f} MiB"
    )
    print(output, end="")

    if not args.no_reference:
        reference, entries = stem_alone(archives[0])
        seconds, _, _ = run_import(archives[:1], "month")
        print(f"first month ({archives[0].name}, {entries:,} router entries):")
        print(f"  stem alone           {reference:8.1f} s")
        print(f"  chainwatch import    {seconds:8.1f} s  ({seconds / reference:.2f}x stem alone)")


if __name__ == "__main__":
    main()
