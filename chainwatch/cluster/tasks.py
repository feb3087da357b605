"""The functions a worker runs (module-level, so that a ``dask worker`` started by hand imports
them): ``prepare`` reads, matches and classifies a unit without the database; ``write`` stores
a prepared unit in its own transaction, as a one-process scan would have (the shared
``chainwatch.watchers.writing``), after the unit before it; ``write_decided`` stores a unit
decided beforehand (``chainwatch.cluster.decide``) beside the others, committing in order.
A unit's errors travel back as text: the client says them as a one-process scan does, and a
failed unit does not break the chain of writes after it.

Run again (Dask re-runs the tasks of a worker that died), ``prepare`` reads the unit again,
and ``write`` either finds its transaction rolled back (its connection died with it) and
stores the unit, or finds the unit's inputs stored by this scan from the same paths and
reports them as stored (``Writing.rerun``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.progress import Progress
from sqlalchemy.engine import make_url

from chainwatch.cluster.decide import Decided, Order, Redo, Stopped
from chainwatch.cluster.shipped import Shipped
from chainwatch.cluster.units import Unit, size_of
from chainwatch.errors import ChainwatchError, InputError
from chainwatch.flows import detect, ranges, readers
from chainwatch.flows.inputs import FlowInput, describe, unreadable
from chainwatch.flows.readers import zeek_join
from chainwatch.flows.readers.nfcapd import read_nfcapd_group
from chainwatch.match import Matched, match_batch
from chainwatch.observations import Batch
from chainwatch.store.db import Store, open_store
from chainwatch.watchers import nfcapd_groups, writing
from chainwatch.watchers.feeding import Begun
from chainwatch.watchers.interface import utcnow

#: This process's stores, by URL (a worker writes many units of many scans).
_STORES: dict[str, Store] = {}


@dataclass
class Prepared:
    """A unit read and matched: its readable inputs ``(path, input, format)``, their matched
    batches ``(index into described, Matched)`` in order, the usable records each reader
    reported beyond its tables, what to tell (``notes``) and the errors of inputs that
    failed (each as a one-process scan words it)."""

    unit: Unit
    described: list[tuple[Path, FlowInput, str]] = field(default_factory=list)
    matched: list[tuple[int, Matched]] = field(default_factory=list)
    beyond: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: a large text input's pieces (``plan``), each read by its own task (``prepare_piece``)
    pieces: list[FlowInput] = field(default_factory=list)


@dataclass
class Piece:
    """A piece of an input read and matched (``matched`` indexed 0), or its error."""

    matched: list[tuple[int, Matched]] = field(default_factory=list)
    beyond: int = 0
    failure: str | None = None


@dataclass
class Written:
    """A unit as written: each described input begun (``totals`` set; ``target`` None) or
    None when it was read before, what to tell, and the errors."""

    unit: Unit
    begun: list[Begun | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: not written: an earlier unit failed under ``--strict``, which ends the scan there
    halted: bool = False


def prepare(unit: Unit, shipped: Shipped) -> Prepared:
    """Read, match and classify a unit (no database)."""
    prepared = Prepared(unit)
    try:
        if unit.group:
            _prepare_group(prepared, shipped)
        else:
            path, name = unit.inputs[0]
            try:
                flow_input = describe(path, name)
                fmt = detect.format_of(shipped.fmt, flow_input, prepared.notes.append)
                prepared.described = [(path, flow_input, fmt)]
                prepared.beyond = [0]
                read = batches(shipped, flow_input, fmt)
                prepared.matched = list(_match(shipped, prepared, 0, read))
            except OSError as exc:
                raise unreadable(name, exc) from None
    except ChainwatchError as exc:
        prepared.failures.append(str(exc))
        prepared.described, prepared.matched = [], []
    return prepared


def plan(unit: Unit, shipped: Shipped) -> Prepared:
    """A large text input, described and cut into pieces of about ``shipped.piece_bytes``
    (``chainwatch.flows.ranges``: one piece when it cannot be cut), read by then."""
    prepared = Prepared(unit)
    path, name = unit.inputs[0]
    try:
        try:
            flow_input = describe(path, name)
            fmt = detect.format_of(shipped.fmt, flow_input, prepared.notes.append)
            prepared.pieces = ranges.split(flow_input, fmt, target=shipped.piece_bytes)
        except OSError as exc:
            raise unreadable(name, exc) from None
        prepared.described = [(path, flow_input, fmt)]
        prepared.beyond = [0]
    except ChainwatchError as exc:
        prepared.failures.append(str(exc))
    return prepared


def prepare_piece(planned: Prepared, index: int, shipped: Shipped) -> Piece:
    """Read and match piece ``index`` of a planned input."""
    piece = Piece()
    own = Prepared(planned.unit, planned.described, beyond=[0])
    _, flow_input, fmt = planned.described[0]
    try:
        try:
            read = batches(shipped, planned.pieces[index], fmt)
            piece.matched = list(_match(shipped, own, 0, read))
        except OSError as exc:
            raise unreadable(flow_input.name, exc) from None
    except ChainwatchError as exc:
        piece.failure = str(exc)
    piece.beyond = own.beyond[0]
    return piece


def combine(planned: Prepared, pieces: Sequence[Piece]) -> Prepared:
    """A planned input as one prepared unit: its pieces' batches in order (the input fails
    whole when a piece failed, as a read of it all would)."""
    failed = [piece.failure for piece in pieces if piece.failure is not None]
    if failed or planned.failures:
        failures = planned.failures or failed[:1]
        return Prepared(planned.unit, notes=planned.notes, failures=failures)
    matched = [item for piece in pieces for item in piece.matched]
    beyond = [sum(piece.beyond for piece in pieces)]
    return Prepared(planned.unit, planned.described, matched, beyond, planned.notes)


def _prepare_group(prepared: Prepared, shipped: Shipped) -> None:
    """An nfcapd group: read by one nfdump; an input nfdump cannot read fails alone."""
    unit = prepared.unit
    found = [FlowInput(path, name, size_of(path), "") for path, name in unit.inputs]
    group = nfcapd_groups.Group(
        unit.inputs, read_nfcapd_group(found, shipped.filter_file(), shipped.limits)
    )
    prepared.failures += [str(error) for error in group.failed.values()]
    readable = group.readable
    try:
        for path, name in readable:
            flow_input = describe(path, name)
            fmt = detect.format_of(shipped.fmt, flow_input, prepared.notes.append)
            prepared.described.append((path, flow_input, fmt))
    except OSError as exc:  # as one process: the group's stored inputs fail together
        raise unreadable(unit.inputs[0][1], exc) from None
    prepared.beyond = [0] * len(readable)
    at = {name: k for k, (_, name) in enumerate(readable)}
    items = [(at[unit.inputs[index][1]], batch) for index, batch in group.items]
    for k, batch in items:
        if batch.usable is not None:
            prepared.beyond[k] += max(batch.usable - batch.table.num_rows, 0)
    inputs = [(each.name, fmt) for _, each, fmt in prepared.described]
    prepared.matched += nfcapd_groups.matched(
        iter(items), inputs, shipped.matcher, shipped.classifier, shipped.source
    )


def batches(shipped: Shipped, flow_input: FlowInput, fmt: str) -> Iterator[Batch]:
    """One input's batches in format ``fmt`` (the formats a cluster reads)."""
    limits = shipped.limits
    if fmt == "csv":
        return readers.read_csv(flow_input, limits)
    if fmt == "nfdump":
        return readers.read_nfdump_csv(flow_input, limits)
    if fmt == "zeek":
        return zeek_join.Join().annotate(readers.read_zeek(flow_input, limits))
    if fmt == "zeek-json":
        return zeek_join.Join().annotate(readers.read_zeek_json(flow_input, limits))
    if fmt == "nfcapd":
        return readers.read_nfcapd(flow_input, shipped.filter_file(), limits)
    raise InputError(
        flow_input.name,
        f"format {fmt!r} is not read on a cluster",
        expected="nfcapd, nfdump CSV, Zeek conn logs or CSV",
    )


