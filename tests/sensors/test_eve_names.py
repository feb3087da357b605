"""TLS server names and HTTP hosts against catalog host names: exact (any case, a trailing
dot), ``*.suffix`` (strictly below the suffix), only inside the endpoint's dates; and miners'
user agents, whose coin a catalog pool's coin overrides."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from chainwatch.classify import Classifier
from chainwatch.flows.inputs import describe
from chainwatch.sensors.eve import EveReader
from chainwatch.sensors.signatures import SuricataSettings, signature_map
from chainwatch.watchlists import Endpoint
from tests.sensors.conftest import event, lines, tuple_of

ENDPOINTS = [
    Endpoint(name="hashvault", category="xmr-pool", catalog="t", hosts=("*.hashvault.pro",)),
    Endpoint(name="nanopool", category="etc-pool", catalog="t", hosts=("etc-eu1.nanopool.org",)),
    Endpoint(
        name="old-pool",
        category="btc-pool",
        catalog="t",
        hosts=("old.example-pool.com",),
        valid_to=dt.date(2018, 12, 31),
    ),
]


def verdicts(tmp_path: Path, records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    path = tmp_path / "eve.json"
    path.write_text(lines(records))
    reader = EveReader(describe(path), Classifier(ENDPOINTS, {}), signature_map(SuricataSettings()))
    out = []
    for batch in reader.batches():
        assert batch.bad == 0, batch.bad_examples
        for row, line in zip(batch.table.to_pylist(), batch.lines.tolist(), strict=True):
            facts = json.loads(row["facts"])
            out.append(
                (
                    line,
                    row["category"],
                    row["detector"],
                    row["endpoint"],
                    facts.get("matched_host"),
                    facts.get("coin_from"),
                )
            )
    return sorted(out)


def tls(seconds: float, sni: str) -> dict[str, Any]:
    return event(
        "tls",
        seconds,
        int(seconds) + 1,
        **tuple_of("175.45.176.5", 40000, "198.51.100.40", 443, "TCP"),
        tls={"sni": sni, "version": "TLS 1.3"},
    )


def http(seconds: float, host: str, agent: str) -> dict[str, Any]:
    return event(
        "http",
        seconds,
        int(seconds) + 1,
        **tuple_of("175.45.176.5", 40000, "198.51.100.41", 80, "TCP"),
        http={"hostname": host, "http_user_agent": agent, "url": "/"},
    )


def test_names_and_agents(tmp_path: Path) -> None:
    got = verdicts(
        tmp_path,
        [
            tls(1, "eu.hashvault.pro"),  # 1: below the suffix
            tls(2, "hashvault.pro"),  # 2: the suffix itself is not below it
            tls(3, "ETC-EU1.nanopool.org."),  # 3: exact, any case, trailing dot
            tls(4, "nanopool.org"),  # 4: no
            tls(5, "old.example-pool.com"),  # 5: 2019, after the endpoint's last day
            http(6, "etc-eu1.nanopool.org", "lolMiner 1.48"),  # 6: the catalog's coin wins
            http(
                7,
                "198.51.100.41",
                "XMRig/6.21.0 (Windows NT 10.0; Win64; x64) libuv/1.44.2 msvc/2019",
            ),  # 7
            http(
                8,
                "www.example.com",
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            ),  # 8: no
            http(9, "x.hashvault.pro", "curl/8.5.0"),  # 9: host only
            event(
                "tls",
                10,
                11,
                **tuple_of("175.45.176.5", 1, "198.51.100.40", 443, "TCP"),
                tls={"version": "TLS 1.2"},
            ),  # 10: no SNI
        ],
    )
    assert got == [
        (1, "xmr-pool", "endpoint", "hashvault", "*.hashvault.pro", None),
        (3, "etc-pool", "endpoint", "nanopool", "etc-eu1.nanopool.org", None),
        (6, "etc-pool", "payload", "nanopool", "etc-eu1.nanopool.org", "endpoint"),
        (7, "xmr-pool", "payload", None, None, "agent"),
        (9, "xmr-pool", "endpoint", "hashvault", "*.hashvault.pro", None),
    ]
