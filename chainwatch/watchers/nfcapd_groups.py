"""nfcapd files read in groups: one nfdump process and one write transaction for several files.

A directory of five-minute nfcapd files holds hundreds of small inputs. Each read alone costs an
nfdump process and a transaction; read in groups (``chainwatch.flows.readers.nfcapd``), one
nfdump reads several files (the next group while the current one is stored) and one
transaction stores them, each input still with its own ``inputs`` row, records numbered within
its own file and events paired as one transaction per input would pair them.

A file nfdump cannot read fails alone, as it would read alone: the group's other inputs are
stored and the file is named. A group of one file (a big one) is streamed as any input is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from chainwatch.errors import ChainwatchError
from chainwatch.flows import detect
from chainwatch.flows.ahead import ahead
from chainwatch.flows.inputs import FlowInput, describe
from chainwatch.flows.limits import Limits
from chainwatch.flows.readers.nfcapd import GroupError, group_inputs, read_nfcapd_groups
from chainwatch.match import Matched, match_batch
from chainwatch.match_many import match_many
from chainwatch.observations import Batch

if TYPE_CHECKING:
    from chainwatch.classify import Classifier
    from chainwatch.watchlists.matcher import RangeMatcher

T = TypeVar("T")


def is_nfcapd(path: Path) -> bool:
    """Whether the file starts as an nfcapd file of a layout nfdump reads (gzip never is)."""
    try:
        with path.open("rb") as handle:
            return detect.readable_nfcapd(handle.read(4))
    except OSError:
        return False  # told when it is read alone


def split(
    inputs: Sequence[tuple[Path, str]], unlisted: Callable[[str], bool]
) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """The inputs to read in groups (nfcapd files, when there are several) and the rest."""
    found = [(p, n) for p, n in inputs if not unlisted(n) and n != "-" and is_nfcapd(p)]
    if len(found) < 2:
        return [], list(inputs)
    grouped = {n for _, n in found}
    return found, [(p, n) for p, n in inputs if n not in grouped]


#: Matches a group's batches ``(index into names, batch)`` of the inputs ``names`` (nfcapd).
Match = Callable[[Sequence[tuple[int, Batch]], Sequence[str]], list[tuple[int, Matched]]]


class Group:
    """One group as read: its inputs, the batches of those nfdump could read (whole, in
    memory, bounded by ``GROUP_BYTES``), and the errors of those it could not; given
    ``match``, those batches matched as nfcapd (``matched``, None for a streamed group); and
    with ``hash_ahead``, the readable inputs described (hashed) or why not (``described``)."""

    def __init__(
        self,
        inputs: Sequence[tuple[Path, str]],
        batches: Iterator[tuple[int, Batch]],
        match: Match | None = None,
        hash_ahead: bool = False,
    ) -> None:
        self.inputs = list(inputs)
        self.streamed = len(inputs) == 1  # read as any single input is, when it is stored
        self.items: list[tuple[int, Batch]] = []
        self.failed: dict[int, Exception] = {}
        self.matched: list[tuple[int, Matched]] | None = None
        self.described: dict[str, FlowInput | ChainwatchError | OSError] = {}
        if self.streamed:
            return
        try:
            for item in batches:
                self.items.append(item)
        except GroupError as exc:  # raised after every readable input's batches
            self.failed = dict(exc.failed)
        if match is not None:
            self.matched = match(self.items, [name for _, name in self.inputs])
        for path, name in self.readable if hash_ahead else ():
            try:
                self.described[name] = describe(path, name)
            except (ChainwatchError, OSError) as exc:  # raised when the input is stored
                self.described[name] = exc

    def describe(self, path: Path, name: str) -> FlowInput:
        """The input as described ahead (or why it could not be), else described now."""
        found = self.described.get(name)
        if isinstance(found, ChainwatchError | OSError):
            raise found
        return found if found is not None else describe(path, name)

    @property
    def readable(self) -> list[tuple[Path, str]]:
        return [each for k, each in enumerate(self.inputs) if k not in self.failed]

    def replay(self, ready: Sequence[FlowInput]) -> Iterator[tuple[int, Batch]]:
        """The batches of the ``ready`` inputs (those claimed: not read before), indexed into
        ``ready``."""
        yield from self._of(ready, self.items)

    def replay_matched(
        self, ready: Sequence[FlowInput], batches: Iterator[object]
    ) -> Generator[tuple[int, Matched], None, None]:
        """What ``matched`` holds of the ``ready`` inputs, indexed into ``ready``, once their
        ``batches`` (``replay``, counted as they go) have gone by."""
        assert self.matched is not None
        for _ in batches:
            pass
        yield from self._of(ready, self.matched)

    def _of(
        self, ready: Sequence[FlowInput], items: Sequence[tuple[int, T]]
    ) -> Iterator[tuple[int, T]]:
        at = {each.name: k for k, each in enumerate(ready)}
        for index, item in items:
            k = at.get(self.inputs[index][1])
            if k is not None:
                yield k, item


def read_groups(
    found: Sequence[tuple[Path, str]], filter_file: Path, limits: Limits, match: Match
) -> Generator[Group, None, None]:
    """The groups of ``found`` as nfdump reads them, each matched (``match``) and its inputs
    hashed (off the storing thread) while the one before is stored, and read by nfdump before
    that."""
    flow_inputs = [FlowInput(p, n, _size(p), "") for p, n in found]
    where = {each.name: k for k, each in enumerate(flow_inputs)}
    groups = group_inputs(flow_inputs)

    def group_of(read: tuple[Sequence[FlowInput], Iterator[tuple[int, Batch]]]) -> Group:
        group, batches = read
        return Group([found[where[each.name]] for each in group], batches, match, hash_ahead=True)

    yield from ahead(read_nfcapd_groups(groups, filter_file, limits), group_of, depth=1)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # vanished: nfdump fails on it, and it fails alone
        return 0


def reads(
    group: Group,
    read_one: Callable[[Path, str], None],
    store: Callable[[Group], None],
) -> Iterator[Callable[[], None]]:
    """What reading a group takes, one call per outcome: each unreadable input's error (it
    fails alone), then storing the others (``store``; a group of one is read as any input)."""
    for error in group.failed.values():
        yield functools.partial(_fail, error)
    if group.streamed:
        yield functools.partial(read_one, *group.inputs[0])
    elif group.readable:
        yield functools.partial(store, group)


def _fail(error: Exception) -> None:
    raise error


def matched(
    batches: Iterator[tuple[int, Batch]],
    inputs: Sequence[tuple[str, str]],
    matcher: RangeMatcher,
    classifier: Classifier,
    source: str,
) -> Generator[tuple[int, Matched], None, None]:
    """A group's batches ``(index into inputs, batch)`` of its inputs ``(name, format)``
    matched together (``match_many``: a group's files are small, and matching costs per
    batch); one by one where their formats differ."""
    items = list(batches)
    names = [name for name, _ in inputs]
    fmts = {fmt for _, fmt in inputs}
    if len(fmts) == 1:
        yield from match_many(
            items, names, fmts.pop(), matcher=matcher, classifier=classifier, source=source
        )
        return
    for k, batch in items:
        name, fmt = inputs[k]
        yield (
            k,
            match_batch(
                batch, matcher=matcher, classifier=classifier, source=source, name=name, fmt=fmt
            ),
        )
