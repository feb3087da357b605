"""Alerts: announced once, through a real HTTP server on 127.0.0.1 and a real command."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chainwatch.config import load_settings
from chainwatch.errors import ConfigError
from chainwatch.runner.alerts import alert_config
from chainwatch.runner.loop import Runner
from chainwatch.store.db import open_store
from chainwatch.store.runs import list_alerts

SHIFT = {
    "from": "btc",
    "to": "xmr",
    "changepoint": "2019-05-06",
    "crossover": "2019-05-20",
    "share_before": 0.08,
    "share_after": 0.91,
    "fold_change": 11.7,
    "p_value": 1e-9,
}


class Hook:
    """A webhook receiver on 127.0.0.1; ``fail`` first answers make it return 500."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail = fail
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.fail > 0:
                    hook.fail -= 1
                    self.send_response(500)
                else:
                    hook.bodies.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.close()


def settings(tmp_path: Path, db_url: str, alerts: str) -> Any:
    cfg = tmp_path / "cw.toml"
    cfg.write_text(f"[alerts]\n{alerts}\n")
    (tmp_path / "wl").mkdir(exist_ok=True)
    return load_settings(db=db_url, config=str(cfg), watchlists=str(tmp_path / "wl"))


def test_shift_announced_once_to_webhook_and_command(
    db_url: str, tmp_path: Path, hook: Hook, caplog: Any
) -> None:
    out = tmp_path / "alert.json"
    command = json.dumps(
        [
            sys.executable,
            "-c",
            f"import sys; open({str(out)!r}, 'a').write(sys.stdin.read() + '\\n')",
        ]
    )
    cfg = settings(tmp_path, db_url, f'webhook = "{hook.url}"\ncommand = {command}\ntimeout = "5s"')
    open_store(db_url).close()

    def finder(_: Any) -> list[tuple[str, str, dict[str, Any]]]:
        return [("shift", "kp", SHIFT), ("onset", "kp", {"coin": "btc", "date": "2017-05-17"})]

    log = logging.getLogger("test.alerts")
    with caplog.at_level(logging.INFO, logger="test.alerts"):
        Runner(cfg, [], log, finder=finder).check_alerts()
        Runner(cfg, [], log, finder=finder).check_alerts()  # the next round, or the next run
    assert [b["kind"] for b in hook.bodies] == ["shift", "onset"]
    shift = hook.bodies[0]
    assert (
        shift["watchlist"] == "kp"
        and shift["changepoint"] == "2019-05-06"
        and shift["p_value"] == 1e-9
    )
    assert shift["key"] == "kp|shift|btc>xmr|2019-05-06"
    assert "password" not in json.dumps(hook.bodies) and "webhook" not in json.dumps(hook.bodies)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written == hook.bodies
    assert sum(record.getMessage() == "alert" for record in caplog.records) == 2
    store = open_store(db_url)
    try:
        stored = list_alerts(store)
    finally:
        store.close()
    assert [(a.kind, a.errors) for a in stored] == [("shift", []), ("onset", [])]


def test_failed_delivery_is_retried_then_recorded(db_url: str, tmp_path: Path) -> None:
    flaky = Hook(fail=1)
    try:
        cfg = settings(tmp_path, db_url, f'webhook = "{flaky.url}"\nretries = 1\ntimeout = "2s"')
        Runner(
            cfg, [], logging.getLogger("t"), finder=lambda s: [("shift", "kp", SHIFT)]
        ).check_alerts()
        assert len(flaky.bodies) == 1  # the 500 was retried
        flaky.fail = 5
        shift2 = dict(SHIFT, changepoint="2020-01-01")
        Runner(
            cfg, [], logging.getLogger("t"), finder=lambda s: [("shift", "kp", shift2)]
        ).check_alerts()
    finally:
        flaky.close()
    store = open_store(db_url)
    try:
        stored = list_alerts(store)
    finally:
        store.close()
    assert stored[0].errors == []
    assert len(stored[1].errors) == 1 and "failed after 2 attempts" in stored[1].errors[0]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('webhook = "ftp://x"', "webhook is 'ftp://x'"),
        ("command = []", "command is []"),
        ("retries = -1", "retries is -1"),
        ('timeout = "soon"', "timeout"),
        ("sms = 1", "unknown key 'sms'"),
    ],
)
def test_bad_alert_config(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        alert_config(settings(tmp_path, "sqlite:///x.db", table))


def test_shift_in_scanned_flows_alerts_once(
    cli: Any, db_url: str, tmp_path: Path, hook: Hook
) -> None:
    """The real path: `run --once` scans flows in which XMR overtakes BTC; the report's shift
    is POSTed once, and a second round finds it again but does not send it again."""
    import datetime as dt

    lines = ["ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets"]
    start = dt.datetime(2019, 3, 1, tzinfo=dt.UTC)
    for day in range(120):
        btc, xmr = (20, 1) if day < 60 else (2, 25)
        for i in range(btc + xmr):
            port = 8333 if i < btc else 18080
            when = (start + dt.timedelta(days=day, minutes=i)).isoformat().replace("+00:00", "Z")
            lines.append(
                f"{when},175.45.176.{i % 200 + 1},198.51.100.{i % 250 + 1},{40000 + i},{port},tcp,100,1"
            )
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "kp.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "wl").mkdir()
    (tmp_path / "wl" / "kp.txt").write_text("175.45.176.0/22\n")
    cfg = tmp_path / "cw.toml"
    cfg.write_text(
        f'[[watchers]]\nname = "f"\nkind = "flows"\npath = "{flows}"\n\n'
        f'[alerts]\nwebhook = "{hook.url}"\n'
    )
    args = ("--db", db_url, "--config", cfg, "--watchlists", tmp_path / "wl", "run", "--once")
    first = cli(*args, "--log-format", "json")
    assert first.exit_code == 0, first.stderr
    shifts = [b for b in hook.bodies if b["kind"] == "shift"]
    assert len(shifts) == 1, hook.bodies
    assert (
        shifts[0]["from"] == "btc" and shifts[0]["to"] == "xmr" and shifts[0]["watchlist"] == "kp"
    )
    assert abs(
        dt.date.fromisoformat(shifts[0]["changepoint"]) - dt.date(2019, 4, 30)
    ) <= dt.timedelta(days=2)
    logged = [json.loads(x) for x in first.stderr.splitlines() if x.startswith("{")]
    assert any(x["message"] == "alert" and x["alert"]["kind"] == "shift" for x in logged)
    sent = len(hook.bodies)
    second = cli(*args)
    assert second.exit_code == 0, second.stderr
    assert len(hook.bodies) == sent  # nothing new, nothing sent
