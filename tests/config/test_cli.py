"""Through the real command line: a bad configuration stops ``run`` and ``scan`` before they
start work, in one line naming the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FLOWS = "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets\n2019-03-01T00:00:00Z,175.45.176.1,198.51.100.1,40000,8333,tcp,100,1\n"


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "kp.csv").write_text(FLOWS)
    (tmp_path / "wl").mkdir()
    (tmp_path / "wl" / "kp.txt").write_text("175.45.176.0/22\n")
    return {"flows": tmp_path / "flows", "wl": tmp_path / "wl", "db": tmp_path / "cw.db"}


def config(tmp_path: Path, site: dict[str, Path], alerts: str) -> Path:
    cfg = tmp_path / "cw.toml"
    cfg.write_text(
        f'[[watchers]]\nname = "f"\nkind = "flows"\npath = "{site["flows"]}"\n\n'
        f"[alerts]\n{alerts}\n"
    )
    return cfg


@pytest.mark.parametrize(
    "command",
    [("run", "--once"), ("scan", "--watcher", "f"), ("scan", "--flows", "FLOWS")],
)
def test_alerts_typo_stops_run_and_scan_at_start(
    cli: Any, tmp_path: Path, site: dict[str, Path], command: tuple[str, ...]
) -> None:
    cfg = config(tmp_path, site, 'webhok = "http://127.0.0.1:9/hook"')
    args = [str(site["flows"] / "kp.csv") if a == "FLOWS" else a for a in command]
    result = cli(
        "--db", f"sqlite:///{site['db']}", "--config", cfg, "--watchlists", site["wl"], *args
    )
    assert result.exit_code == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        f"chainwatch: error: {cfg}:7: [alerts] unknown key 'webhok'; expected one of: command, retries, timeout, webhook"
    ), line
    assert not site["db"].exists()  # nothing was scanned, not even the store created


def test_good_alerts_table_runs(cli: Any, tmp_path: Path, site: dict[str, Path]) -> None:
    cfg = config(tmp_path, site, 'command = ["true"]\ntimeout = "5s"')
    result = cli(
        "--db",
        f"sqlite:///{site['db']}",
        "--config",
        cfg,
        "--watchlists",
        site["wl"],
        "run",
        "--once",
    )
    assert result.exit_code == 0, result.stderr
    assert site["db"].exists()


def test_db_flag_over_environment_over_file(
    cli: Any, tmp_path: Path, site: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "cw.toml"
    cfg.write_text(f'db = "sqlite:///{tmp_path / "file.db"}"\nwatchlists = "{site["wl"]}"\n')
    scan = ("--config", cfg, "scan", "--flows", site["flows"] / "kp.csv")
    assert cli(*scan).exit_code == 0 and (tmp_path / "file.db").exists()
    monkeypatch.setenv("CHAINWATCH_DB", f"sqlite:///{tmp_path / 'env.db'}")
    assert cli(*scan).exit_code == 0 and (tmp_path / "env.db").exists()
    assert cli("--db", f"sqlite:///{tmp_path / 'flag.db'}", *scan).exit_code == 0
    assert (tmp_path / "flag.db").exists()
