"""``chainwatch demo``: the whole pipeline on simulated data, for a first look."""

from __future__ import annotations

from chainwatch.cli import app
from chainwatch.errors import NotAvailableError


@app.command("demo")
def demo_command() -> None:
    """Run the whole pipeline on simulated data that follows the public timeline (not available yet)."""
    raise NotAvailableError("chainwatch demo")
