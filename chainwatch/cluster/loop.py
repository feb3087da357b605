"""The client's side of a watcher's scan on a cluster: prepare tasks in parallel, write tasks
chained in the one-process order, one progress bar, one result.

Write ``k`` depends on prepare ``k`` (its data stays on the worker that read it, where Dask
runs the write) and on write ``k - 1`` (a small result), so each unit's transaction sees every
earlier unit committed: connections pair across inputs exactly as in one process. On SQLite
the workers only prepare and the client writes each unit as it arrives, in order: one
writer, as SQLite wants, at the cost of moving the matched batches to the client. At most
``2 * workers + 1`` units are prepared and not yet written, so memory stays flat however many
inputs there are.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainwatch.cluster import tasks
from chainwatch.cluster.connect import Cluster, public_url
from chainwatch.cluster.shipped import Shipped, forget
from chainwatch.cluster.units import Unit, plan
from chainwatch.errors import ChainwatchError, WatcherError
from chainwatch.flows.nfdump_filter import filter_text
from chainwatch.watchers.interface import ScanContext, WatcherResult

if TYPE_CHECKING:
    from chainwatch.classify import Classifier
    from chainwatch.watchers.flows import FlowWatcher

#: Seconds between looks at the stop flag while a unit is under way.
POLL_SECONDS = 0.2


def read_on_cluster(
    watcher: FlowWatcher,
    ctx: ScanContext,
    cluster: Cluster,
    classifier: Classifier,
    inputs: Sequence[tuple[Path, str]],
) -> WatcherResult:
    """Read a watcher's inputs on the cluster into the store; the result as a one-process
    scan of them gives it."""
    client = cluster.client
    sqlite = ctx.store.dialect == "sqlite"
    shipped = Shipped(
        key=f"{ctx.scan_id}-{watcher.name}-{uuid.uuid4().hex}",
        source=watcher.name,
        fmt=watcher.config.format,
        matcher=ctx.matcher,
        classifier=classifier,
        limits=ctx.settings.limits,
        filter_text=filter_text(ctx.watchlists),
        scan_id=ctx.scan_id,
        db=public_url(ctx.settings.db),
        strict=ctx.strict,
    )
    units = plan(inputs)
    result = WatcherResult()
    failures: list[str] = []
    progress = watcher._progress(ctx)
    window = 2 * cluster.workers + 1
    on_workers = client.scatter(shipped, broadcast=True, hash=False)  # type: ignore[no-untyped-call]
    queue: deque[tuple[Unit, Any, Any]] = deque()
    previous: Any = None
    pending = iter(units)

    def submit() -> None:
        nonlocal previous
        unit = next(pending, None)
        if unit is None:
            return
        key = f"{shipped.key}-{unit.index}"
        prep = client.submit(tasks.prepare, unit, on_workers, key=f"prepare-{key}")
        write = None
        if not sqlite:
            write = client.submit(tasks.write, prep, previous, on_workers, key=f"write-{key}")
            previous = write
        queue.append((unit, prep, write))

    try:
        with progress:
            bar = progress.add_task("flows", total=sum(u.size for u in units))
            for _ in range(window):
                submit()
            while queue:
                unit, prep, write = queue[0]
                awaited = write if write is not None else prep
                while not awaited.done():
                    if ctx.should_stop():
                        return result  # the scan ends interrupted; the rest is cancelled
                    _wait(awaited)
                if write is not None:
                    written = write.result()
                else:
                    written = tasks.write_with(ctx.store, prep.result(), shipped)
                queue.popleft()
                del prep, write, awaited
                submit()
                _tell(watcher, ctx, written, result, failures, len(inputs))
                progress.advance(bar, unit.size)
    finally:
        for _, prep, write in queue:
            for future in (prep, write):
                if future is not None:
                    future.cancel()
        client.run(forget, shipped.key)
    if failures:
        if len(failures) == len(inputs):
            raise WatcherError(watcher.name, f"no input could be read; first: {failures[0]}")
        result.partial = True
    return result


def _wait(future: Any) -> None:
    with contextlib.suppress(TimeoutError):
        future.result(timeout=POLL_SECONDS)


def _tell(
    watcher: FlowWatcher,
    ctx: ScanContext,
    written: tasks.Written,
    result: WatcherResult,
    failures: list[str],
    inputs: int,
) -> None:
    """Say what a unit's write said and count it, as a one-process scan does."""
    for note in written.notes:
        ctx.console.print(note, markup=False, highlight=False)
    for failure in written.failures:
        if ctx.strict or inputs == 1:
            raise ChainwatchError(failure)
        failures.append(failure)
        result.problems.append(failure)
    for begun in written.begun:
        if begun is None:
            result.counts["skipped"] += 1
        else:
            watcher.count(ctx, begun, result)
