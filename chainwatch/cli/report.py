"""``chainwatch report``: activity over time, onsets and shifts."""

from __future__ import annotations

from chainwatch.cli import app
from chainwatch.errors import NotAvailableError


@app.command("report")
def report_command() -> None:
    """Activity over time per coin, onsets and BTC->XMR shifts (not available yet)."""
    raise NotAvailableError("chainwatch report")
