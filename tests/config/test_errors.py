"""Every table refuses keys it does not know, naming the file and the key's line; values
are checked when the file is loaded, each problem on a line of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainwatch.config import load_settings
from chainwatch.errors import ConfigError
from chainwatch.settings.errors import key_line

_WATCHER = '[[watchers]]\nname = "a"\nkind = "flows"\npath = "x"\n'


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            '# site\ndb = "sqlite:///x.db"\ndbb = 1\n',
            3,
            "unknown key 'dbb'; expected one of: alerts,",
        ),
        (
            '[alerts]\nwebhook = "http://127.0.0.1:9/h"\n\nwebhok = "x"\n',
            4,
            "[alerts] unknown key 'webhok'; expected one of: command, retries, timeout, webhook",
        ),
        ("[report]\nalpha = 0.05\nalpah = 0.01\n", 3, "[report] unknown key 'alpah'"),
        (
            _WATCHER + "\n" + _WATCHER.replace('"a"', '"b"') + 'intervall = "5m"\n',
            10,
            "(watchers #2 'b'): unknown key 'intervall'; expected one of: checksums,",
        ),
        ("[port_rules]\n8333 = 'btc-p2p'\nbtc = 'btc-p2p'\n", 3, "port_rules key 'btc'"),
        ("[limits]\n\nmax_line = 5\n", 3, "unknown key limits.max_line"),
        ('[catalogs]\nhorizon = "7d"\n', 2, "unknown key catalogs.horizon"),
        ("[suricata]\nreplace = false\nrule = []\n", 3, "unknown key suricata.rule"),
        # dotted keys and inline tables are found too
        ('alerts.webhok = "x"\n', 1, "[alerts] unknown key 'webhok'"),
        ('db = "sqlite://"\nreport = { alpah = 1 }\n', 2, "[report] unknown key 'alpah'"),
    ],
)
def test_unknown_keys_name_file_and_line(text: str, line: int, message: str) -> None:
    Path("chainwatch.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"chainwatch.toml:{line}"), caught.value
    assert message in str(caught.value)
    assert caught.value.line == line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _WATCHER + 'interval = "soon"\n',
            "chainwatch.toml:5 (watchers #1 'a'): interval is 'soon'; expected a duration such as \"500ms\"",
        ),
        (
            _WATCHER + "timeout = 0\n",
            "chainwatch.toml:5 (watchers #1 'a'): timeout is 0; expected a duration above zero",
        ),
        (
            '\n[alerts]\n# how long a POST may take\ntimeout = "10 minutes"\n',
            "chainwatch.toml:4: [alerts] timeout is '10 minutes'; expected a duration",
        ),
        ('[catalogs]\ndns_horizon = "a week"\n', "chainwatch.toml:2: dns_horizon is 'a week'"),
    ],
)
def test_bad_durations_name_file_and_line(text: str, message: str) -> None:
    Path("chainwatch.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(message), caught.value


def test_several_problems_one_line_each_in_file_order() -> None:
    Path("chainwatch.toml").write_text(
        '[alerts]\nretries = 11\ntimeout = "soon"\n\n' + _WATCHER + "retries = 99\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert lines == [
        "chainwatch.toml:2: [alerts] retries is 11; expected an integer from 0 to 10",
        'chainwatch.toml:3: [alerts] timeout is \'soon\'; expected a duration such as "500ms", "30s", "5m", "1h"',
        "chainwatch.toml:9 (watchers #1 'a'): retries is 99; expected a whole number 0-20",
    ]
    assert caught.value.line == 2  # the first problem's fields


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('webhook = "ftp://x"', "webhook is 'ftp://x'"),
        ("command = []", "command is []"),
        ('command = ""', "command is ''"),
        ("retries = true", "retries is True"),
        ('webhook = ["http://x"]', "webhook is ['http://x']"),
    ],
)
def test_alerts_values_checked_at_load(table: str, message: str) -> None:
    Path("chainwatch.toml").write_text(f"[alerts]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"chainwatch.toml:2: [alerts] {message}"), caught.value


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("alpha = -1", "chainwatch.toml:2: [report] alpha = -1; expected a non-negative float"),
        (
            "min_events = true",
            "chainwatch.toml:2: [report] min_events = True; expected a non-negative int",
        ),
        ('pairs = "btc:xmr"', "chainwatch.toml:2: [report] pairs; expected a list like"),
        (
            'pairs = ["btc:xmr", "btc:dogecoin"]',
            "chainwatch.toml:2: [report] pair 'btc:dogecoin'; expected FROM:TO",
        ),
    ],
)
def test_report_values_checked_at_load(table: str, message: str) -> None:
    Path("chainwatch.toml").write_text(f"[report]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(message), caught.value


def test_report_and_alerts_values_reach_settings() -> None:
    Path("chainwatch.toml").write_text(
        '[report]\nalpha = 0.05\npairs = ["tor:vpn"]\n\n[alerts]\ncommand = "notify --now"\ntimeout = "2s"\n'
    )
    settings = load_settings()
    assert dict(settings.report) == {"alpha": 0.05, "pairs": ["tor:vpn"]}
    assert settings.alerts["command"] == ("notify", "--now")
    assert (settings.alerts["timeout"], settings.alerts["retries"], settings.alerts["webhook"]) == (
        2.0,
        3,
        None,
    )


def test_missing_key_is_reported_at_its_entry() -> None:
    Path("chainwatch.toml").write_text(
        'db = "sqlite://"\n\n[[watchers]]\nname = "n"\nkind = "monero"\n'
    )
    with pytest.raises(
        ConfigError, match=r"^chainwatch.toml:3 \(watchers #1 'n'\): url is missing"
    ):
        load_settings()


def test_key_line_reads_toml_structure() -> None:
    text = (
        'note = """\n[alerts]\nwebhok = 1\n"""\n'  # a multi-line string is no table
        "[[watchers]]\nname = 'a'\n"
        "[[ watchers ]]\n  name = 'b'\n  \"kind\" = 'x'\n"
        "[alerts]\nwebhok = 2\n"
    )
    assert key_line(text, ("alerts", "webhok")) == 11
    assert key_line(text, ("watchers", 1, "kind")) == 9
    assert key_line(text, ("watchers", 1, "url")) == 7  # missing: the entry's header
    assert key_line(text, ("watchers", 0)) == 5
    assert key_line(text, ("report", "alpha")) is None


def test_kinds_and_formats_come_from_the_registries() -> None:
    from chainwatch.config import FLOW_FORMATS, WATCHER_KINDS
    from chainwatch.sources import choices
    from chainwatch.watchers import REGISTRY

    assert tuple(REGISTRY) == WATCHER_KINDS and choices("flows") == FLOW_FORMATS


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            'kind = "flows"\npath = "x"\nformat = "netflow9"\n',
            "chainwatch.toml:6 (watchers #1 'w'): format is 'netflow9'; expected one of: auto, nfdump,",
        ),
        # a format is checked against what the watcher's kind reads
        (
            'kind = "pcap"\npath = "x"\nformat = "csv"\n',
            "chainwatch.toml:6 (watchers #1 'w'): format is 'csv'; expected one of: auto, pcap",
        ),
        (
            'kind = "monero"\nurl = "http://127.0.0.1:18081"\nformat = "csv"\n',
            "format is 'csv'; expected one of: auto",
        ),
    ],
)
def test_format_is_one_its_kind_reads(entry: str, message: str) -> None:
    Path("chainwatch.toml").write_text(f'# w\n[[watchers]]\nname = "w"\n{entry}')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert message in str(caught.value), caught.value


def test_pcap_and_flows_formats_accepted() -> None:
    Path("chainwatch.toml").write_text(
        '[[watchers]]\nname = "p"\nkind = "pcap"\npath = "x"\nformat = "pcap"\n'
        '[[watchers]]\nname = "f"\nkind = "flows"\npath = "x"\nformat = "eve"\n'
    )
    assert [w.format for w in load_settings().watchers] == ["pcap", "eve"]
