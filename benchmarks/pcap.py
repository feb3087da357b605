"""Packet capture scanning speed and memory against plain dpkt loops, in one run.

Generates a capture of N packets (default 1,000,000): TCP conversations of 20 packets
(handshake, messages, FIN), 20% of them from the watched kp ranges; a quarter each Stratum
v1, XMRig login/job, Bitcoin P2P version exchange, and HTTPS. Then it times, each in a
fresh process:

- ``chainwatch scan --pcap`` into a fresh SQLite database (the whole path: framing, decoding,
  matching, checksums, reassembly, recognition, storing events and rollups);
- dpkt's pcap reader alone (framing only, the floor of any Python pcap reader);
- dpkt's reader plus full ``dpkt.ethernet.Ethernet`` decoding of every packet (the naive
  approach, before any matching or recognition);

and prints packets per second, the ratios and each process's peak RSS.

    python benchmarks/pcap.py              # 1,000,000 packets
    python benchmarks/pcap.py -n 3000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dpkt
import numpy as np

T0 = 1557100800  # 2019-05-06 00:00:00 UTC
WATCHLIST = "175.45.176.0/22\n210.52.109.0/24\n77.94.35.0/24\n"
PACKETS_PER_TALK = 20
WALLET = "4" + "9" * 10 + "A" * 84


def _line(message: dict[str, object]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _version(agent: str) -> bytes:
    import hashlib
    import struct

    addr = b"\x00" * 26
    payload = (
        struct.pack("<iQq", 70016, 1, T0)
        + addr
        + addr
        + struct.pack("<Q", 42)
        + bytes([len(agent)])
        + agent.encode()
        + struct.pack("<i", 1)
        + b"\x01"
    )
    check = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return (
        b"\xf9\xbe\xb4\xd9"
        + b"version".ljust(12, b"\x00")
        + struct.pack("<I", len(payload))
        + check
        + payload
    )


KINDS = [
    (
        3333,
        [
            ("c", _line({"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]})),
            (
                "s",
                _line(
                    {"id": 1, "result": [[["mining.notify", "ae68"]], "08000002", 4], "error": None}
                ),
            ),
            (
                "c",
                _line({"id": 2, "method": "mining.authorize", "params": ["bc1qexample.rig1", "x"]}),
            ),
        ],
    ),
    (
        443,
        [
            (
                "c",
                _line(
                    {
                        "id": 1,
                        "method": "login",
                        "params": {
                            "login": WALLET,
                            "pass": "x",
                            "agent": "XMRig/6.21.0",
                            "algo": ["rx/0"],
                        },
                    }
                ),
            ),
            (
                "s",
                _line(
                    {
                        "id": 1,
                        "result": {
                            "id": "7",
                            "job": {
                                "blob": "07" * 38,
                                "job_id": "j1",
                                "target": "b88d0600",
                                "algo": "rx/0",
                            },
                        },
                    }
                ),
            ),
        ],
    ),
    (8333, [("c", _version("/Satoshi:25.0.0/")), ("s", _version("/Satoshi:26.1.0/"))]),
    (
        443,
        [
            ("c", b"\x17\x03\x03\x00\x40" + b"\xaa" * 64),
            ("s", b"\x17\x03\x03\x00\x40" + b"\xbb" * 64),
        ],
    ),
]


def _frame(
    src: int, dst: int, sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes
) -> bytes:
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, data=data)
    ip = dpkt.ip.IP(
        src=src.to_bytes(4, "big"), dst=dst.to_bytes(4, "big"), p=6, ttl=64, data=segment
    )
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip))


def talk(client: int, server: int, cport: int, kind: int, at: float) -> list[tuple[float, bytes]]:
    port, messages = KINDS[kind]
    seq = {"c": 1000, "s": 9000}
    ends = {"c": (client, server, cport, port), "s": (server, client, port, cport)}
    out: list[tuple[float, bytes]] = []

    def send(side: str, flags: int, data: bytes = b"") -> None:
        src, dst, sp, dp = ends[side]
        other = "s" if side == "c" else "c"
        out.append(
            (at + len(out) * 0.05, _frame(src, dst, sp, dp, seq[side], seq[other], flags, data))
        )
        seq[side] += len(data) + (1 if flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)

    send("c", dpkt.tcp.TH_SYN)
    send("s", dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
    send("c", dpkt.tcp.TH_ACK)
    for side, data in messages:
        send(side, dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK, data)
    while len(out) < PACKETS_PER_TALK - 3:
        send("c" if len(out) % 2 else "s", dpkt.tcp.TH_ACK)
    send("c", dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
    send("s", dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
    send("c", dpkt.tcp.TH_ACK)
    return out


def generate(path: Path, n: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    talks = n // PACKETS_PER_TALK
    kp = (175 << 24) | (45 << 16) | (176 << 8)
    doc_client = (192 << 24) | (2 << 8)
    doc_server = (198 << 24) | (51 << 16) | (100 << 8)
    watched = rng.random(talks) < 0.2
    frames: list[tuple[float, bytes]] = []
    starts = T0 + np.sort(rng.random(talks)) * 3600
    for i in range(talks):
        client = (
            kp + int(rng.integers(0, 1024))
            if watched[i]
            else doc_client + int(rng.integers(1, 255))
        )
        server = doc_server + int(rng.integers(1, 255))
        frames += talk(client, server, 1024 + i % 60000, i % 4, float(starts[i]))
    frames.sort(key=lambda f: f[0])
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, snaplen=65535)
        for at, frame in frames:
            writer.writepkt(frame, at)


FRAMING = r"""
import dpkt, sys
n = 0
with open(sys.argv[1], "rb") as handle:
    for ts, buf in dpkt.pcap.Reader(handle):
        n += 1
