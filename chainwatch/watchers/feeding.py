"""Feeding one write transaction: the matched batches of its inputs, in order, to the store.

A transaction holds one input, or a group read by one reader (nfcapd: one nfdump for several
files), whose batches come as ``(index into the inputs, batch)``, each input's in order and
the inputs one after another. Each input is finished (its ``inputs`` row) before the next
one's first batch is stored; the transaction pairs the next one's records with its events as
if each had had a transaction of its own (``chainwatch.store.ingest``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress, TaskID

from chainwatch.errors import InputError, WatcherError
from chainwatch.flows.inputs import FlowInput
from chainwatch.match import Matched
from chainwatch.observations import Batch
from chainwatch.store.ingest import InputIngest, InputTotals


@dataclass
class Begun:
    """An input claimed and begun in a transaction: where its batches go, and, once it is
    finished, its totals. ``beyond_table`` counts the usable records its reader reported
    beyond its tables' rows (``Batch.usable``), so that an input whose every record was bad
    is told from one whose good records were simply not watched. ``target`` is None for an
    input a cluster's write task found stored by its own earlier run (``totals`` from its
    ``inputs`` row)."""

    flow_input: FlowInput
    fmt: str
    target: InputIngest | None
    beyond_table: int = 0
    totals: InputTotals | None = None


def _close(batches: Iterator[object]) -> None:
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def indexed(batches: Iterator[Batch]) -> Generator[tuple[int, Batch], None, None]:
    """One input's batches as a group of one."""
    try:
        for batch in batches:
            yield 0, batch
    finally:  # closed early (an input failed or stops): the reader, and nfdump, end now
        _close(batches)


def counted(
    begun: Sequence[Begun], batches: Iterator[tuple[int, Batch]]
) -> Generator[tuple[int, Batch], None, None]:
    """The batches, counting each input's usable records beyond its tables (``Begun``)."""
    try:
        for index, batch in batches:
            if batch.usable is not None:
                begun[index].beyond_table += max(batch.usable - batch.table.num_rows, 0)
            yield index, batch
    finally:
        _close(batches)


def feed(
    begun: Sequence[Begun],
    matched: Generator[tuple[int, Matched], None, None],
    *,
    strict: bool,
    should_stop: Callable[[], bool],
    watcher: str,
    progress: Progress,
) -> None:
    """Store the matched batches of ``begun``'s inputs and finish each; stop at a bad record
    under ``strict``, and when the scan stops."""
    current = -1
    task: TaskID | None = None

    def advance_to(index: int) -> None:
        nonlocal current, task
        while current < index:
            if current >= 0:
                target = begun[current].target
                assert target is not None  # fed: begun in this transaction
                begun[current].totals = target.finish()
                if task is not None:
                    progress.remove_task(task)
                task = None
            current += 1
            if current < len(begun):
                each = begun[current].flow_input
                task = progress.add_task(Path(each.name).name, total=each.size)

    # Closed at once when an input fails or stops: the reading thread (and nfdump with it)
    # ends here, not whenever the error's traceback is let go.
    with contextlib.closing(matched):
        for index, batch in matched:
            advance_to(index)
            name = begun[index].flow_input.name
            if strict and batch.bad:
                line, reason = batch.bad_examples[0]
                raise InputError(name, reason, line=line)
            target = begun[index].target
            assert target is not None
            target.write(batch)
            if task is not None:
                progress.advance(task, batch.bytes_read)
            if should_stop():
                raise WatcherError(
                    watcher, f"stopped while reading {name}; nothing of it was stored"
                )
    advance_to(len(begun))
