"""The command line through its real entry point: help, global options, exit statuses,
one-line errors, --traceback, and no secrets in output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chainwatch import __version__
from chainwatch.store.db import head_revision

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ("scan", "run", "report", "export", "status", "watchlist", "db", "demo")


def test_help_lists_the_design_commands(cli: Any) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"  {command} " in result.stdout or f"  {command}\n" in result.stdout, command
    for option in (
        "--db",
        "--config",
        "--watchlists",
        "--traceback",
        "CHAINWATCH_DB",
        "CHAINWATCH_CONFIG",
        "CHAINWATCH_WATCHLISTS",
    ):
        assert option in result.stdout


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"chainwatch {__version__}")


def test_python_dash_m_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chainwatch", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == f"chainwatch {__version__}"


def test_db_upgrade_and_current(cli: Any, db_url: str) -> None:
    first = cli("--db", db_url, "db", "current")
    assert first.exit_code == 0 and ": empty (head is" in first.stdout
    upgraded = cli("--db", db_url, "db", "upgrade")
    assert (
        upgraded.exit_code == 0 and f"upgraded from empty to {head_revision()}" in upgraded.stdout
    )
    again = cli("--db", db_url, "db", "upgrade")
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    current = cli("--db", db_url, "db", "current")
    assert current.exit_code == 0 and current.stdout.strip().endswith(f"{head_revision()} (head)")


def test_db_from_environment_twin(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("CHAINWATCH_DB", url)
    assert cli("db", "upgrade").exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_unreachable_database_is_one_line_without_password(cli: Any) -> None:
    result = cli(
        "--db",
        "postgresql+psycopg://chainwatch:hunter2secret@127.0.0.1:9/chainwatch",
        "db",
        "current",
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "chainwatch: error: cannot open database postgresql+psycopg://chainwatch:***@127.0.0.1:9/chainwatch"
    )
    assert result.stderr.count("\n") == 1
    assert "hunter2secret" not in result.stdout + result.stderr


def test_bad_database_url(cli: Any) -> None:
    result = cli("--db", "mysql://root@localhost/x", "db", "current")
    assert result.exit_code == 1 and "backend 'mysql' is not supported" in result.stderr


def test_watchlist_commands(cli: Any) -> None:
    listed = cli("--watchlists", REPO / "watchlists", "watchlist", "list")
    assert listed.exit_code == 0 and "kp" in listed.stdout and "pools" in listed.stdout
    shown = cli("--watchlists", REPO / "watchlists", "watchlist", "show", "kp")
    assert shown.exit_code == 0 and "175.45.176.0/22" in shown.stdout and "1,024" in shown.stdout
    checked = cli("--watchlists", REPO / "watchlists", "watchlist", "check")
    assert (
        checked.exit_code == 0
        and "1 watchlists with 3 ranges" in checked.stdout
        and "OK" in checked.stdout
    )
    missing = cli("--watchlists", REPO / "watchlists", "watchlist", "show", "nope")
    assert (
        missing.exit_code == 1
        and "no watchlist named 'nope'; expected one of: kp" in missing.stderr
    )


def test_bad_watchlist_is_one_line_and_traceback_on_request(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_text("192.0.2.0/24\n192.0.2.256/32\n")
    result = cli("--watchlists", tmp_path, "watchlist", "check")
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f'chainwatch: error: {tmp_path / "bad.txt"}:2: bad CIDR \'192.0.2.256/32\': not an IPv4 or IPv6 network; expected a network like "192.0.2.0/24" or "2001:db8::/32"'
    )
    assert "Traceback" not in result.stderr
    traced = cli("--traceback", "--watchlists", tmp_path, "watchlist", "check")
    assert (
        traced.exit_code == 1 and "Traceback" in traced.stderr and "WatchlistError" in traced.stderr
    )


def test_usage_errors_exit_2(cli: Any, tmp_path: Path) -> None:
    assert cli("no-such-command").exit_code == 2
    assert cli("scan", "--format", "netflow9", "--flows", "x").exit_code == 2
    nothing = cli(
        "--db", f"sqlite:///{tmp_path / 'x.db'}", "--watchlists", REPO / "watchlists", "scan"
    )
    assert nothing.exit_code == 2 and "nothing to scan" in nothing.stderr


def test_bad_config_file_names_the_file(cli: Any, tmp_path: Path) -> None:
    conf = tmp_path / "chainwatch.toml"
    conf.write_text('[[watchers]]\nname = "x"\nkind = "bitcoin"\nurl = "http://u:pw@127.0.0.1"\n')
    result = cli("--config", conf, "scan")
    assert (
        result.exit_code == 1
        and str(conf) in result.stderr
        and "url carries credentials" in result.stderr
    )
    assert "pw@" not in result.stderr
