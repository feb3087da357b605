"""Which Suricata alerts count: the shipped mapping against real ET Open signature texts and
SIDs, and a site's ``[suricata]`` rules (added, switching a shipped rule off, replacing the
mapping), with configuration errors naming file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chainwatch.sensors.signatures import SuricataSettings, shipped, signature_map
from chainwatch.store.models import Event
from tests.flows.conftest import rows
from tests.sensors.conftest import alert, lines, tuple_of

#: (sid, signature text as ET Open writes it) -> (category, detector, rule); None: not counted.
CASES: list[tuple[int | None, str, tuple[str, str, str] | None]] = [
    (
        2017871,
        "ET COINMINER W32/BitCoinMiner.MultiThreat Subscribe/Authorize Stratum Protocol Message",
        ("pool", "payload", "stratum"),
    ),
    (
        2017872,
        "ET COINMINER W32/BitCoinMiner.MultiThreat Stratum Protocol Mining.Notify Initial Connection Server Response",
        ("pool", "payload", "stratum"),
    ),
    (
        2017873,
        "ET COINMINER W32/BitCoinMiner.MultiThreat Stratum Protocol Mining.Notify Work Server Response",
        ("pool", "payload", "stratum"),
    ),
    (2022886, "ET COINMINER Crypto Coin Miner Login", ("pool", "payload", "miner-login")),
    (2022886, "ET POLICY Crypto Coin Miner Login", ("pool", "payload", "miner-login")),
    (2024792, "ET POLICY Cryptocurrency Miner Checkin", ("pool", "payload", "miner-checkin")),
    (
        2017878,
        "ET COINMINER W32/BitCoinMiner.MultiThreat Getblocktemplate Protocol Server Connection",
        ("pool", "payload", "getblocktemplate"),
    ),
    (
        2017879,
        "ET COINMINER W32/BitCoinMiner.MultiThreat Getblocktemplate Protocol Server Coinbasetxn Begin Mining Response",
        ("pool", "payload", "getblocktemplate"),
    ),
    (
        2016758,
        "ET POLICY Bitcoin Mining Extensions Header",
        ("btc-pool", "payload", "mining-extensions"),
    ),
    (
        2016067,
        "ET COINMINER Possible BitCoin Miner User-Agent (miner)",
        ("pool", "payload", "miner-user-agent"),
    ),
    (
        2036289,
        "ET COINMINER CoinMiner Domain in DNS Lookup (pool .hashvault .pro)",
        ("pool", "payload", "pool-dns"),
    ),
    (
        2040353,
        "ET COINMINER Observed DNS Query to Cryptocurrency Mining Pool Domain (xmr .2miners .com)",
        ("xmr-pool", "payload", "pool-dns"),
    ),
    (
        2048922,
        "ET COINMINER Observed DNS Query to Monero Miner Related Domain (monerohash .com)",
        ("xmr-pool", "payload", "pool-dns"),
    ),
    (
        2033901,
        "ET COINMINER Observed DNS Query to herominers Domain (herominers .com)",
        ("pool", "payload", "pool-dns"),
    ),
    (
        2025535,
        "ET COINMINER Observed Coin-Hive In Browser Mining Domain (coin-hive .com in TLS SNI)",
        ("pool", "payload", "pool-tls-sni"),
    ),
    (
        2028623,
        "ET COINMINER Observed Suspicious SSL Cert (Minerpool - CoinMining)",
        ("pool", "payload", "pool-tls-cert"),
    ),
    (2024721, "ET COINMINER CoinHive In-Browser Miner Detected", ("pool", "payload", "coinminer")),
    (None, "ET POLICY Bitcoin Node Peer Connection (version)", ("btc-p2p", "payload", "coin-p2p")),
    (2018789, "ET POLICY TLS possible TOR SSL traffic", ("tor", "payload", "tor-tls")),
    (9999999, "ET INFO TLS possible TOR SSL traffic", ("tor", "payload", "tor-tls")),
    (
        2522000,
        "ET TOR Known Tor Relay/Router (Not Exit) Node Traffic group 1",
        ("tor", "endpoint", "tor-relays"),
    ),
    (2520000, "ET TOR Known Tor Exit Node Traffic group 1", ("tor", "endpoint", "tor-relays")),
    (2523038, "renamed by a local rule writer", ("tor", "endpoint", "tor-relays")),  # by SID alone
    # not counted
    (2100366, "GPL ICMP_INFO PING *NIX", None),
    (2014799, "ET POLICY OpenVPN Update Check", None),
    (2013028, "ET POLICY curl User-Agent Outbound", None),
    (None, "ET POLICY Something About Nodes (no coin)", None),
]


@pytest.mark.parametrize(("sid", "signature", "expected"), CASES)
def test_shipped_mapping(
    sid: int | None, signature: str, expected: tuple[str, str, str] | None
) -> None:
    verdict = signature_map(SuricataSettings()).judge(sid, signature)
    got = None if verdict is None else (verdict.category, verdict.detector, verdict.rule)
    assert got == expected


def test_every_shipped_rule_has_an_example() -> None:
    rules, coins = shipped()
    assert {r.name for r in rules} == {e[2] for _, _, e in CASES if e is not None}
    assert [c for c, _ in coins] == ["xmr", "btc", "etc", "eth", "ltc", "zec", "doge", "rvn"]
    assert all(rule.where.startswith("chainwatch/sensors/suricata_rules.toml:") for rule in rules)


def eve_file(tmp_path: Path) -> Path:
    path = tmp_path / "eve.json"
    five = tuple_of("175.45.176.5", 40000, "198.51.100.20", 3333, "TCP")
    other = tuple_of("175.45.176.6", 40001, "198.51.100.21", 443, "TCP")
    path.write_text(
        lines(
            [
                alert(
                    10,
                    1,
                    five,
                    2022886,
                    4,
                    "ET COINMINER Crypto Coin Miner Login",
                    "Crypto Currency Mining Activity Detected",
                ),
                alert(20, 2, other, 9000001, 1, "LOCAL Monero miner seen", "Site rules"),
            ]
        )
    )
    return path


def scan(cli: Any, db_url: str, config: Path, path: Path) -> Any:
    return cli(
        "--db",
        db_url,
        "--config",
        config,
        "--watchlists",
        config.parent / "watchlists",
        "scan",
        "--flows",
        path,
    )


def test_site_rules_come_first(cli: Any, db_url: str, wl: Path, tmp_path: Path) -> None:
    config = tmp_path / "chainwatch.toml"
    config.write_text(
        """
