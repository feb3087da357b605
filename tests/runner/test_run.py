"""``chainwatch run`` and ``chainwatch status``: real processes, a real HTTP node on loopback,
SQLite and PostgreSQL. Intervals are a second so the scheduler is seen working."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from chainwatch.store.models import RunLock, Scan, WatcherRun
from tests.nodes.fakes import FakeNode, closed_port, geth


def config(tmp_path: Path, node_url: str, *, interval: str = "1s", extra: str = "") -> Path:
    path = tmp_path / "cw.toml"
    path.write_text(
        f"""
[[watchers]]
name = "eth-ok"
kind = "ethereum"
url = "{node_url}"
interval = "{interval}"

[[watchers]]
name = "eth-down"
kind = "ethereum"
url = "http://127.0.0.1:{closed_port()}"
interval = "{interval}"
timeout = "1s"
retries = 0
{extra}
"""
    )
    return path


def watchlists(tmp_path: Path) -> Path:
    directory = tmp_path / "watchlists"
    directory.mkdir(exist_ok=True)
    (directory / "doc.txt").write_text("203.0.113.0/24\n")
    return directory


def args(db_url: str, cfg: Path, tmp_path: Path) -> list[str]:
    return ["--db", db_url, "--config", str(cfg), "--watchlists", str(watchlists(tmp_path))]


def spawn(db_url: str, cfg: Path, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, CHAINWATCH_RESOLVE_HOSTS="0")
    return subprocess.Popen(
        [sys.executable, "-m", "chainwatch", *args(db_url, cfg, tmp_path), "run", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def count(db_url: str, query: Any) -> int:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


def wait_for(proc: subprocess.Popen[str], predicate: Any, seconds: float = 30.0) -> None:
    """Wait until ``predicate()`` holds while ``proc`` runs; on failure show what it logged."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if predicate():
                return
        except Exception:  # the database may not exist yet
            pass
        time.sleep(0.2)
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"timed out waiting (exit {proc.returncode}); stderr:\n{err[-4000:]}")


def wait_for_rounds(proc: subprocess.Popen[str], db_url: str, more: int) -> None:
    """Wait until ``chainwatch run`` has recorded ``more`` further rounds."""
    rounds = select(func.count()).select_from(Scan).where(Scan.command == "run")
    start = count(db_url, rounds)
    wait_for(proc, lambda: count(db_url, rounds) >= start + more)


def ok_rounds(db_url: str) -> int:
    return count(
        db_url,
        select(func.count())
        .select_from(WatcherRun)
        .where(WatcherRun.watcher == "eth-ok", WatcherRun.ok.is_(True)),
    )


def test_once_runs_each_watcher_and_status_shows_it(cli: Any, db_url: str, tmp_path: Path) -> None:
    with FakeNode(geth()) as node:
        cfg = config(tmp_path, node.url)
        result = cli(*args(db_url, cfg, tmp_path), "run", "--once", "--log-format", "json")
    assert result.exit_code == 3, result.stderr  # one watcher failed, the other stored
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    done = [line for line in lines if line["message"] == "round done"]
    failed = [line for line in lines if line["message"] == "round failed"]
    assert [line["watcher"] for line in done] == ["eth-ok"]
    assert done[0]["stored"] == 1 and done[0]["status"] == "ok"
    assert [line["watcher"] for line in failed] == ["eth-down"]
    assert "cannot reach" in failed[0]["error"]

    status = cli(*args(db_url, cfg, tmp_path), "status")
    assert status.exit_code == 0, status.stderr
    assert "chainwatch run: not running" in status.stdout
    ok_line = next(line for line in status.stdout.splitlines() if "eth-ok" in line)
    down_line = next(line for line in status.stdout.splitlines() if "eth-down" in line)
    assert "last success 20" in ok_line and "stored 1)" in ok_line and "runs 1, failed 0" in ok_line
    assert "last success never" in down_line and "runs 1, failed 1; last error 20" in down_line
    assert "cannot reach" in down_line
    assert count(db_url, select(func.count()).select_from(RunLock)) == 0  # released


def test_status_lists_configured_watchers_that_never_ran(
    cli: Any, db_url: str, tmp_path: Path
) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:1")
    status = cli(*args(db_url, cfg, tmp_path), "status")
    assert status.exit_code == 0, status.stderr
    assert "eth-ok (ethereum): never run" in status.stdout
    assert "eth-down (ethereum): never run" in status.stdout


def test_scheduled_rounds_second_run_refused_and_stale_lock_taken_over(
    db_url: str, tmp_path: Path
) -> None:
    with FakeNode(geth()) as node:
        cfg = config(tmp_path, node.url)
        first = spawn(db_url, cfg, tmp_path)
        try:
            wait_for(
                first, lambda: ok_rounds(db_url) >= 3
            )  # interval 1 s: the watcher runs again and again
            second = spawn(db_url, cfg, tmp_path, "--once")
            _, err = second.communicate(timeout=60)
            assert second.returncode == 1, err
            assert f"another chainwatch run holds the database's lock (pid {first.pid}" in err
            assert "Traceback" not in err
        finally:
            first.kill()  # SIGKILL: the lock row stays behind
            first.wait()
        assert count(db_url, select(func.count()).select_from(RunLock)) == 1
        third = spawn(db_url, cfg, tmp_path, "--once")
        _, err = third.communicate(timeout=60)
    assert third.returncode == 3, err  # eth-down still fails
    assert "took over a stale run lock" in err and f"pid {first.pid}" in err
    assert count(db_url, select(func.count()).select_from(RunLock)) == 0


def test_failing_watcher_is_retried_while_the_other_goes_on(db_url: str, tmp_path: Path) -> None:
    with FakeNode(geth()) as node:
        cfg = config(tmp_path, node.url, interval="1h")  # only the backoff brings rounds back
        proc = spawn(db_url, cfg, tmp_path)
        try:
            down = (
                select(func.count()).select_from(WatcherRun).where(WatcherRun.watcher == "eth-down")
            )
            wait_for(proc, lambda: count(db_url, down) >= 3 and ok_rounds(db_url) >= 1)  # 1 s, 2 s
            assert ok_rounds(db_url) == 1  # the healthy watcher keeps its hourly interval
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_sigterm_stops_cleanly(db_url: str, tmp_path: Path) -> None:
    with FakeNode(geth()) as node:
        cfg = config(tmp_path, node.url)
        proc = spawn(db_url, cfg, tmp_path, "--log-format", "json")
        try:
            wait_for(proc, lambda: ok_rounds(db_url) >= 1)
        finally:
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            took = time.monotonic() - started
    assert proc.returncode == 0, err
    assert took < 10, took  # "within a few seconds": a generous bound, not a benchmark
    messages = [json.loads(line)["message"] for line in err.splitlines() if line.startswith("{")]
    assert "stopping" in messages
    assert count(db_url, select(func.count()).select_from(RunLock)) == 0
    assert (
        count(db_url, select(func.count()).select_from(Scan).where(Scan.status == "running")) == 0
    )


def test_run_without_watchers_is_a_usage_error(cli: Any, db_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    result = cli(*args(db_url, cfg, tmp_path), "run", "--once")
    assert result.exit_code == 2
    assert "nothing to run" in result.stderr


def test_bad_log_format(cli: Any, db_url: str, tmp_path: Path) -> None:
    with FakeNode(geth()) as node:
        result = cli(
            *args(db_url, config(tmp_path, node.url), tmp_path), "run", "--log-format", "xml"
        )
    assert result.exit_code == 2 and "--log-format 'xml'" in result.stderr