def _match(
    shipped: Shipped, prepared: Prepared, index: int, found: Iterator[Batch]
) -> Generator[tuple[int, Matched], None, None]:
    _, flow_input, fmt = prepared.described[index]
    for batch in found:
        if batch.usable is not None:
            prepared.beyond[index] += max(batch.usable - batch.table.num_rows, 0)
        yield (
            index,
            match_batch(
                batch,
                matcher=shipped.matcher,
                classifier=shipped.classifier,
                source=shipped.source,
                name=flow_input.name,
                fmt=fmt,
            ),
        )


def write(prepared: Prepared, previous: object, shipped: Shipped) -> Written:
    """Store a prepared unit on this worker (its own store), after the unit before it
    (``previous``: that unit's write). Under ``--strict`` a failure ends the scan, so no
    unit after a failed one is written (the client stops at the failure)."""
    if shipped.strict and isinstance(previous, Written) and (previous.halted or previous.failures):
        return Written(prepared.unit, halted=True)
    return write_with(worker_store(shipped.db), prepared, shipped)


def write_decided(prepared: Prepared, decided: Decided, shipped: Shipped) -> Written:
    """Store a decided unit on this worker, beside the units before it, committing after them
    (``chainwatch.cluster.decide``); again from the store, after them, when what it decided
    does not hold (``Redo``)."""
    store = worker_store(shipped.db)
    order = Order(decided)
    exact = False
    try:
        if decided.serial:  # an input's content is in a unit before: claimed after it
            order.wait()
        try:
            written = write_with(store, prepared, shipped, decided, order)
            exact = not written.failures or not decided.landed.keys
        except Redo:
            written = write_with(store, prepared, shipped, None, order)
        return written
    except Stopped:  # rolled back: the scan is over, nobody reads this
        return Written(prepared.unit, halted=True)
    finally:
        order.ended(exact)  # after the unit before it ended, always: the next one waits


