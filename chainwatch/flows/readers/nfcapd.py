"""nfcapd files, read through the real nfdump."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

from chainwatch.errors import InputError
from chainwatch.flows.inputs import FlowInput
from chainwatch.flows.limits import Limits, default_limits
from chainwatch.flows.readers.batch import Layout
from chainwatch.flows.readers.csv_readers import NFDUMP_FMT, NFDUMP_FMT_NAMES, nfdump_index
from chainwatch.flows.readers.text import delimited
from chainwatch.observations import Batch


def nfdump_binary() -> str:
    path = shutil.which("nfdump")
    if path is None:
        raise InputError(
            "nfdump",
            "is not installed",
            expected="the nfdump package (apt-get install nfdump) to read nfcapd files",
        )
    return path


#: What nfdump prints on stderr when it could not read a file (it may still exit 0).
_NFDUMP_ERROR = re.compile(r"error|short read|corrupt|failed|can't|cannot|unable", re.I)


def read_nfcapd(
    flow_input: FlowInput, filter_file: os.PathLike[str], limits: Limits | None = None
) -> Iterator[Batch]:
    """nfcapd files through the real nfdump: nfdump's C code applies the watch filter (read
    from ``filter_file``, see ``chainwatch.flows.nfdump_filter``) and prints only the fields
    chainwatch uses, in UTC."""
    argv = [
        nfdump_binary(),
        "-r",
        str(flow_input.path),
        "-q",
        "-N",
        "-o",
        NFDUMP_FMT,
        "-f",
        os.fspath(filter_file),
    ]
    env = dict(os.environ, TZ="UTC")
    limits = limits or default_limits()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        index = nfdump_index(NFDUMP_FMT_NAMES)
        try:
            layout = Layout(",", len(NFDUMP_FMT_NAMES), index, naive_is_utc=True, limits=limits)
            yield from delimited(proc.stdout, flow_input.name, layout, first_line=1)
        finally:
            if proc.poll() is None:
                proc.kill()
        error = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        # nfdump 1.7 exits 0 on a damaged file ("Open file F: appendix offset error",
        # "Short read for ...", "GetNextFile() error"): its error lines count as failure too,
        # so the input is not recorded as read.
        failed = [line for line in error.splitlines() if _NFDUMP_ERROR.search(line)]
        if proc.wait() != 0 or failed:
            reason = (failed or error.splitlines() or [f"exit status {proc.returncode}"])[0]
            raise InputError(
                flow_input.name, f"nfdump could not read it: {reason}", expected="an nfcapd file"
            )
