"""From the lines of a block to a ``Batch``: the plain path first, the exact path for the rest,
then the limits (``chainwatch.flows.limits``) and one text per address."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainwatch.flows import columns as cols
from chainwatch.flows import dialect
from chainwatch.flows.inputs import Lines
from chainwatch.flows.limits import Limits
from chainwatch.flows.readers.batch import Layout
from chainwatch.flows.readers.exact import exact_path, split, split_quoted, strings
from chainwatch.flows.readers.plain import plain, utf8_invalid
from chainwatch.observations import SCHEMA, Batch
from chainwatch.watchlists.addresses import canonical_ips


def convert(
    lines: Lines,
    layout: Layout,
    text: pa.Array | None = None,
    quoted: dialect.Quoted | None = None,
) -> Batch:
    """A batch from the ``lines`` of a block. ``text`` is the lines' text where it is not the
    lines themselves (Zeek JSON, re-joined as tab-separated fields); null where unreadable.
    ``quoted``: the block holds quotes, and ``lines`` are its records."""
    n = len(lines)
    if text is None:
        data, buffer, start, end = lines.data, pa.py_buffer(lines.block), lines.start, lines.end
        candidate = ~lines.nul & ~utf8_invalid(lines, buffer)
        if quoted is not None:
            candidate &= quoted.plain
    else:
        data, offsets = cols.dense(text)
        buffer = text.buffers()[2] or pa.py_buffer(b"")
        start, end = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
        candidate = ~lines.nul & np.asarray(text.is_valid().to_numpy(zero_copy_only=False))
    ok, arrays = plain(data, buffer, start, end, candidate, layout, quoted)
    problems = cols.Problems(n)
    rest = np.flatnonzero(~ok)
    if len(rest):
        unclosed = None
        if quoted is not None:
            fields, utf8_bad = split_quoted(lines.raw(rest), layout)
            unclosed = quoted.unclosed[rest]
        elif text is None:
            part, utf8_bad = strings(lines.raw(rest))
            fields = split(part, layout)
        else:
            part = text.take(pa.array(rest))
            utf8_bad = np.asarray(pc.is_null(part).to_numpy(zero_copy_only=False))
            fields = split(part, layout)
        exact, exact_arrays = exact_path(fields, utf8_bad, lines.nul[rest], layout, unclosed)
        # every check is of one row alone, and the plain path accepted no row any check
        # refuses: the exact path on these rows finds what it would have found on all
        problems.mask[rest] = exact.mask
        problems.reasons = {int(rest[row]): reason for row, reason in exact.reasons.items()}
        if len(rest) == n:
            arrays = exact_arrays
        else:
            mask = pa.array(~ok)
            arrays = {
                name: pc.replace_with_mask(arrays[name], mask, values)
                for name, values in exact_arrays.items()
            }
    _bounds(lines, arrays["ts"], problems, layout.limits)
    return _finish(lines, problems, arrays)


def _bounds(lines: Lines, ts: pa.Array, problems: cols.Problems, limits: Limits) -> None:
    """Rows the converters accepted that break a limit (``chainwatch.flows.limits``): too
    long a line, a time outside the window."""
    if len(lines) and len(lines.block) > limits.max_record_bytes:
        # Its length is a long line's reason whatever else is wrong with it, as when it
        # streamed past unread (``limits.Overlong``): the reason must not depend on blocks.
        long = np.flatnonzero((lines.end - lines.start) > limits.max_record_bytes)
        problems.mask[long] = True
        for row in long[:20].tolist():
            problems.reasons[row] = f"is longer than {limits.max_record_bytes:,} bytes"
    if len(ts):
        for wrong, reason in (
            (pc.less(ts, pa.scalar(limits.earliest, cols.UTC_US)), limits.too_early()),
            (pc.greater(ts, pa.scalar(limits.latest, cols.UTC_US)), limits.too_late()),
        ):
            mask = pc.fill_null(wrong, False).to_numpy(zero_copy_only=False)
            problems.add(np.asarray(mask, dtype=bool), reason)


def _finish(lines: Lines, problems: cols.Problems, arrays: dict[str, pa.Array]) -> Batch:
    n = len(lines)
    for side in ("src_ip", "dst_ip"):  # one text per address, whatever the log wrote
        arrays[side] = canonical_ips(arrays[side])
    table = pa.table(
        {name: arrays.get(name, pa.nulls(n, SCHEMA.field(name).type)) for name in SCHEMA.names},
        schema=SCHEMA,
    )
    good = ~problems.mask
    examples = [
        (int(lines.numbers[row]), reason) for row, reason in sorted(problems.reasons.items())
    ][:20]
    keep = np.flatnonzero(good)
    everything = len(keep) == n
    return Batch(
        table=table if everything else table.filter(pa.array(good)),
        lines=lines.numbers[keep],
        bad=n - len(keep),
        bad_examples=examples,
        block=lines.block,
        spans=np.column_stack((lines.start[keep], lines.end[keep])),
    )
