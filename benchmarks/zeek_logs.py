"""How fast Zeek's dns.log and ssl.log are read, against conn.log's vectorised reader, in one run.

Writes a dns.log, an ssl.log and a conn.log of N records each (TSV, as Zeek's ASCII writer does;
5,000 distinct names, one in a thousand ssl records naming a catalog pool) and times, in this
process, reading each into what the pipeline gets: the dns.log's passive DNS answers, the
ssl.log's verdicts, the conn.log's flow batches (``read_zeek``). Prints records per second and
the ratio of each to conn.log's reader.

    python benchmarks/zeek_logs.py            # 200,000 records per log
    python benchmarks/zeek_logs.py -n 50000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chainwatch.classify import Classifier
from chainwatch.flows.inputs import describe
from chainwatch.flows.limits import Limits
from chainwatch.flows.readers import read_zeek, zeek_join
from chainwatch.watchlists import Endpoint

T0 = 1558051200.0  # 2019-05-17T00:00:00Z
CONN_FIELDS = "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes conn_state orig_pkts resp_pkts"
SSL_FIELDS = "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher server_name established"
DNS_FIELDS = "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id query qtype_name rcode_name answers TTLs rejected"


def tsv(path: str, fields: str, rows: list[list[object]]) -> str:
    """A log as Zeek's ASCII writer writes it (vectors joined by the set separator)."""
    head = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{path}",
        "#fields\t" + "\t".join(fields.split()),
    ]
    body = [
        "\t".join(",".join(map(str, v)) if isinstance(v, list) else str(v) for v in row)
        for row in rows
    ]
    return "\n".join([*head, *body, "#close\t2019-05-17-01-00-00"]) + "\n"


def logs(directory: Path, n: int) -> dict[str, Path]:
    def name(i: int) -> str:
        return "xmr.pool.example" if i % 1000 == 0 else f"www{i % 5000}.example.org"

    conn = [
        [T0 + i / 100, f"C{i}", "175.45.177.9", 20000 + i % 40000, "192.0.2.7", 443, "tcp",
         "ssl", 1.0, 100, 200, "SF", 2, 3]
        for i in range(n)
    ]  # fmt: skip
    ssl = [
        [T0 + i / 100, f"C{i}", "175.45.177.9", 20000 + i % 40000, "192.0.2.7", 443, "TLSv13",
         "TLS_AES_128_GCM_SHA256", name(i), True]
        for i in range(n)
    ]  # fmt: skip
    dns = [
        [T0 + i / 100, f"D{i}", "175.45.177.9", 20000 + i % 40000, "192.0.2.53", 53, "udp",
         i % 65536, f"h{i % 5000}.example.org", "A", "NOERROR",
         [f"c{i % 5000}.example.net", f"198.51.100.{i % 250}"], [60.0, 60.0], False]
        for i in range(n)
    ]  # fmt: skip
    paths = {}
    for kind, fields, rows in (("conn", CONN_FIELDS, conn), ("ssl", SSL_FIELDS, ssl),
                               ("dns", DNS_FIELDS, dns)):  # fmt: skip
        paths[kind] = directory / f"{kind}.log"
        paths[kind].write_text(tsv(kind, fields, rows))
    return paths


def timed(work: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    count = work()
    return time.perf_counter() - started, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200_000, help="records per log")
    n = parser.parse_args().n
    pool = Endpoint(name="pool", category="xmr-pool", catalog="bench", hosts=("xmr.pool.example",))
    classifier = Classifier([pool], {})
    limits = Limits()
    with tempfile.TemporaryDirectory() as tmp:
        paths = logs(Path(tmp), n)
        inputs = {kind: describe(path) for kind, path in paths.items()}
        conn_s, rows = timed(
            lambda: sum(b.table.num_rows for b in read_zeek(inputs["conn"], limits))
        )
        ssl_s, verdicts = timed(
            lambda: len(
                zeek_join.read_verdicts(inputs["ssl"], "ssl", False, classifier, limits).verdicts
            )
        )
        dns_s, answers = timed(
            lambda: sum(len(b.answers) for b in zeek_join.read_dns(inputs["dns"], False, limits))
        )
    print(f"conn.log (read_zeek)      {n / conn_s:>12,.0f} rec/s  ({rows:,} records)")
    print(f"ssl.log (verdicts)        {n / ssl_s:>12,.0f} rec/s  ({verdicts:,} verdicts)"
          f"  {conn_s / ssl_s:.2f}x conn.log")  # fmt: skip
    print(f"dns.log (answers)         {n / dns_s:>12,.0f} rec/s  ({answers:,} answers)"
          f"  {conn_s / dns_s:.2f}x conn.log")  # fmt: skip


if __name__ == "__main__":
    main()
