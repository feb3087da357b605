"""``chainwatch run`` and ``chainwatch status``: scheduled operation and its state."""

from __future__ import annotations

from chainwatch.cli import app
from chainwatch.errors import NotAvailableError


@app.command("run")
def run_command() -> None:
    """Run the configured watchers on their schedules until stopped (not available yet)."""
    raise NotAvailableError("chainwatch run")


@app.command("status")
def status_command() -> None:
    """Per watcher: the last success, the last error and the counts (not available yet)."""
    raise NotAvailableError("chainwatch status")
