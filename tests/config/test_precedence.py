"""Where each setting comes from: flag > environment > file > default, setting by setting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from chainwatch.config import DEFAULT_DB, load_settings
from chainwatch.errors import ConfigError


def test_db_flag_env_file_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().db == DEFAULT_DB
    Path("chainwatch.toml").write_text('db = "sqlite:///file.db"\n')
    assert load_settings().db == "sqlite:///file.db"
    monkeypatch.setenv("CHAINWATCH_DB", "sqlite:///env.db")
    assert load_settings().db == "sqlite:///env.db"
    assert load_settings(db="sqlite:///flag.db").db == "sqlite:///flag.db"
    monkeypatch.setenv("CHAINWATCH_DB", "")  # empty is not set
    assert load_settings().db == "sqlite:///file.db"


def test_watchlists_flag_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().watchlists == Path("watchlists")
    Path("chainwatch.toml").write_text('watchlists = "from-file"\n')
    assert load_settings().watchlists == Path("from-file")
    conf = tmp_path / "etc" / "cw.toml"
    conf.parent.mkdir()
    conf.write_text('watchlists = "from-file"\n')
    # relative in the file: relative to the file; from the environment or a flag: as given
    assert load_settings(config=conf).watchlists == conf.parent / "from-file"
    monkeypatch.setenv("CHAINWATCH_WATCHLISTS", "from-env")
    assert load_settings(config=conf).watchlists == Path("from-env")
    assert load_settings(config=conf, watchlists="from-flag").watchlists == Path("from-flag")


def test_resolve_hosts_env_file_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().resolve_hosts is True
    Path("chainwatch.toml").write_text("resolve_hosts = false\n")
    assert load_settings().resolve_hosts is False
    for value, expected in (("1", True), ("on", True), ("No", False), ("true", True)):
        monkeypatch.setenv("CHAINWATCH_RESOLVE_HOSTS", value)
        assert load_settings().resolve_hosts is expected
    monkeypatch.setenv("CHAINWATCH_RESOLVE_HOSTS", "maybe")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith("$CHAINWATCH_RESOLVE_HOSTS: resolve_hosts is 'maybe'")


def test_config_flag_env_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("chainwatch.toml").write_text('db = "sqlite:///default.db"\n')
    (tmp_path / "env.toml").write_text('db = "sqlite:///env.db"\n')
    (tmp_path / "flag.toml").write_text('db = "sqlite:///flag.db"\n')
    assert load_settings().db == "sqlite:///default.db"
    monkeypatch.setenv("CHAINWATCH_CONFIG", str(tmp_path / "env.toml"))
    assert load_settings().db == "sqlite:///env.db"
    assert load_settings(config=tmp_path / "flag.toml").db == "sqlite:///flag.db"


def test_limits_env_file_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().limits.latest_ahead == dt.timedelta(days=1)
    Path("chainwatch.toml").write_text('[limits]\nlatest_ahead = "36h"\n')
    assert load_settings().limits.latest_ahead == dt.timedelta(hours=36)
    monkeypatch.setenv("CHAINWATCH_LATEST_AHEAD", "2d")
    assert load_settings().limits.latest_ahead == dt.timedelta(days=2)


def test_environment_errors_name_the_variable_not_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad file value under a good environment value is not used, so not refused; other
    variables (tables have none) are not settings."""
    Path("chainwatch.toml").write_text('resolve_hosts = "perhaps"\n')
    with pytest.raises(ConfigError, match=r"^chainwatch.toml:1: resolve_hosts is 'perhaps'"):
        load_settings()
    monkeypatch.setenv("CHAINWATCH_RESOLVE_HOSTS", "0")
    assert load_settings().resolve_hosts is False
    monkeypatch.setenv("CHAINWATCH_ALERTS", '{"webhok": 1}')
    monkeypatch.setenv("CHAINWATCH_WATCHERS", "[1]")
    assert load_settings().watchers == ()
