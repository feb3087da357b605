"""What identifying inputs by content costs: the hash pass and the bounded read, in one run.

Writes a generic CSV of N flows and its gzip copy, then times, in this process, each against
the plain-library reference doing the least the same job needs:

- ``describe`` (open, size, SHA-256 up to that size) on the CSV, against reading the file and
  hashing it with hashlib (what the hash pass was before);
- ``describe`` on the gzip copy (SHA-256 of the decompressed stream), against decompressing
  it with gzip alone: the extra pass a gzip input costs is one decompression;
- reading the CSV in the readers' blocks through ``open_decoded`` (bounded at the hashed
  size), against ``open(path, "rb").read`` in the same blocks;

and prints the ratios. The figures of a whole scan, to weigh the hash pass against, are
``benchmarks/flows.py``'s.

    python benchmarks/inputs.py            # 2,000,000 flows
    python benchmarks/inputs.py -n 500000
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chainwatch.flows.inputs import FlowInput, describe, open_decoded
from chainwatch.flows.readers import BLOCK

HASH_BLOCK = 1 << 20


def write_csv(path: Path, n: int) -> None:
    with path.open("w") as handle:
        handle.write("ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets\n")
        for start in range(0, n, 100_000):
            handle.write(
                "".join(
                    f"2026-11-02T08:{i // 60 % 60:02d}:{i % 60:02d}Z,175.45.{176 + i % 4}.{i % 250 + 1},"
                    f"203.0.113.10,{1024 + i % 60000},3333,tcp,{60 + i % 1400},{1 + i % 9}\n"
                    for i in range(start, min(start + 100_000, n))
                )
            )


def best(job: Callable[[], object], rounds: int = 3) -> float:
    """The fastest of a few rounds: the machine is shared, the minimum is the least disturbed."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        job()
        times.append(time.perf_counter() - began)
    return min(times)


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def gunzip(path: Path) -> int:
    total = 0
    with gzip.open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            total += len(block)
    return total


def read_plain(path: Path) -> int:
    total = 0
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            total += len(block)
    return total


def read_bounded(flow_input: FlowInput) -> int:
    total = 0
    with open_decoded(flow_input) as handle:
        while block := handle.read(BLOCK):
            total += len(block)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2_000_000, help="flows (default 2,000,000)")
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory(prefix="chainwatch-bench-inputs-") as folder:
        plain, packed = Path(folder) / "flows.csv", Path(folder) / "flows.csv.gz"
        write_csv(plain, n)
        packed.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=6))
        size, packed_size = plain.stat().st_size, packed.stat().st_size
        assert describe(packed).sha256 == describe(plain).sha256 == hash_file(plain)
        described = describe(plain)
        rows = [
            ("hash pass, CSV", best(lambda: describe(plain)), "hashlib over the file", best(lambda: hash_file(plain))),
            ("hash pass, CSV.gz", best(lambda: describe(packed)), "gzip decompression alone", best(lambda: gunzip(packed))),
            ("read pass (bounded)", best(lambda: read_bounded(described)), "open().read in blocks", best(lambda: read_plain(plain))),
        ]  # fmt: skip
    print(f"flows: {n:,}; CSV {size / 2**20:,.0f} MiB, gzip {packed_size / 2**20:,.0f} MiB")
    for name, seconds, reference, baseline in rows:
        print(
            f"{name:22} {seconds:6.3f} s ({size / seconds / 2**20:6,.0f} MiB/s)   "
            f"{reference:26} {baseline:6.3f} s   ratio {seconds / baseline:4.2f}x"
        )


if __name__ == "__main__":
    main()
