"""Evidence export: CSV, JSON lines or STIX 2.1 from the store, with a manifest of hashes.

``FORMATS`` names the exporters (each an ``export.base.Exporter``), imported only when one
runs; ``export.run.run_export`` writes an export, ``export.manifest.verify`` checks one.
"""

from __future__ import annotations

from chainwatch.registry import Entry, registry

FORMATS: dict[str, Entry] = registry(
    Entry("csv", "chainwatch.export.csv_out:CsvExporter", "one row per event, CSV"),
    Entry("jsonl", "chainwatch.export.jsonl_out:JsonlExporter", "one JSON object per event"),
    Entry("stix", "chainwatch.export.stix_out:StixExporter", "a STIX 2.1 bundle"),
)
