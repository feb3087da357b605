"""``chainwatch export``: evidence as CSV, JSON lines or STIX 2.1, with a manifest."""

from __future__ import annotations

from chainwatch.cli import app
from chainwatch.errors import NotAvailableError


@app.command("export")
def export_command() -> None:
    """Write evidence (CSV, JSON lines, STIX 2.1) with a manifest of hashes (not available yet)."""
    raise NotAvailableError("chainwatch export")
