"""``chainwatch demo``: simulate flows after the public timeline, scan them, report on them."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from chainwatch.config import Settings, WatcherConfig
from chainwatch.report.build import Report, build_report
from chainwatch.report.compare import OBFUSCATION_SUM, Period
from chainwatch.report.details import build_details
from chainwatch.report.html import to_html
from chainwatch.report.render import to_png
from chainwatch.scan import run_scan
from chainwatch.simulate import DEMO_CATALOG, daily_counts, write_flows
from chainwatch.store.db import open_store

BUNDLED_WATCHLIST = Path(__file__).resolve().parent.parent / "watchlists" / "kp.toml"
#: the periods the demo compares: the simulated Tor/VPN use at the start and at the end
DEMO_COMPARE = (
    Period(dt.date(2017, 4, 1), dt.date(2017, 4, 30)),
    Period(dt.date(2019, 12, 1), dt.date(2019, 12, 31)),
)


@dataclass
class DemoResult:
    """What the demo produced: the report and the files it wrote."""

    report: Report
    flows: Path
    html: Path
    png: Path
    scan_line: str

    @property
    def obfuscation(self) -> dict[str, Any]:
        """The tor+vpn entry of the period comparison."""
        assert self.report.compare is not None
        return next(c for c in self.report.compare if c["group"] == OBFUSCATION_SUM)


def run_demo(directory: Path, console: Console) -> DemoResult:
    """Generate, scan and report in ``directory`` (created; a previous demo there is replaced)."""
    directory.mkdir(parents=True, exist_ok=True)
    lists = directory / "watchlists"
    (lists / "endpoints").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BUNDLED_WATCHLIST, lists / "kp.toml")
    (lists / "endpoints" / "demo.toml").write_text(DEMO_CATALOG, encoding="utf-8")
    flows = directory / "flows.csv"
    lines = write_flows(flows, daily_counts())
    console.print(f"simulated {lines:,} flow records (2017-04-01 .. 2019-12-31) -> {flows}")
    db = directory / "chainwatch.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    # no config file, no DNS: the demo is self-contained and offline
    settings = Settings(db=f"sqlite:///{db}", watchlists=lists, resolve_hosts=False)
    config = WatcherConfig(name="demo-flows", kind="flows", path=flows, format="csv")
    summary = run_scan(settings, [config], console=console)
    store = open_store(settings.db)
    try:
        report = build_report(store, watchlist="kp", compare=DEMO_COMPARE)
        details = build_details(store, report, watchlists=lists)
    finally:
        store.close()
    html, png = directory / "report.html", directory / "report.png"
    html.write_text(to_html(report, details), encoding="utf-8")
    png.write_bytes(to_png(report))
    return DemoResult(report, flows, html, png, summary.line())
