"""Settings: precedence of flag > environment > file > default, and validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainwatch.config import DEFAULT_DB, load_settings, parse_duration
from chainwatch.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in (
        "CHAINWATCH_DB",
        "CHAINWATCH_CONFIG",
        "CHAINWATCH_WATCHLISTS",
        "CHAINWATCH_RESOLVE_HOSTS",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_without_a_file() -> None:
    settings = load_settings()
    assert settings.db == DEFAULT_DB
    assert settings.watchlists == Path("watchlists")
    assert settings.config_path is None and settings.watchers == ()
    assert settings.port_rules[8333] == "btc-p2p" and 3333 not in settings.port_rules


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "chainwatch.toml").write_text('db = "sqlite:///file.db"\nwatchlists = "lists"\n')
    settings = load_settings()
    assert settings.db == "sqlite:///file.db"
    assert settings.watchlists == Path("lists")
    monkeypatch.setenv("CHAINWATCH_DB", "sqlite:///env.db")
    assert load_settings().db == "sqlite:///env.db"
    assert load_settings(db="sqlite:///flag.db").db == "sqlite:///flag.db"


def test_watchlists_relative_to_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "cw.toml"
    conf.parent.mkdir()
    conf.write_text('watchlists = "lists"\n')
    assert load_settings(config=conf).watchlists == conf.parent / "lists"


def test_explicit_missing_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(config=tmp_path / "missing.toml")


def test_watchers_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        """
[[watchers]]
name = "btc-main"
kind = "bitcoin"
url = "http://127.0.0.1:8332"
user = "chainwatch"
password_env = "BTC_RPC_PASSWORD"
interval = "5m"
timeout = "2.5s"

[[watchers]]
name = "border-flows"
kind = "flows"
path = "/var/cache/nfdump"
format = "nfcapd"
"""
    )
    settings = load_settings(config=conf)
    btc, flows = settings.watchers
    assert (btc.interval, btc.timeout, flows.format) == (300.0, 2.5, "nfcapd")
    monkeypatch.setenv("BTC_RPC_PASSWORD", "s3cr3t-value")
    secret = btc.password()
    assert secret is not None and secret.get() == "s3cr3t-value"
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(btc)
    monkeypatch.setenv("BTC_RPC_PASSWORD", "changeme")
    with pytest.raises(ConfigError, match="placeholder"):
        btc.password()
    assert settings.watcher("border-flows") is flows
    with pytest.raises(ConfigError, match="no watcher named 'nope'"):
        settings.watcher("nope")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[watchers]]\nname = "a"\nkind = "dogecoin"\n', "kind is 'dogecoin'"),
        ('[[watchers]]\nname = "a"\nkind = "bitcoin"\n', "url is missing"),
        (
            '[[watchers]]\nname = "a"\nkind = "bitcoin"\nurl = "http://u:p@127.0.0.1:8332"\n',
            "url carries credentials",
        ),
        (
            '[[watchers]]\nname = "a"\nkind = "bitcoin"\nurl = "http://127.0.0.1"\npassword = "x"\n',
            "password_env",
        ),
        (
            '[[watchers]]\nname = "a"\nkind = "flows"\npath = "x"\ninterval = "soon"\n',
            "interval is 'soon'",
        ),
        (
            '[[watchers]]\nname = "a"\nkind = "flows"\npath = "x"\n[[watchers]]\nname = "a"\nkind = "pcap"\npath = "y"\n',
            "duplicate watcher name",
        ),
        (
            '[[watchers]]\nname = "a"\nkind = "flows"\npath = "x"\nformat = "netflow9"\n',
            "format is 'netflow9'",
        ),
        ('dbb = "sqlite://"\n', "unknown key 'dbb'"),
        ("[port_rules]\n8333 = 'dogecoin'\n", "port_rules.8333"),
        ("db = [\n", "not valid TOML"),
    ],
)
def test_bad_config_messages(tmp_path: Path, text: str, fragment: str) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config=conf)
    assert str(caught.value).startswith(str(conf)) and fragment in str(caught.value)


def test_port_rules_override_and_disable(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[port_rules]\n8333 = "none"\n4444 = "xmr-p2p"\n')
    rules = load_settings(config=conf).port_rules
    assert 8333 not in rules and rules[4444] == "xmr-p2p" and rules[18080] == "xmr-p2p"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600), ("2", 2), (1.5, 1.5)],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text, where="x", path="c.toml") == seconds


def test_resolve_hosts_env_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().resolve_hosts is True
    monkeypatch.setenv("CHAINWATCH_RESOLVE_HOSTS", "0")
    assert load_settings().resolve_hosts is False
    monkeypatch.setenv("CHAINWATCH_RESOLVE_HOSTS", "maybe")
    with pytest.raises(ConfigError, match="CHAINWATCH_RESOLVE_HOSTS"):
        load_settings()
