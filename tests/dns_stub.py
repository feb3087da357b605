"""A DNS server on 127.0.0.1:53 for tests that run inside their own network namespace.

``python -m tests.dns_stub MODE WORKDIR -- ARGV...`` serves DNS over UDP (``answer``: every A
query for a name in ``ANSWERS`` gets its address, other queries an empty NOERROR reply, as a
real server answers a name without AAAA records; ``silent``: queries are read and never
answered, as a firewalled or dead resolver), runs ARGV (a ``chainwatch`` command) while it
serves, and prints its exit status and duration as JSON. It only makes sense in a namespace
whose ``/etc/resolv.conf`` says ``nameserver 127.0.0.1`` (tests/test_resolve.py sets that up);
nothing leaves loopback.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time

ANSWERS = {"pool.example.org": "203.0.113.77"}


def _question(packet: bytes) -> tuple[str, int, int]:
    """(name, qtype, end offset of the question) of a query."""
    labels, offset = [], 12
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii"))
        offset += 1 + length
    qtype = struct.unpack("!H", packet[offset + 1 : offset + 3])[0]
    return ".".join(labels).lower(), qtype, offset + 5


def reply(query: bytes) -> bytes:
    """The answer to one query (RFC 1035 4.1): the question echoed, then A records."""
    name, qtype, end = _question(query)
    address = ANSWERS.get(name)
    records = b""
    count = 0
    if address is not None and qtype == 1:
        records = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(address)
        count = 1
    rcode = 0 if address is not None else 3  # NXDOMAIN for names it does not know
    header = struct.pack(
        "!HHHHHH", struct.unpack("!H", query[:2])[0], 0x8180 | rcode, 1, count, 0, 0
    )
    return header + query[12:end] + records


def serve(sock: socket.socket, mode: str) -> None:
    while True:
        query, peer = sock.recvfrom(512)
        if mode == "answer":
            sock.sendto(reply(query), peer)


def main(argv: list[str]) -> int:
    mode, command = argv[0], argv[argv.index("--") + 1 :]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))
    threading.Thread(target=serve, args=(sock, mode), daemon=True).start()
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    print(
        json.dumps(
            {
                "exit": done.returncode,
                "seconds": elapsed,
                "stdout": done.stdout,
                "stderr": done.stderr,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