[suricata]
[[suricata.rules]]
name = "local-miner"
match = "^LOCAL .*miner"
category = "pool"

[[suricata.rules]]
name = "quiet-login"   # this site does not count ET's login rule
sids = [2022886]
category = "none"
"""
    )
    result = scan(cli, db_url, config, eve_file(tmp_path))
    assert result.exit_code == 0, result.stderr
    (only,) = rows(db_url, Event)
    assert (only.category, only.detail["rule"], only.detail["coin_from"]) == (
        "xmr-pool",
        "local-miner",
        "signature",
    )
    assert "1 alert of other signatures ignored" in result.stderr


def test_mapping_file_replaces_the_shipped_one(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "site.toml").write_text(
        '[coins]\nxmr = "\\\\bXMR\\\\b"\n\n[[rules]]\nname = "local"\nsids = ["9000000-9000999"]\ncategory = "pool"\ncoin = "zec"\n'
    )
    config = tmp_path / "chainwatch.toml"
    config.write_text('[suricata]\nmapping = "rules/site.toml"\nreplace = true\n')
    result = scan(cli, db_url, config, eve_file(tmp_path))
    assert result.exit_code == 0, result.stderr
    (only,) = rows(db_url, Event)  # ET's login rule is not in the site's mapping
    assert (only.category, only.detail["rule"], only.detail["coin_from"]) == (
        "zec-pool",
        "local",
        "rule",
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[suricata]\nmapping = "nowhere.toml"\n', "suricata.mapping"),
        ("[suricata]\nrule = []\n", "unknown key suricata.rule"),
        ('[suricata]\nreplace = "yes"\n', "suricata.replace is 'yes'"),
        ("[suricata]\nreplace = true\n", "no rules are given"),
        (
            '\n\n[suricata]\n[[suricata.rules]]\nname = "a"\nsids = [1]\ncategory = "pool"\n\n[[suricata.rules]]\nname = "b"\nmatch = "(unclosed"\ncategory = "pool"\n',
            ":9 (rule 'b'): match is not a valid regular expression",
        ),
        (
            '[[suricata.rules]]\nname = "c"\nsids = ["9-1"]\ncategory = "pool"\n',
            ":1 (rule 'c'): sids holds '9-1'",
        ),
        (
            '[[suricata.rules]]\nname = "d"\nmatch = "x"\ncategory = "coins"\n',
            ":1 (rule 'd'): category is 'coins'",
        ),
        (
            '[[suricata.rules]]\nname = "e"\nmatch = "x"\ncategory = "pool"\ncoin = "bitcoin"\n',
            ":1 (rule 'e'): coin is 'bitcoin'",
        ),
        (
            '[[suricata.rules]]\nname = "f"\ncategory = "pool"\n',
            ":1 (rule 'f'): has neither match nor sids",
        ),
        (
            '[[suricata.rules]]\nname = "g"\nmatch = "x"\ncategory = "tor"\ndetector = "port"\n',
            ":1 (rule 'g'): detector is 'port'",
        ),
        (
            '[[suricata.rules]]\nname = "h"\nmatch = "x"\ncategory = "tor"\nsid = 5\n',
            ":1 (rule 'h'): unknown key 'sid'",
        ),
    ],
)
def test_configuration_errors(cli: Any, tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "chainwatch.toml"
    config.write_text(table)
    result = cli("--config", config, "watchlist", "list")
    assert result.exit_code == 1, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"chainwatch: error: {config}") and message in line, line


def test_mapping_file_errors_name_its_line(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text(
        '# site rules\n\n[[rules]]\nname = "x"\nmatch = "a"\ncategory = "pool"\n\n[[ rules ]]\nname = "y"\nsids = [0]\ncategory = "pool"\n'
    )
    config = tmp_path / "chainwatch.toml"
    config.write_text('[suricata]\nmapping = "site.toml"\n')
    result = cli("--config", config, "watchlist", "list")
    assert result.exit_code == 1
    assert f"{tmp_path / 'site.toml'}:8 (rule 'y'): sids holds 0" in result.stderr
