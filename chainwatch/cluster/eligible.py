"""Which watchers' inputs a cluster reads: nfcapd, nfdump CSV, generic CSV and Zeek conn logs,
whose records are classified alike whatever else the scan reads. Zeek dns/ssl/http logs and
Suricata eve teach the classifier DNS answers and verdicts that other inputs of the scan use,
standard input is one stream, and a path that could not be listed fails here: a watcher
with any of them is read in this process, as without ``--cluster``, and the user is told
once why. Captures and nodes are always read in this process."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from chainwatch.flows import detect
from chainwatch.flows.inputs import FlowInput, head
from chainwatch.flows.readers import zeek_join

#: The formats a cluster reads (``chainwatch.flows.detect`` names).
FORMATS = ("nfcapd", "nfdump", "csv", "zeek", "zeek-json")


def read_here(
    configured: str, inputs: Sequence[tuple[Path, str]], unlisted: Collection[str]
) -> str | None:
    """Why these inputs are read in this process, or None when the cluster reads them."""
    if configured not in ("auto", *FORMATS):
        return f"format {configured} is classified with what the whole scan learns"
    for path, name in inputs:
        if name == "-":
            return "standard input is one stream"
        if name in unlisted:
            return f"{name} could not be listed"
        try:
            fmt = detect.detect(head(FlowInput(path, name, path.stat().st_size, ""), 8192))
        except Exception:  # reading it says what is wrong, wherever it is read
            continue
        if fmt == "eve" or (fmt is not None and zeek_join.is_sensor_log(fmt)):
            return f"{name} ({fmt}) teaches DNS answers or verdicts the other inputs use"
    return None
