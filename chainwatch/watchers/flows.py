"""Flow files: nfcapd (through nfdump), nfdump CSV, Zeek logs (conn, dns, ssl, http; TSV or
JSON), generic CSV.

Reads a file, a directory (every flow file in it, in name order; nfcapd's in-progress
``nfcapd.current.*`` skipped), gzip, or ``-`` (stdin). Each input is one transaction: it is
stored whole or not at all, and an input already read (same SHA-256 of its decoded bytes:
a ``.gz`` copy is the same input) is skipped, so a scan killed at any point and run again
stores exactly what one clean run does. An input that cannot be read (vanished, unreadable,
not in the format given) fails alone: it is named, not recorded as read, and the others are
read (the scan is partial, exit 3).

Zeek's dns, ssl and http logs among the inputs are read in the order and joined to conn.log
by uid as ``chainwatch.flows.readers.zeek_join`` describes.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Connection

from chainwatch.classify import Classifier
from chainwatch.errors import ChainwatchError, InputError, WatcherError
from chainwatch.flows import detect, readers
from chainwatch.flows.ahead import ahead
from chainwatch.flows.inputs import (
    FlowInput,
    describe,
    head,
    identity,
    is_gzip,
    list_inputs,
    sha256_of,
    spooled_stdin,
    unreadable,
)
from chainwatch.flows.nfdump_filter import FilterFile
from chainwatch.flows.pipeline import InputPipeline, InputTotals
from chainwatch.flows.readers import zeek_join
from chainwatch.resolve import catalog_answers
from chainwatch.sensors.eve import EveReader
from chainwatch.sensors.signatures import signature_map
from chainwatch.store.ingest import add_input, claim_input, input_seen, last_input, update_input
from chainwatch.store.pairing import EARLIEST, LATEST, known_keys, pair_alone
from chainwatch.watchers.interface import ScanContext, Watcher, WatcherResult

#: Malformed lines shown per input; the rest are counted.
SHOWN_BAD = 3


class FlowWatcher(Watcher):
    """Flow files: nfcapd (via nfdump), nfdump CSV, Zeek conn/dns/ssl/http logs, generic CSV."""

    kind = "flows"
    #: What a record that cannot be used is called in the summary.
    unusable = "malformed line"
    #: What the input files are called in errors, and what they may be.
    files = ("flow", "nfcapd, nfdump CSV, Zeek or CSV files")

    def run(self, ctx: ScanContext) -> WatcherResult:
        assert self.config.path is not None
        self._announced: set[str] = set()
        with self._inputs(ctx, self.config.path) as inputs, FilterFile(ctx.watchlists) as nf:
            self._nfdump_filter = nf
            return self._read_all(ctx, inputs)

    @contextlib.contextmanager
    def _inputs(self, ctx: ScanContext, path: Path) -> Iterator[list[tuple[Path, str]]]:
        self._unlisted: dict[str, InputError] = {}
        if str(path) == "-":
            with spooled_stdin() as spool:
                yield [(spool, "-")]
            return
        found: list[tuple[Path, str]] = []
        for each in (path, *self.config.paths):
            try:
                found += [(p, str(p)) for p in list_inputs(each, *self.files)]
            except InputError as exc:
                if not self.config.paths:
                    raise
                self._unlisted[str(each)] = exc  # one path of several: it fails alone
                found.append((each, str(each)))
        yield found

    def _read_all(self, ctx: ScanContext, inputs: list[tuple[Path, str]]) -> WatcherResult:
        result = WatcherResult()
        # Answers stored by earlier inputs and scans, and this scan's look-ups; each input's
        # own answers join them as it is read (``InputPipeline``).
        answers = catalog_answers(
            ctx.watchlists.endpoints,
            ctx.store,
            ctx.scan_id,
            enabled=ctx.settings.resolve_hosts,
            now=ctx.now(),
        )
        classifier = Classifier(
            ctx.watchlists.endpoints,
            ctx.settings.port_rules,
            answers=answers,
            horizon=ctx.settings.dns_horizon,
        )
        failures: list[str] = []
        inputs = self._zeek_join(ctx, classifier, inputs)
        progress = self._progress(ctx)
        with progress:
            for path, name in inputs:
                if ctx.should_stop():
                    break
                try:
                    self._read_one(ctx, classifier, path, name, result, progress)
                except ChainwatchError as exc:
                    if ctx.strict or len(inputs) == 1:
                        raise
                    failures.append(str(exc))
                    result.problems.append(str(exc))
        if failures:
            if len(failures) == len(inputs):
                raise WatcherError(self.name, f"no input could be read; first: {failures[0]}")
            result.partial = True
        return result

    def _progress(self, ctx: ScanContext) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=ctx.console,
            disable=not ctx.console.is_terminal,
            transient=True,
        )

    def _read_one(
        self,
        ctx: ScanContext,
        classifier: Classifier,
        path: Path,
        name: str,
        result: WatcherResult,
        progress: Progress,
    ) -> None:
        if name in self._unlisted:
            raise self._unlisted[name]
        try:
            stored = self._store_one(ctx, classifier, path, name, result, progress)
        except OSError as exc:  # the file vanished or went unreadable while it was read
            raise unreadable(name, exc) from None
        if stored is None:  # read before: skipped
            return
        totals, usable = stored
        counts = result.counts
        for key in ("watched", "classified", "stored", "bad"):
            counts[key] += getattr(totals, key)
        counts["read"] += totals.records + totals.bad
        if totals.bad:
            shown = [
                f"{name}:{line}: {reason}"
                for line, reason in sorted(totals.bad_examples)[:SHOWN_BAD]
            ]
            result.problems.extend(shown)
            result.problems.append(
                f"{name}: {totals.bad:,} {self.unusable}{'s' if totals.bad > 1 else ''} skipped"
            )
            if not totals.records and not usable.beyond_table:
                # Not one record could be used: the input failed, though it was read.
                result.partial = True
                result.problems.append(f"{name}: not one record could be used")

    def _store_one(
        self,
        ctx: ScanContext,
        classifier: Classifier,
        path: Path,
        name: str,
        result: WatcherResult,
        progress: Progress,
    ) -> tuple[InputTotals, _Usable] | None:
        """Read one input into the store in one transaction: its totals, or None when it was
        read before."""
        flow_input = describe(path, name)
        fmt = self._format(ctx, flow_input)
        counts = result.counts
        with ctx.store.write() as conn:
            taken = claim_input(conn, flow_input.sha256, ctx.scan_id)
            if taken is not None:  # already read, or being read by another scan right now
                counts["skipped"] += 1
                ctx.console.print(f"{name}: skipped, {taken}", markup=False, highlight=False)
                return None
            flow_input = self._resume(ctx, conn, flow_input, fmt)
            input_id = add_input(
                conn,
                path=flow_input.name if flow_input.name == "-" else identity(path),
                size=flow_input.size,
                sha256=flow_input.sha256,
                fmt=fmt,
                scan_id=ctx.scan_id,
                read_at=ctx.now(),
            )
            pipeline = InputPipeline(
                conn,
                matcher=ctx.matcher,
                classifier=classifier,
                source=self.name,
                name=name,
                fmt=fmt,
                input_id=input_id,
                scan_id=ctx.scan_id,
                now=ctx.now(),
            )
            task = progress.add_task(Path(name).name, total=flow_input.size)
            if zeek_join.is_sensor_log(fmt):  # known stored uids: in this transaction
                batches = self._join.batches(
                    flow_input, fmt, classifier, ctx.settings.limits, self._stored(conn)
                )
            else:
                batches = self._batches(ctx, flow_input, fmt, classifier)
            usable = _Usable(batches)
            # Closed at once when this input fails or stops: the reading thread (and nfdump
            # with it) ends here, not whenever the error's traceback is let go.
            with contextlib.closing(ahead(iter(usable), pipeline.prepare)) as prepared_batches:
                for prepared in prepared_batches:
                    if ctx.strict and prepared.bad:
                        line, reason = prepared.bad_examples[0]
                        raise InputError(name, reason, line=line)
                    pipeline.write(prepared)
                    progress.advance(task, prepared.bytes_read)
                    if ctx.should_stop():
                        raise WatcherError(
                            self.name, f"stopped while reading {name}; nothing of it was stored"
                        )
            pipeline.finish()
            totals = pipeline.totals
            update_input(
                conn, input_id, records=totals.records, watched=totals.watched, bad=totals.bad
            )
            progress.remove_task(task)
        return totals, usable

    def _format(self, ctx: ScanContext, flow_input: FlowInput) -> str:
        fmt = self.config.format
        if fmt == "auto":
            found = detect.detect(head(flow_input))
            if found is None:
                raise InputError(
                    flow_input.name,
                    "is not a flow format chainwatch knows",
                    line=1,
                    expected="nfcapd, nfdump CSV, a Zeek conn/dns/ssl/http log, Suricata eve.json "
                    "or CSV with a header (or give --format)",
                )
            if found == "nfcapd":
                detect.check_nfcapd(flow_input)
            ctx.console.print(
                f"{flow_input.name}: detected {detect.NAMES[found]}", markup=False, highlight=False
            )
            return found
        if fmt == "zeek":
            found = detect.detect(head(flow_input))
            return found if found is not None and found.startswith("zeek") else "zeek"
        if fmt == "nfcapd":
            detect.check_nfcapd(flow_input)
        return fmt

    def _resume(
        self, ctx: ScanContext, conn: Connection, flow_input: FlowInput, fmt: str
    ) -> FlowInput:
        """A text file that only grew since a round read it (its first bytes hash as they did
        then) is read from where that round stopped: a growing Zeek log is not read twice."""
        resumed = _resumed(conn, flow_input, fmt)
        if resumed.start:
            ctx.console.print(
                f"{flow_input.name}: grew since it was read; reading from byte {resumed.start:,}",
                markup=False,
                highlight=False,
            )
        return resumed

    def _zeek_join(
        self, ctx: ScanContext, classifier: Classifier, inputs: list[tuple[Path, str]]
    ) -> list[tuple[Path, str]]:
        """The inputs in reading order (Zeek dns logs first, ssl/http logs last), and, when
        conn.log comes with ssl/http logs, the verdicts of those not read yet learnt for the
        join (``zeek_join``). An input that cannot be looked at here fails when it is read."""
        self._join = zeek_join.Join()
        if self.kind != "flows" or self.config.format not in ("auto", "zeek") or len(inputs) < 2:
            return inputs
        kinds = [zeek_join.peek_kind(path, name) for path, name in inputs]
        inputs = [inputs[i] for i in zeek_join.order(kinds)]
        kinds = [kinds[i] for i in zeek_join.order(kinds)]
        if "conn" not in kinds:
            return inputs
        for (path, name), kind in zip(inputs, kinds, strict=True):
            if kind not in ("ssl", "http"):
                continue
            try:
                flow_input = describe(path, name)
                fmt = detect.detect(head(flow_input)) or ""  # said when it is stored
                with ctx.store.reading() as session:
                    if input_seen(session.connection(), flow_input.sha256) is not None:
                        continue
                    flow_input = _resumed(session.connection(), flow_input, fmt)
                log = zeek_join.read_verdicts(
                    flow_input, kind, fmt.endswith("-json"), classifier, ctx.settings.limits
                )
            except (ChainwatchError, OSError):
                continue
            self._join.learn(flow_input, log)
        return inputs

    def _batches(
        self, ctx: ScanContext, flow_input: FlowInput, fmt: str, classifier: Classifier
    ) -> Iterator[readers.Batch]:
        limits = ctx.settings.limits
        if fmt == "csv":
            return readers.read_csv(flow_input, limits)
        if fmt == "nfdump":
            return readers.read_nfdump_csv(flow_input, limits)
        if fmt == "zeek":
            return self._join.annotate(readers.read_zeek(flow_input, limits))
        if fmt == "zeek-json":
            return self._join.annotate(readers.read_zeek_json(flow_input, limits))
        if fmt == "nfcapd":
            return readers.read_nfcapd(flow_input, self._nfdump_filter.path, limits)
        if fmt == "eve":
            return EveReader(
                flow_input,
                classifier,
                signature_map(ctx.settings.suricata),
                limits,
                note=lambda text: ctx.console.print(text, markup=False, highlight=False),
            ).batches()
        raise InputError(
            flow_input.name,
            f"format {fmt!r} is not known",
            expected="auto, nfdump, nfcapd, zeek, csv, eve",
        )

    def _stored(self, conn: Connection) -> Callable[[Sequence[str]], set[str]]:
        """Which of some connection keys the source has stored (seen by this transaction,
        after concurrent scans of the source stored theirs)."""

        def stored(keys: Sequence[str]) -> set[str]:
            pair_alone(conn, self.name)
            return known_keys(conn, self.name, keys, since=EARLIEST, until=LATEST)

        return stored


def _resumed(conn: Connection, flow_input: FlowInput, fmt: str) -> FlowInput:
    """The input, to be read from where an earlier round stopped when it only grew since."""
    if flow_input.name == "-" or fmt == "nfcapd" or is_gzip(flow_input.path):
        return flow_input
    previous = last_input(conn, identity(flow_input.path))
    if previous is None or previous.size >= flow_input.size:
        return flow_input
    if sha256_of(flow_input.path, previous.size) != previous.sha256:
        return flow_input
    return dataclasses.replace(flow_input, start=previous.size)


class _Usable:
    """The batches of one input, counting the usable records the readers report beyond their
    tables' rows (``Batch.usable``), so that an input whose every record was bad is told from
    one whose good records were simply not watched."""

    def __init__(self, batches: Iterator[readers.Batch]) -> None:
        self.batches = batches
        self.beyond_table = 0

    def __iter__(self) -> Generator[readers.Batch, None, None]:
        try:
            for batch in self.batches:
                if batch.usable is not None:
                    self.beyond_table += max(batch.usable - batch.table.num_rows, 0)
                yield batch
        finally:  # closed early (an input failed or stops): the reader, and nfdump, end now
            close = getattr(self.batches, "close", None)
            if close is not None:
                close()
