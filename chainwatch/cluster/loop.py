"""The client's side of a watcher's scan on a cluster: prepare tasks in parallel, writes in
the one-process order, one progress bar, one result.

On PostgreSQL, decide ``k`` (``chainwatch.cluster.decide``) depends on prepare ``k`` and on
decide ``k - 1``: a cheap chain that settles which records each unit stores, as one process
would. Write ``k`` depends on prepare ``k`` (its data stays on the worker that read it, where
Dask runs the write) and on decide ``k``: units are stored in parallel and commit in order,
while the scan holds the source's pairing lock. Under ``--strict`` a failure ends the scan at
that unit, so write ``k`` depends on write ``k - 1`` instead: each unit's transaction sees
every earlier unit committed. On SQLite the workers only prepare and the client writes each
unit as it arrives, in order: one writer, as SQLite wants, at the cost of moving the matched
batches to the client. At most ``2 * workers + 1`` units are prepared and not yet written, so
memory stays flat however many inputs there are.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import deque
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainwatch.cluster import decide, tasks
from chainwatch.cluster.connect import Cluster, public_url
from chainwatch.cluster.eligible import read_here
from chainwatch.cluster.shipped import Shipped, forget
from chainwatch.cluster.units import Unit, plan
from chainwatch.errors import ChainwatchError, WatcherError
from chainwatch.flows.nfdump_filter import filter_text
from chainwatch.store.pairing import pairing_held
from chainwatch.watchers.interface import ScanContext, WatcherResult

if TYPE_CHECKING:
    from chainwatch.classify import Classifier
    from chainwatch.watchers.flows import FlowWatcher

#: Seconds between looks at the stop flag while a unit is under way.
POLL_SECONDS = 0.2
#: About how many bytes of a large text input one task reads (``chainwatch.flows.ranges``):
#: an input of twice this or more is read in pieces, in parallel, and written whole, in its
#: one transaction. Big enough that a piece's batches are worth a task, small enough that a
#: file of a few hundred MiB keeps every worker busy.
PIECE_BYTES = 64 << 20


def read_on_cluster(
    watcher: FlowWatcher,
    ctx: ScanContext,
    cluster: Cluster,
    classifier: Classifier,
    inputs: Sequence[tuple[Path, str]],
) -> WatcherResult | None:
    """Read a watcher's inputs on the cluster into the store; the result as a one-process
    scan of them gives it. None when they are to be read in this process (``eligible``: the
    user is told why, once)."""
    why = read_here(watcher.config.format, inputs, watcher.unlisted)
    if why is not None:
        ctx.console.print(f"--cluster: {watcher.name} read here: {why}", markup=False)
        return None
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
        piece_bytes=PIECE_BYTES,
    )
    units = plan(inputs)
    result = WatcherResult()
    failures: list[str] = []
    progress = watcher.progress_bar(ctx)
    window = 2 * cluster.workers + 1
    parallel = not sqlite and not ctx.strict
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
        reading = {"resources": cluster.reading} if cluster.reading else {}
        if unit.group or unit.size < 2 * PIECE_BYTES:
            prep = client.submit(tasks.prepare, unit, on_workers, key=f"prepare-{key}", **reading)
        else:  # cut into pieces on a worker (it hashes the input too), each read apart
            plan = client.submit(tasks.plan, unit, on_workers, key=f"plan-{key}", **reading)
            planned = plan.result()
            pieces = [
                client.submit(
                    tasks.prepare_piece, planned, k, on_workers, key=f"piece-{key}-{k}", **reading
                )
                for k in range(len(planned.pieces))
            ]
            prep = client.submit(tasks.combine, planned, pieces, key=f"prepare-{key}")
        write = None
        if parallel:  # the chains go first when a thread frees, before any reading task
            previous = client.submit(
                decide.decide, prep, previous, on_workers, window, key=f"decide-{key}", priority=20
            )
            write = client.submit(
                tasks.write_decided, prep, previous, on_workers, key=f"write-{key}", priority=10
            )
        elif not sqlite:
            write = client.submit(
                tasks.write, prep, previous, on_workers, key=f"write-{key}", priority=10
            )
            previous = write
        queue.append((unit, prep, write))

    held = pairing_held(ctx.store, watcher.name, ctx.scan_id) if parallel else nullcontext()
    try:
        with held, progress:
            bar = progress.add_task(watcher.name, total=sum(u.size for u in units))
            for _ in range(window):
                submit()
            while queue:
                unit, prep, write = queue[0]
                awaited = write if write is not None else prep
                while not awaited.done():
                    if ctx.should_stop():  # the scan ends interrupted; the rest is cancelled
                        _cancel(queue)
                        if cluster.local is not None:
                            cluster.close()  # a write under way dies: it rolls back
                        return result
                    _wait(awaited)
                written = _written(watcher, ctx, shipped, prep, write)
                queue.popleft()
                del prep, write, awaited
                submit()
                _tell(watcher, ctx, written, result, failures, len(inputs))
                progress.advance(bar, unit.size)
    finally:
        if not cluster.closed:  # else its workers, their tasks and files went with it
            _cancel(queue)
            with contextlib.suppress(Exception):  # a worker gone: its files went with it
                client.run(forget, shipped.key)
            if parallel:
                with contextlib.suppress(Exception):
                    decide.forget(client, shipped.key, len(units), stopped=bool(queue))
    if failures:
        if len(failures) == len(inputs):
            raise WatcherError(watcher.name, f"no input could be read; first: {failures[0]}")
        result.partial = True
    return result


def _written(
    watcher: FlowWatcher, ctx: ScanContext, shipped: Shipped, prep: Any, write: Any
) -> tasks.Written:
    """A unit's write: done on a worker, or here with what a worker prepared (SQLite). What
    breaks the cluster itself (a task that killed its workers, a lost scheduler) is the
    watcher's one-line error."""
    try:
        if write is not None:
            return write.result()  # type: ignore[no-any-return]
        return tasks.write_with(ctx.store, prep.result(), shipped)
    except ChainwatchError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WatcherError(
            watcher.name, f"the cluster failed: {type(exc).__name__}: {reason}".rstrip(": ")
        ) from None


def _cancel(queue: deque[tuple[Unit, Any, Any]]) -> None:
    for _, prep, write in queue:
        for future in (prep, write):
            if future is not None:
                future.cancel()


def _wait(future: Any) -> None:
    with contextlib.suppress(Exception):  # a timeout; or the task's error, told by _written
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