def write_with(
    store: Store,
    prepared: Prepared,
    shipped: Shipped,
    decided: Decided | None = None,
    order: Order | None = None,
) -> Written:
    """Store a prepared unit in one transaction of ``store`` (the client does it on SQLite),
    with what was ``decided`` for it (else deciding as it goes), in its ``order`` when the scan
    holds the pairing lock for its units."""
    written = Written(prepared.unit, notes=list(prepared.notes), failures=list(prepared.failures))
    if not prepared.described:
        return written
    described = [each.name for _, each, _ in prepared.described]

    def settle(ready: Sequence[Begun]) -> None:
        if order is not None:
            order.wait()
            if decided is not None:
                order.check([b.flow_input.name for b in ready], described)

    how = writing.Writing(
        store=store,
        scan_id=shipped.scan_id,
        source=shipped.source,
        now=utcnow,
        note=written.notes.append,
        progress=Progress(disable=True),
        strict=shipped.strict,
        rerun=True,
        paired=order is not None,
        before_rollups=order.wait if order is not None else lambda: None,
        settle=settle,
    )
    names = {each.name: k for k, (_, each, _) in enumerate(prepared.described)}

    def matched(ready: Sequence[Begun]) -> Generator[tuple[int, Matched], None, None]:
        at = {names[b.flow_input.name]: k for k, b in enumerate(ready)}
        for b in ready:
            b.beyond_table = prepared.beyond[names[b.flow_input.name]]
        if len(ready) == 1 and ready[0].flow_input.start:  # a grown file, resumed: read here
            if decided is not None:  # not what was decided: decide from the store, in order
                raise Redo
            one = ready[0]
            again = Prepared(prepared.unit, [(Path(), one.flow_input, one.fmt)], beyond=[0])
            yield from _match(shipped, again, 0, batches(shipped, one.flow_input, one.fmt))
            one.beyond_table = again.beyond[0]
            return
        for k, (index, each) in enumerate(prepared.matched):
            if index in at:
                yield at[index], each if decided is None else replace(each, keep=decided.keep[k])

    try:
        begun = writing.write_unit(how, prepared.described, matched)
        # What travels back is the counts: the transaction's objects stay here.
        written.begun = [None if b is None else dataclasses.replace(b, target=None) for b in begun]
    except OSError as exc:  # as one process: the unit fails whole
        written.failures.append(str(unreadable(prepared.described[0][1].name, exc)))
    except ChainwatchError as exc:
        written.failures.append(str(exc))
    return written


def worker_store(public: str) -> Store:
    """This worker's store of the database ``public`` (a URL without password) names: the
    worker's own ``CHAINWATCH_DB`` when set (which must name the same database), else
    ``public``."""
    own = os.environ.get("CHAINWATCH_DB") or public
    if own != public:
        mine, theirs = make_url(own), make_url(public)
        same = ("drivername", "host", "port", "database", "query")
        if any(getattr(mine, key) != getattr(theirs, key) for key in same):
            raise ChainwatchError(
                f"--cluster: this worker's CHAINWATCH_DB names another database than the scan's "
                f"({make_url(own).render_as_string(hide_password=True)} here, {public} there); "
                "expected the same host, port and database"
            )
    store = _STORES.get(own)
    if store is None:
        store = _STORES[own] = open_store(own)
    return store