print(n)
"""

NAIVE = r"""
import dpkt, sys
n = 0
with open(sys.argv[1], "rb") as handle:
    for ts, buf in dpkt.pcap.Reader(handle):
        eth = dpkt.ethernet.Ethernet(buf)
        n += isinstance(eth.data, dpkt.ip.IP) and isinstance(eth.data.data, dpkt.tcp.TCP)
print(n)
"""


def run(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv[:4])} failed: {err[-500:]}")
    return seconds, usage.ru_maxrss * 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="packets (default 1,000,000)")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:  # a child writes the capture, so the parent's RSS stays small
        generate(args.generate, args.n)
        return
    with tempfile.TemporaryDirectory(prefix="cw-bench-pcap-") as tmp:
        work = Path(tmp)
        (work / "wl").mkdir()
        (work / "wl" / "kp.txt").write_text(WATCHLIST)
        capture = work / "bench.pcap"
        print(f"generating {args.n:,} packets ...", flush=True)
        subprocess.run(
            [sys.executable, __file__, "-n", str(args.n), "--generate", str(capture)], check=True
        )
        env = dict(os.environ, TZ="UTC", CHAINWATCH_RESOLVE_HOSTS="0")
        size = capture.stat().st_size
        n = args.n // PACKETS_PER_TALK * PACKETS_PER_TALK
        results = []
        for name, argv in (
            ("dpkt reader only (floor)", [sys.executable, "-c", FRAMING, str(capture)]),
            ("dpkt reader + Ethernet decode", [sys.executable, "-c", NAIVE, str(capture)]),
            (
                "chainwatch scan --pcap",
                [
                    sys.executable,
                    "-m",
                    "chainwatch",
                    "--db",
                    f"sqlite:///{work / 'bench.db'}",
                    "--watchlists",
                    str(work / "wl"),
                    "scan",
                    "--pcap",
                    str(capture),
                ],
            ),
        ):
            seconds, rss, out = run(argv, env)
            results.append((name, seconds, rss, out.strip().splitlines()[-1] if out else ""))
        print(
            f"capture: {n:,} packets, {size / 2**20:,.0f} MiB, {n // PACKETS_PER_TALK:,} connections, "
            f"20% watched"
        )
        for name, seconds, rss, _ in results:
            print(
                f"{name:32s} {seconds:7.2f} s {n / seconds:12,.0f} packets/s  peak RSS {rss / 2**20:6.0f} MiB"
            )
        print(f"chainwatch: {results[2][3]}")
        print(
            f"chainwatch / naive dpkt decode: {results[1][1] / results[2][1]:.2f}x the speed; "
            f"/ dpkt framing only: {results[0][1] / results[2][1]:.2f}x"
        )


if __name__ == "__main__":
    main()
