"""Zeek logs as Zeek's ASCII and JSON writers write them, for the sensor tests: one scene of
a watched range's hosts resolving a pool's name, opening TLS and HTTP to it, and the logs of
it (conn, dns, ssl, http), with the awkward parts of the format on purpose (unset ``-`` and
``(empty)`` fields, set separators, ``#close``, escapes, a bad line)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

#: 2019-05-17T00:00:00Z
T0 = 1558051200.0
DAY = 86400.0
POOL_HOST = "xmr.pool.example"
ALIAS = "mine.alias.example"
POOL_ADDRESS = "198.51.100.50"

CONN_FIELDS = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("orig_pkts", "count"),
    ("resp_pkts", "count"),
]
DNS_FIELDS = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("trans_id", "count"),
    ("query", "string"),
    ("qtype_name", "string"),
    ("rcode_name", "string"),
    ("answers", "vector[string]"),
    ("TTLs", "vector[interval]"),
    ("rejected", "bool"),
]
SSL_FIELDS = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("version", "string"),
    ("cipher", "string"),
    ("server_name", "string"),
    ("established", "bool"),
]
HTTP_FIELDS = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("trans_depth", "count"),
    ("method", "string"),
    ("host", "string"),
    ("uri", "string"),
    ("user_agent", "string"),
    ("tags", "set[enum]"),
]
XMRIG = "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/11.3.0"


def conn_rows() -> list[list[Any]]:
    """C1: TLS to the pool's name (joined to ssl.log); C2: HTTP from XMRig (joined to
    http.log); C3: to the pool's answered address an hour after the answer; C4: to it 30 days
    later (the answer is stale: no event); C5: ordinary HTTPS (no event)."""
    return [
        [
            T0 + 10.25,
            "C1sslpool",
            "175.45.176.5",
            40001,
            "203.0.113.20",
            443,
            "tcp",
            "ssl",
            120.5,
            1000,
            2000,
            "SF",
            10,
            12,
        ],
        [
            T0 + 20.0,
            "C2httpxmrig",
            "175.45.176.6",
            40002,
            "203.0.113.21",
            8080,
            "tcp",
            "http",
            3.0,
            300,
            400,
            "SF",
            5,
            6,
        ],
        [
            T0 + 3600.0,
            "C3answered",
            "175.45.176.7",
            40003,
            POOL_ADDRESS,
            3333,
            "tcp",
            None,
            600.0,
            5000,
            7000,
            "SF",
            50,
            60,
        ],
        [
            T0 + 30 * DAY,
            "C4stale",
            "175.45.176.7",
            40004,
            POOL_ADDRESS,
            3333,
            "tcp",
            None,
            600.0,
            5000,
            7000,
            "SF",
            50,
            60,
        ],
        [
            T0 + 40.0,
            "C5plain",
            "175.45.176.8",
            40005,
            "192.0.2.80",
            443,
            "tcp",
            "ssl",
            1.0,
            10,
            20,
            "SF",
            1,
            1,
        ],
    ]


def dns_rows() -> list[list[Any]]:
    """The alias resolves through a CNAME to the pool's name and address; an NXDOMAIN; an
    AAAA look-up with no answer; a TXT answer (spaces: not a name)."""
    return [
        [
            T0 + 1.0,
            "Dq1",
            "175.45.176.7",
            53001,
            "192.0.2.53",
            53,
            "udp",
            4242,
            ALIAS,
            "A",
            "NOERROR",
            [POOL_HOST, POOL_ADDRESS],
            [300.0, 60.0],
            False,
        ],
        [
            T0 + 2.0,
            "Dq2",
            "175.45.176.7",
            53002,
            "192.0.2.53",
            53,
            "udp",
            4243,
            "nothing.example",
            "A",
            "NXDOMAIN",
            None,
            None,
            False,
        ],
        [
            T0 + 3.0,
            "Dq3",
            "175.45.176.7",
            53003,
            "192.0.2.53",
            53,
            "udp",
            4244,
            POOL_HOST,
            "AAAA",
            "NOERROR",
            [],
            [],
            False,
        ],
        [
            T0 + 4.0,
            "Dq4",
            "175.45.176.7",
            53004,
            "192.0.2.53",
            53,
            "udp",
            4245,
            "txt.example",
            "TXT",
            "NOERROR",
            ["TXT 11 hello world"],
            [60.0],
            False,
        ],
    ]


def ssl_rows() -> list[list[Any]]:
    """C1's handshake names the pool (joined); C9's too, in upper case with a trailing dot,
    and no conn.log record has C9 (an event of its own); C5 names an ordinary site; one
    record has no server name at all, one an empty one."""
    return [
        [
            T0 + 10.5,
            "C1sslpool",
            "175.45.176.5",
            40001,
            "203.0.113.20",
            443,
            "TLSv13",
            "TLS_AES_128_GCM_SHA256",
            POOL_HOST,
            True,
        ],
        [
            T0 + 50.0,
            "C9sslalone",
            "175.45.176.9",
            40009,
            "203.0.113.29",
            443,
            "TLSv12",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "XMR.Pool.Example.",
            True,
        ],
        [
            T0 + 40.5,
            "C5plain",
            "175.45.176.8",
            40005,
            "192.0.2.80",
            443,
            "TLSv13",
            "TLS_AES_256_GCM_SHA384",
            "www.example.org",
            True,
        ],
        [
            T0 + 60.0,
            "C6nosni",
            "175.45.176.8",
            40006,
            "192.0.2.81",
            443,
            "TLSv12",
            None,
            None,
            False,
        ],
        [
            T0 + 61.0,
            "C7emptysni",
            "175.45.176.8",
            40007,
            "192.0.2.82",
            443,
            "TLSv12",
            None,
            "",
            False,
        ],
    ]


def http_rows() -> list[list[Any]]:
    """C2: XMRig's user agent to an address no catalog names (the agent tells Monero); an
    ordinary browser request; a request without a user agent."""
    return [
        [
            T0 + 20.5,
            "C2httpxmrig",
            "175.45.176.6",
            40002,
            "203.0.113.21",
            8080,
            1,
            "POST",
            "203.0.113.21:8080",
            "/json_rpc",
            XMRIG,
            ["HTTP_HEADER"],
        ],
        [
            T0 + 70.0,
            "C8browser",
            "175.45.176.8",
            40008,
            "192.0.2.90",
            80,
            1,
            "GET",
            "www.example.org",
            "/index.html",
            "Mozilla/5.0 (X11; Linux x86_64)",
            [],
        ],
        [
            T0 + 71.0,
            "C8browser",
            "175.45.176.8",
            40008,
            "192.0.2.90",
            80,
            2,
            "GET",
            "www.example.org",
            "/favicon.ico",
            None,
            None,
        ],
    ]


def _tsv_value(value: Any, vector: bool) -> str:
    if value is None:
        return "-"
    if vector:
        return "(empty)" if not value else ",".join(_tsv_value(v, False) for v in value)
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return f"{value:.6f}"
    if value == "":
        return "(empty)"
    return str(value).replace("\t", "\\x09").replace(",", "\\x2c")


def tsv(path: str, fields: list[tuple[str, str]], rows: list[list[Any]], bad: str = "") -> str:
    """A log as Zeek's ASCII writer writes it (``bad``: a broken line put after the second
    record)."""
    vectors = [t.startswith(("vector[", "set[")) for _, t in fields]
    lines = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{path}",
        "#open\t2019-05-17-00-00-00",
        "#fields\t" + "\t".join(n for n, _ in fields),
        "#types\t" + "\t".join(t for _, t in fields),
    ]
    for i, row in enumerate(rows):
        lines.append("\t".join(_tsv_value(v, vec) for v, vec in zip(row, vectors, strict=True)))
        if bad and i == 1:
            lines.append(bad)
    lines.append("#close\t2019-05-17-01-00-00")
    return "\n".join(lines) + "\n"


def jsonl(
    fields: list[tuple[str, str]], rows: list[list[Any]], bad: str = "", iso: bool = False
) -> str:
    """A log as Zeek's JSON writer writes it: unset fields left out; ``ts`` as epoch seconds,
    or ISO-8601 (``JSON::TS_ISO8601``) on every other record when ``iso``."""
    out = []
    for i, row in enumerate(rows):
        item = {n: v for (n, _), v in zip(fields, row, strict=True) if v is not None}
        if iso and i % 2 == 1:
            stamp = dt.datetime.fromtimestamp(item["ts"], dt.UTC)
            item["ts"] = stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")
        out.append(json.dumps(item))
        if bad and i == 1:
            out.append(bad)
    return "\n".join(out) + "\n"


def write_scene(directory: Path, form: str) -> dict[str, Path]:
    """The four logs of the scene in ``directory``, TSV (``tsv``) or JSON lines (``json``),
    each with one broken line."""
    directory.mkdir(parents=True, exist_ok=True)
    logs = {
        "conn": (CONN_FIELDS, conn_rows()),
        "dns": (DNS_FIELDS, dns_rows()),
        "ssl": (SSL_FIELDS, ssl_rows()),
        "http": (HTTP_FIELDS, http_rows()),
    }
    paths = {}
    for name, (fields, rows) in logs.items():
        path = directory / f"{name}.log"
        if form == "tsv":
            path.write_text(tsv(name, fields, rows, bad="too\tfew\tfields"))
        else:
            path.write_text(jsonl(fields, rows, bad='{"ts": 1558051200.0, "uid": ', iso=True))
        paths[name] = path
    return paths


def watchlists(directory: Path) -> Path:
    """The kp watchlist and a catalog naming the pool by its host name only."""
    (directory / "endpoints").mkdir(parents=True)
    (directory / "kp.toml").write_text(
        'description = "test"\n[[ranges]]\ncidr = "175.45.176.0/22"\n'
    )
    (directory / "endpoints" / "pools.toml").write_text(
        f'[[endpoints]]\nname = "xmrpool"\ncategory = "xmr-pool"\nhosts = ["{POOL_HOST}"]\n'
    )
    return directory
