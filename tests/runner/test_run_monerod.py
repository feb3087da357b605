"""``chainwatch run`` against a real monerod that is stopped and started again while it runs:
the failed rounds are recorded and retried, and polling recovers without restarting chainwatch.
monerod and chainwatch run inside a network namespace with only ``lo`` up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from chainwatch.store.models import WatcherRun
from tests.conftest import require_binary
from tests.nodes.conftest import Ports, netns_db_url
from tests.nodes.daemons import MONEROD, Monerod, Netns, wait_for
from tests.runner.test_run import count

pytestmark = [pytest.mark.daemons]


def runs(db_url: str, ok: bool) -> int:
    query = select(func.count()).select_from(WatcherRun).where(WatcherRun.ok.is_(ok))
    try:
        return count(db_url, query)
    except DBAPIError:  # chainwatch has not created the tables yet
        return 0


def test_monerod_restarted_during_run(
    netns: Netns, ports: Ports, db_url: str, tmp_path: Path
) -> None:
    require_binary(MONEROD)
    node = Monerod(
        netns, tmp_path / "xmr", ("127.0.0.1", ports.take()), ports.take(), "127.0.0.1:1"
    )
    node.start()
    (tmp_path / "wl").mkdir()
    (tmp_path / "wl" / "lo.txt").write_text("127.0.0.2/32\n")
    config = tmp_path / "cw.toml"
    config.write_text(
        f'[[watchers]]\nname = "xmr"\nkind = "monero"\nurl = "{node.url}"\n'
        'interval = "1s"\ntimeout = "2s"\nretries = 0\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINWATCH_")}
    env["CHAINWATCH_RESOLVE_HOSTS"] = "0"
    argv = netns.argv(
        sys.executable,
        "-m",
        "chainwatch",
        "--db",
        netns_db_url(db_url),
        "--config",
        str(config),
        "--watchlists",
        str(tmp_path / "wl"),
        "run",
    )
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        wait_for("a successful round", lambda: runs(db_url, True) >= 1 or None)
        node.stop()
        wait_for("failed rounds while monerod is down", lambda: runs(db_url, False) >= 2 or None)
        before = runs(db_url, True)
        node.start()
        wait_for("recovery after monerod is back", lambda: runs(db_url, True) > before or None)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        node.stop()
    assert proc.returncode == 0, err
    assert "round failed" in err and "watcher=xmr" in err
    status = netns.chainwatch(
        "--db",
        netns_db_url(db_url),
        "--config",
        str(config),
        "--watchlists",
        str(tmp_path / "wl"),
        "status",
    )
    assert status.returncode == 0, status.stderr
    line = next(line for line in status.stdout.splitlines() if line.startswith("xmr (monero)"))
    assert "last error" in line and "monerod" in line
