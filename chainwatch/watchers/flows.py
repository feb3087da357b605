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
import functools
import itertools
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from chainwatch.classify import Classifier
from chainwatch.errors import ChainwatchError, InputError, WatcherError
from chainwatch.flows import detect, readers
from chainwatch.flows.ahead import ahead
from chainwatch.flows.inputs import (
    FlowInput,
    describe,
    head,
    list_inputs,
    spooled_stdin,
    unreadable,
)
from chainwatch.flows.nfdump_filter import FilterFile
from chainwatch.flows.readers import zeek_join
from chainwatch.match import Matched, match_batch
from chainwatch.match_many import match_many
from chainwatch.observations import Batch
from chainwatch.resolve import catalog_answers
from chainwatch.sensors.eve import EveReader
from chainwatch.sensors.signatures import signature_map
from chainwatch.store.ingest import Ingest, input_seen, resumed_input
from chainwatch.watchers import feeding, nfcapd_groups
from chainwatch.watchers import writing as writing_
from chainwatch.watchers.feeding import Begun
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
        self.unlisted: dict[str, InputError] = {}
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
                self.unlisted[str(each)] = exc  # one path of several: it fails alone
                found.append((each, str(each)))
        yield found

    def _classifier(self, ctx: ScanContext) -> Classifier:
        # Answers stored by earlier inputs and scans, and this scan's look-ups; each input's
        # own answers join them as it is read (``chainwatch.match``).
        answers = catalog_answers(
            ctx.watchlists.endpoints,
            ctx.store,
            ctx.scan_id,
            enabled=ctx.settings.resolve_hosts,
            now=ctx.now(),
        )
        return Classifier(
            ctx.watchlists.endpoints,
            ctx.settings.port_rules,
            answers=answers,
            horizon=ctx.settings.dns_horizon,
        )

    def _read_all(self, ctx: ScanContext, inputs: list[tuple[Path, str]]) -> WatcherResult:
        classifier = self._classifier(ctx)
        if ctx.cluster is not None and self.kind == "flows":  # --cluster: chainwatch.cluster
            from chainwatch.cluster.loop import read_on_cluster

            done = read_on_cluster(self, ctx, ctx.cluster, classifier, inputs)
            if done is not None:
                return done
        result = WatcherResult()
        failures: list[str] = []
        inputs = self._zeek_join(ctx, classifier, inputs)
        progress = self.progress_bar(ctx)

        def read_one(path: Path, name: str) -> None:
            self._read_one(ctx, classifier, path, name, result, progress)

        def store(group: nfcapd_groups.Group) -> None:
            self._store_group(ctx, classifier, group, result, progress)

        # nfcapd files in groups (one nfdump, one transaction each), then the other inputs
        grouped, rest = nfcapd_groups.split(inputs, self.unlisted.__contains__)

        match = functools.partial(
            match_many, fmt="nfcapd", matcher=ctx.matcher, classifier=classifier, source=self.name
        )
        nfdump = self._nfdump_filter.path
        groups = nfcapd_groups.read_groups(grouped, nfdump, ctx.settings.limits, match)
        reads: Iterator[Callable[[], None]] = itertools.chain(
            (read for group in groups for read in nfcapd_groups.reads(group, read_one, store)),
            (functools.partial(read_one, path, name) for path, name in rest),
        )
        with progress, contextlib.closing(groups):
            for read in reads:
                if ctx.should_stop():
                    break
                try:
                    read()
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

    def progress_bar(self, ctx: ScanContext) -> Progress:
        """The bar of the watcher's inputs (on a terminal only), also the cluster's."""
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=ctx.console,
            disable=not ctx.console.is_terminal,
            transient=True,
        )

    def _store_group(
        self,
        ctx: ScanContext,
        classifier: Classifier,
        group: nfcapd_groups.Group,
        result: WatcherResult,
        progress: Progress,
    ) -> None:
        """Store the readable inputs of a group read by one nfdump, in one transaction."""
        try:
            begun = self.store_inputs(ctx, classifier, group.readable, result, progress, group)
        except OSError as exc:  # a file vanished or went unreadable while it was hashed
            raise unreadable(group.inputs[0][1], exc) from None
        for one in begun:
            if one is not None:
                self.count(ctx, one, result)

    def _read_one(
        self,
        ctx: ScanContext,
        classifier: Classifier,
        path: Path,
        name: str,
        result: WatcherResult,
        progress: Progress,
    ) -> None:
        if name in self.unlisted:
            raise self.unlisted[name]
        try:
            begun = self.store_inputs(ctx, classifier, [(path, name)], result, progress)[0]
        except OSError as exc:  # the file vanished or went unreadable while it was read
            raise unreadable(name, exc) from None
        if begun is not None:  # else read before: skipped
            self.count(ctx, begun, result)

    def count(self, ctx: ScanContext, begun: Begun, result: WatcherResult) -> None:
        """Add a stored input's totals and problems to the result."""
        totals, name = begun.totals, begun.flow_input.name
        assert totals is not None
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
            if not totals.records and not begun.beyond_table:
                # Not one record could be used: the input failed, though it was read.
                result.partial = True
                result.problems.append(f"{name}: not one record could be used")
        self.summarise(ctx, name, result)

    def summarise(self, ctx: ScanContext, name: str, result: WatcherResult) -> None:
        """Add what a kind of input says beyond the counts, once it is stored (a hook)."""

    def store_inputs(
        self,
        ctx: ScanContext,
        classifier: Classifier,
        inputs: Sequence[tuple[Path, str]],
        result: WatcherResult,
        progress: Progress,
        group: nfcapd_groups.Group | None = None,
    ) -> list[Begun | None]:
        """Read inputs into the store in one transaction (``writing.write_unit``), each with
        its own ``inputs`` row, one after another, or all from an nfcapd ``group``: each one
        as stored, or None for one read before. One that fails fails them all."""
        # Hashed and told apart before the transaction: no other writer waits meanwhile.
        hashed = describe if group is None else group.describe  # a group's: hashed ahead
        described: list[tuple[Path, FlowInput, str]] = []
        for path, name in inputs:
            flow_input = hashed(path, name)
            described.append((path, flow_input, self.format_of(ctx, flow_input)))

        def matched(ready: Sequence[Begun]) -> Generator[tuple[int, Matched], None, None]:
            if group is None:
                return self._matched(ctx, classifier, ready, self._each(ctx, classifier, ready))
            # A group's batches, in memory, matched together when it was read (as nfcapd).
            claimed = [b.flow_input for b in ready]
            found = feeding.counted(ready, group.replay(claimed))
            if group.matched is not None and all(b.fmt == "nfcapd" for b in ready):
                return group.replay_matched(claimed, found)
            inputs = [(b.flow_input.name, b.fmt) for b in ready]
            return nfcapd_groups.matched(found, inputs, ctx.matcher, classifier, self.name)

        writing = self.writing(ctx, progress)
        begun = writing_.write_unit(
            writing,
            described,
            matched,
            resume=lambda ingest, flow_input, fmt: self.resume(ctx, ingest, flow_input, fmt),
        )
        result.counts["skipped"] += len(writing.skipped)
        return begun

    def writing(self, ctx: ScanContext, progress: Progress) -> writing_.Writing:
        """How this watcher's units are written in this scan (``chainwatch.watchers.writing``)."""
        return writing_.Writing(
            store=ctx.store,
            scan_id=ctx.scan_id,
            source=self.name,
            now=ctx.now,
            note=lambda text: ctx.console.print(text, markup=False, highlight=False),
            progress=progress,
            strict=ctx.strict,
            should_stop=ctx.should_stop,
        )

    def _each(
        self, ctx: ScanContext, classifier: Classifier, ready: Sequence[Begun]
    ) -> Generator[tuple[int, Batch], None, None]:
        """The batches of each claimed input in turn, each read once the one before is done."""
        for index, one in enumerate(ready):
            if zeek_join.is_sensor_log(one.fmt):  # known stored uids: in this transaction
                assert one.target is not None
                reader = self._join.batches(
                    one.flow_input, one.fmt, classifier, ctx.settings.limits, one.target.stored
                )
            else:
                reader = self.batches(ctx, one.flow_input, one.fmt, classifier)
            with contextlib.closing(feeding.indexed(reader)) as batches:
                for _, batch in batches:
                    yield index, batch

    def _matched(
        self,
        ctx: ScanContext,
        classifier: Classifier,
        begun: Sequence[Begun],
        batches: Iterator[tuple[int, Batch]],
    ) -> Generator[tuple[int, Matched], None, None]:
        """The batches matched in order, read in one thread and matched in another
        (``ahead``): numpy and Arrow release the GIL, so the two overlap (6% sooner)."""

        def match(item: tuple[int, Batch]) -> tuple[int, Matched]:
            index, batch = item
            one = begun[index]
            found = match_batch(
                batch,
                matcher=ctx.matcher,
                classifier=classifier,
                source=self.name,
                name=one.flow_input.name,
                fmt=one.fmt,
            )
            return index, found

        return ahead(ahead(feeding.counted(begun, batches), lambda each: each), match)

    def format_of(self, ctx: ScanContext, flow_input: FlowInput) -> str:
        """The input's format: the one configured, or the one its first bytes show."""

        def note(text: str) -> None:
            ctx.console.print(text, markup=False, highlight=False)

        return detect.format_of(self.config.format, flow_input, note)

    def resume(
        self, ctx: ScanContext, ingest: Ingest, flow_input: FlowInput, fmt: str
    ) -> FlowInput:
        """A text file that only grew since a round read it is read from where that round
        stopped (``writing.resumed``): a growing Zeek log is not read twice."""

        def note(text: str) -> None:
            ctx.console.print(text, markup=False, highlight=False)

        return writing_.resumed(note, ingest, flow_input, fmt)

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
                    flow_input = resumed_input(session.connection(), flow_input, fmt)
                log = zeek_join.read_verdicts(
                    flow_input, kind, fmt.endswith("-json"), classifier, ctx.settings.limits
                )
            except (ChainwatchError, OSError):
                continue
            self._join.learn(flow_input, log)
        return inputs

    def batches(
        self, ctx: ScanContext, flow_input: FlowInput, fmt: str, classifier: Classifier
    ) -> Iterator[Batch]:
        """The input's observation batches, read in format ``fmt``."""
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
