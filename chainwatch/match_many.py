"""Matching the batches of many small inputs at once, with the result of matching each alone.

An nfcapd group holds dozens of five-minute files of a few thousand records each, and the match
stage costs about as much per batch as per thousand records (tens of Arrow calls, whatever the
rows). ``match_many`` joins a group's batches into one, matches it once, and cuts the result
back into one ``Matched`` per batch: every column the match stage computes is a function of its
row alone (addresses, ranges, catalogs, ports, keys, evidence), so each piece is what matching
its batch alone gives, rows and order included (a batch's classified records are sorted by
start with a stable sort, which a subset of the rows keeps).

Where that does not hold, the batches are matched one by one: batches that carry DNS answers
(the classifier learns them between batches), their own ``source_ref``s, or records the match
stage finds unusable (counted per batch with their lines).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainwatch.classify import Classifier
from chainwatch.flows.connection_keys import Connections
from chainwatch.match import Matched, match_batch
from chainwatch.observations import Batch
from chainwatch.watchlists.matcher import RangeMatcher


def match_many(
    items: Sequence[tuple[int, Batch]],
    names: Sequence[str],
    fmt: str,
    *,
    matcher: RangeMatcher,
    classifier: Classifier,
    source: str,
) -> list[tuple[int, Matched]]:
    """Match batches ``(index into names, batch)`` of inputs named ``names``, all in format
    ``fmt``, in order; as ``match_batch`` of each batch alone."""

    def alone() -> list[tuple[int, Matched]]:
        return [
            (
                k,
                match_batch(
                    b, matcher=matcher, classifier=classifier, source=source, name=names[k], fmt=fmt
                ),
            )
            for k, b in items
        ]

    batches = [b for _, b in items]
    if len(items) < 2 or not all(_joinable(b, batches[0]) for b in batches):
        return alone()
    joined, owner = _join(items, names)
    whole = match_batch(
        joined, matcher=matcher, classifier=classifier, source=source, name="", fmt=fmt
    )
    if whole.bad:  # unusable records are told per input, with their lines: one by one
        return alone()
    return [(k, piece) for (k, _), piece in zip(items, _cut(whole, batches, owner), strict=True)]


def _joinable(batch: Batch, first: Batch) -> bool:
    return (
        not batch.answers
        and batch.refs is None
        and batch.bad == 0
        and batch.spans is not None
        and batch.digests is None
        and batch.table.schema.equals(first.table.schema)
    )


def _join(items: Sequence[tuple[int, Batch]], names: Sequence[str]) -> tuple[Batch, np.ndarray]:
    """The batches as one, each row's ``source_ref`` its own input's ``name:line``; and each
    row's batch (its place in ``items``)."""
    blocks: dict[int, int] = {}  # id of a batch's block -> its offset in the joined block
    parts: list[bytes] = []
    at = 0
    for _, batch in items:
        if id(batch.block) not in blocks:
            blocks[id(batch.block)] = at
            parts.append(batch.block)
            at += len(batch.block)
    spans = np.concatenate([b.spans + blocks[id(b.block)] for _, b in items if b.spans is not None])
    lines = np.concatenate([b.lines for _, b in items])
    owner = np.repeat(np.arange(len(items)), [b.table.num_rows for _, b in items])
    named = pa.array([names[k] for k, _ in items], pa.string()).take(pa.array(owner))
    refs = pc.binary_join_element_wise(named, pc.cast(pa.array(lines), pa.string()), ":")
    table = pa.concat_tables([b.table for _, b in items])
    joined = Batch(table, lines, block=b"".join(parts), spans=spans, refs=refs.to_pylist())
    return joined, owner


def _cut(whole: Matched, batches: Sequence[Batch], owner: np.ndarray) -> list[Matched]:
    """``whole`` (the joined batches matched) as one ``Matched`` per batch."""
    first_row = np.concatenate([[0], np.cumsum([b.table.num_rows for b in batches])])
    frame_owner = owner[whole.rows]
    frame_at = np.searchsorted(frame_owner, np.arange(len(batches) + 1))  # rows are sorted
    chosen_owner = frame_owner[whole.chosen]
    pieces = []
    for k, batch in enumerate(batches):
        piece = Matched(
            records=batch.table.num_rows,
            bytes_read=batch.bytes_read,
            bad=batch.bad,
            bad_examples=list(batch.bad_examples),
        )
        pieces.append(piece)
        start, stop = int(frame_at[k]), int(frame_at[k + 1])
        if whole.frame is None or stop == start:
            continue
        piece.frame = whole.frame.slice(start, stop - start)
        piece.rows = whole.rows[start:stop] - first_row[k]
        mine = np.flatnonzero(chosen_owner == k)
        piece.classified = len(mine)
        if not len(mine):
            continue
        assert whole.connections is not None and whole.events is not None
        take = pa.array(mine)
        piece.chosen = whole.chosen[mine] - start
        piece.connections = _connections(whole.connections, take, mine)
        piece.events = whole.events.take(take)
    return pieces


def _connections(conns: Connections, take: pa.Array, rows: np.ndarray) -> Connections:
    return Connections(
        group=conns.group.take(take),
        key=conns.key.take(take),
        before=conns.before.take(take),
        after=conns.after.take(take),
        seconds=conns.seconds[rows],
    )
