"""What the alerts watch for: the onsets and shifts that ``chainwatch report`` finds now, per
watchlist, with the thresholds of the ``[report]`` table."""

from __future__ import annotations

from chainwatch.config import Settings
from chainwatch.report.build import build_report, options_from
from chainwatch.store.db import open_store
from chainwatch.watchlists import load_watchlists


def new_findings(settings: Settings) -> list[tuple[str, str, dict[str, object]]]:
    """Every onset and shift in the stored data, per watchlist: (kind, watchlist, finding).
    The caller keeps what was already announced; this returns what the data show now."""
    options = options_from(settings.report, settings.config_path or "configuration")
    names = [w.name for w in load_watchlists(settings.watchlists).watchlists]
    found: list[tuple[str, str, dict[str, object]]] = []
    store = open_store(settings.db)
    try:
        for name in names:
            report = build_report(store, watchlist=name, options=options)
            found += [("onset", name, dict(onset)) for onset in report.onsets]
            found += [("shift", name, dict(shift)) for shift in report.shifts]
    finally:
        store.close()
    return found
