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
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainwatch import __version__
from chainwatch.config import Secret, Settings


@dataclass(frozen=True)
class AlertConfig:
    """The ``[alerts]`` table (validated when the settings are loaded:
    ``chainwatch.settings.model.AlertsTable``).

    Attributes:
        webhook: URL to POST each alert to (JSON body), or None; a ``Secret``, since such
            URLs often carry a token (messages name the host only).
        command: argv run once per alert with the JSON on stdin, or None.
        timeout: seconds one POST or command may take.
        retries: extra POST attempts after a failure (1 s, 2 s, 4 s ... apart).
    """

    webhook: Secret | None = None
    command: tuple[str, ...] | None = None
    timeout: float = 10.0
    retries: int = 3


def alert_config(settings: Settings) -> AlertConfig:
    return AlertConfig(**settings.alerts)


def alert_key(alert: dict[str, Any]) -> str:
    """What makes an alert the same alert: its watchlist, kind, coins and date."""
    if alert["kind"] == "shift":
        return f"{alert['watchlist']}|shift|{alert['from']}>{alert['to']}|{alert['changepoint']}"
    return f"{alert['watchlist']}|onset|{alert['coin']}|{alert['date']}"


def post(url: Secret, body: bytes, *, timeout: float, retries: int) -> None:
    """POST ``body`` as JSON; retry failures with backoff. Raises OSError on the last one,
    naming the URL's scheme and host only (its path or query may be a token)."""
    request = urllib.request.Request(
        url.get(),
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
                    f"POST to {_shown(url)} failed after {retries + 1} attempts: {reason}"
                ) from None
            time.sleep(min(2.0**attempt, 30.0))


def _shown(url: Secret) -> str:
    parts = urllib.parse.urlsplit(url.get())
    return f"{parts.scheme}://{parts.hostname}{'' if parts.port is None else f':{parts.port}'}/..."


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
