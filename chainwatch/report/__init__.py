"""Reports: build the report (series, onsets, shifts) from the store and render it.

``FORMATS`` names the renderers of ``chainwatch report --format``, imported only when used
(``png`` needs matplotlib): ``table`` prints to a console, the others return text or bytes.
"""

from __future__ import annotations

from chainwatch.registry import Entry, registry

FORMATS: dict[str, Entry] = registry(
    Entry("table", "chainwatch.report.terminal:print_table", "a table on the terminal"),
    Entry("json", "chainwatch.report.render:to_json", "the whole report as JSON"),
    Entry("csv", "chainwatch.report.render:to_csv", "the series as CSV"),
    Entry("html", "chainwatch.report.html:to_html", "a self-contained interactive page"),
    Entry("png", "chainwatch.report.render:to_png", "a chart (needs --out)"),
)
