"""Writing one unit of a flow scan: its inputs claimed, begun and fed in one write transaction.

A unit is one input, or an nfcapd group read by one nfdump. The same code writes it in a
one-process scan (``FlowWatcher.store_inputs``: the batches read and matched in the reading
thread as they are stored) and on a Dask cluster (``chainwatch.cluster.tasks``: the batches
read and matched beforehand, on a worker, and replayed here), so both store the same rows.

``matched`` gives the matched batches of the inputs this transaction claimed (``ready``), as
``(index into ready, Matched)``; it is asked only after the claims, since what it reads may
depend on them (a Zeek ssl/http log's known uids, a text file resumed where it stopped).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from chainwatch.flows.inputs import FlowInput, identity
from chainwatch.match import Matched
from chainwatch.store.db import Store
from chainwatch.store.ingest import Ingest, InputTotals, input_seen, resumed_input
from chainwatch.watchers import feeding
from chainwatch.watchers.feeding import Begun

#: The matched batches of the claimed inputs of a unit, given those inputs.
MatchedOf = Callable[[Sequence[Begun]], Generator[tuple[int, Matched], None, None]]


@dataclass
class Writing:
    """What writing a unit needs besides its inputs: where, for which scan and source, and how
    to tell a person (``note``: one line; ``progress``: a bar per input).

    ``resume``: look for a text file that grew since a round read it (a one-process scan;
    on a cluster the worker that read it looked). ``rerun``: an input this scan already
    stored from the same path is reported as stored, not skipped (a cluster's write task
    run again after its worker died past its commit). ``paired``: the scan holds the
    source's pairing lock itself (``Ingest``); ``before_rollups`` runs before the unit's first
    rollups are written and ``settle`` once its batches are stored, before it commits (a
    cluster's unit waits there for the one before it, and checks what it decided)."""

    store: Store
    scan_id: int
    source: str
    now: Callable[[], dt.datetime]
    note: Callable[[str], None]
    progress: Progress
    strict: bool = False
    should_stop: Callable[[], bool] = lambda: False
    resume: bool = True
    rerun: bool = False
    paired: bool = False
    before_rollups: Callable[[], None] = lambda: None
    settle: Callable[[Sequence[Begun]], None] = lambda ready: None
    skipped: list[str] = field(default_factory=list)


def write_unit(
    writing: Writing,
    described: Sequence[tuple[Path, FlowInput, str]],
    matched: MatchedOf,
    resume: Callable[[Ingest, FlowInput, str], FlowInput] | None = None,
) -> list[Begun | None]:
    """Store a unit's inputs ``(path, described input, format)`` in one transaction: each as
    stored (totals set once finished), or None for one read before (its reason in
    ``writing.skipped`` and said through ``note``). One that fails fails them all."""
    with Ingest.transaction(
        writing.store,
        writing.scan_id,
        paired=writing.paired,
        before_rollups=writing.before_rollups,
    ) as ingest:
        begun = [begin(writing, ingest, *each, resume) for each in described]
        ready = [b for b in begun if b is not None and b.totals is None]
        feeding.feed(
            ready,
            matched(ready),
            strict=writing.strict,
            should_stop=writing.should_stop,
            watcher=writing.source,
            progress=writing.progress,
        )
        writing.settle(ready)
        return begun


def begin(
    writing: Writing,
    ingest: Ingest,
    path: Path,
    flow_input: FlowInput,
    fmt: str,
    resume: Callable[[Ingest, FlowInput, str], FlowInput] | None = None,
) -> Begun | None:
    """Claim an input and record it in the transaction; None when it was read before."""
    name = flow_input.name
    recorded = flow_input.name if flow_input.name == "-" else identity(path)
    if writing.rerun:
        seen = input_seen(ingest.conn, flow_input.sha256)
        if seen is not None and seen.scan_id == writing.scan_id and seen.path == recorded:
            totals = InputTotals(records=seen.records, watched=seen.watched, bad=seen.bad)
            return Begun(flow_input, fmt, None, totals=totals)
    taken = ingest.claim(flow_input.sha256)
    if taken is not None:  # already read, or being read by another scan right now
        writing.skipped.append(name)
        writing.note(f"{name}: skipped, {taken}")
        return None
    if writing.resume:
        if resume is not None:
            flow_input = resume(ingest, flow_input, fmt)
        else:
            flow_input = resumed(writing.note, ingest, flow_input, fmt)
    target = ingest.begin_input(
        path=recorded,
        size=flow_input.size,
        sha256=flow_input.sha256,
        fmt=fmt,
        read_at=writing.now(),
        source=writing.source,
        name=name,
    )
    return Begun(flow_input, fmt, target)


def resumed(
    note: Callable[[str], None], ingest: Ingest, flow_input: FlowInput, fmt: str
) -> FlowInput:
    """A text file that only grew since a round read it (its first bytes hash as they did
    then) is read from where that round stopped: a growing Zeek log is not read twice."""
    found = resumed_input(ingest.conn, flow_input, fmt)
    if found.start:
        note(grew(flow_input.name, found.start))
    return found


def grew(name: str, start: int) -> str:
    """What is said of an input resumed at ``start``."""
    return f"{name}: grew since it was read; reading from byte {start:,}"
