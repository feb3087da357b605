"""Alerts: new shifts and onsets found after a round, announced once each.

An alert is announced by a JSON log line and, when ``[alerts]`` configures them, by a POST of
the same JSON to ``webhook`` and by running ``command`` with the JSON on stdin. The ``alerts``
table remembers every alert by key (watchlist, kind, coins, date), so the next round, or the
next ``chainwatch run``, does not announce it again. The body holds the alert only: no
configuration, no credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainwatch import __version__
from chainwatch.config import Settings, parse_duration
from chainwatch.errors import ConfigError

_KEYS = {"webhook", "command", "timeout", "retries"}


@dataclass(frozen=True)
class AlertConfig:
    """The ``[alerts]`` table.

    Attributes:
        webhook: URL to POST each alert to (JSON body), or None.
        command: argv run once per alert with the JSON on stdin, or None.
        timeout: seconds one POST or command may take.
        retries: extra POST attempts after a failure (1 s, 2 s, 4 s ... apart).
    """

    webhook: str | None = None
    command: tuple[str, ...] | None = None
    timeout: float = 10.0
    retries: int = 3


def alert_config(settings: Settings) -> AlertConfig:
    table = dict(settings.alerts)
    where = settings.config_path or "configuration"
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(
            where,
            f"[alerts] has unknown key {sorted(unknown)[0]!r}",
            expected=", ".join(sorted(_KEYS)),
        )
    webhook = table.get("webhook")
    if webhook is not None and (
        not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))
    ):
        raise ConfigError(
            where, f"[alerts] webhook is {webhook!r}", expected="an http:// or https:// URL"
        )
    command = table.get("command")
    argv: tuple[str, ...] | None = None
    if command is not None:
        if isinstance(command, str):
            argv = tuple(shlex.split(command))
        elif isinstance(command, list) and all(isinstance(a, str) for a in command):
            argv = tuple(command)
        if not argv:
            raise ConfigError(
                where,
                f"[alerts] command is {command!r}",
                expected="a command line or a list of arguments",
            )
    retries = table.get("retries", 3)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise ConfigError(
            where, f"[alerts] retries is {retries!r}", expected="an integer from 0 to 10"
        )
    timeout = parse_duration(table.get("timeout", "10s"), where="[alerts] timeout", path=where)
    return AlertConfig(webhook=webhook, command=argv, timeout=timeout, retries=retries)


def alert_key(alert: dict[str, Any]) -> str:
    """What makes an alert the same alert: its watchlist, kind, coins and date."""
    if alert["kind"] == "shift":
        return f"{alert['watchlist']}|shift|{alert['from']}>{alert['to']}|{alert['changepoint']}"
    return f"{alert['watchlist']}|onset|{alert['coin']}|{alert['date']}"


def post(url: str, body: bytes, *, timeout: float, retries: int) -> None:
    """POST ``body`` as JSON; retry failures with backoff. Raises OSError on the last one."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"chainwatch/{__version__}"},
    )
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read(65536)
                return
        except (urllib.error.URLError, OSError) as exc:
            if attempt == retries:
                reason = getattr(exc, "reason", exc)
                raise OSError(
                    f"POST to {url} failed after {retries + 1} attempts: {reason}"
                ) from None
            time.sleep(min(2.0**attempt, 30.0))


def run_command(argv: tuple[str, ...], body: bytes, *, timeout: float) -> None:
    try:
        done = subprocess.run(argv, input=body, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OSError(f"alert command {Path(argv[0]).name} failed: {exc}") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise OSError(f"alert command {Path(argv[0]).name} exited {done.returncode}: {tail[0]}")


def deliver(alert: dict[str, Any], config: AlertConfig) -> list[str]:
    """Send one alert through the configured channels; returns the errors (empty when all
    took it)."""
    body = json.dumps(alert, sort_keys=True).encode()
    errors = []
    if config.webhook:
        try:
            post(config.webhook, body, timeout=config.timeout, retries=config.retries)
        except OSError as exc:
            errors.append(str(exc))
    if config.command:
        try:
            run_command(config.command, body, timeout=config.timeout)
        except OSError as exc:
            errors.append(str(exc))
    return errors


def make_alert(
    kind: str, watchlist: str, found: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    alert = {"kind": kind, "watchlist": watchlist, **found}
    alert["found_at"] = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    alert["key"] = alert_key(alert)
    return alert
