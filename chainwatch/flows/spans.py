"""The fast, plain field converters: a field read straight from the bytes of a block
(``Spans``), accepting only the rows whose value is certain at a glance (digits only; nothing
but spaces to trim; a time in a layout already checked). The readers run these on every row
and the exact converters of ``chainwatch.flows.columns`` on the rows they did not accept, which
gives the same values and reasons as the exact ones alone, in far fewer passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chainwatch.flows.columns import (
    TIME_LAYOUTS,
    UTC_US,
    as_mask,
    dense,
    parse_time,
    protocol,
    with_validity,
)

_EMPTY_MARK = np.frombuffer(b"(empty)", dtype=np.uint8)
_PAD = 64  # spaces trimmed at most from each end of a field; a field with more goes the exact way


def _spaces(data: np.ndarray, start: np.ndarray, end: np.ndarray, *, backwards: bool) -> np.ndarray:
    """How many spaces each field ``data[start:end]`` begins with (or, ``backwards``, ends
    with), counting up to ``_PAD``."""
    width = int(min(_PAD, (end - start).max(initial=0), len(data)))
    count = np.zeros(len(start), dtype=np.int64)
    if width == 0:
        return count
    at = end - width if backwards else start
    inside = (at >= 0) & (at + width <= len(data))
    windows = np.lib.stride_tricks.sliding_window_view(data, width)[at[inside]] == 32
    if backwards:
        windows = windows[:, ::-1]
    run = np.where(windows.all(axis=1), width, windows.argmin(axis=1))
    count[inside] = np.minimum(run, (end - start)[inside])
    return count


@dataclass
class Spans:
    """One field of many rows, as byte ranges of a block: ``data[start[i]:end[i]]`` is row
    ``i``'s field (``buffer`` is the same bytes, for Arrow). Ranges are in ascending order
    and do not overlap."""

    data: np.ndarray
    buffer: pa.Buffer
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @cached_property
    def length(self) -> np.ndarray:
        return np.asarray(self.end - self.start)

    @cached_property
    def first(self) -> np.ndarray:
        """Each field's first byte (any byte for an empty field)."""
        if not len(self.data):
            return np.zeros(len(self), np.uint8)
        if len(self) and self.start[-1] >= len(self.data):  # an empty field at the very end
            return np.asarray(self.data[np.minimum(self.start, len(self.data) - 1)])
        return np.asarray(self.data[self.start])

    @cached_property
    def last(self) -> np.ndarray:
        """Each field's last byte (any byte for an empty field)."""
        if not len(self.data):
            return self.first
        return np.asarray(self.data[np.maximum(self.end - 1, 0)])

    @cached_property
    def missing(self) -> np.ndarray:
        """Fields that are exactly a missing marker (empty, ``-``, ``(empty)``)."""
        length, first = self.length, self.first
        out = (length == 0) | ((length == 1) & (first == ord("-")))
        maybe = np.flatnonzero((length == len(_EMPTY_MARK)) & (first == ord("(")))
        if len(maybe):
            window = self.data[self.start[maybe][:, None] + np.arange(len(_EMPTY_MARK))]
            out[maybe[(window == _EMPTY_MARK).all(axis=1)]] = True
        return np.asarray(out)

    @cached_property
    def printable_ends(self) -> np.ndarray:
        """Fields that begin and end with printable ASCII other than space: nothing to trim."""
        return np.asarray((self.length > 0) & ((self.first - 33) <= 93) & ((self.last - 33) <= 93))

    def trimmed(self) -> Spans:
        """The fields without the spaces around them, as ``text`` would trim them (it trims
        any white space: fields with other white space at an end are refused later, their
        ends not being printable). nfdump pads its columns with spaces."""
        lead, trail = self.first == 32, self.last == 32
        if not lead.any() and not trail.any():
            return self
        leading = np.flatnonzero(lead & (self.length > 0))
        trailing = np.flatnonzero(trail & (self.length > 0))
        start, end = self.start.copy(), self.end.copy()
        start[leading] += _spaces(self.data, start[leading], end[leading], backwards=False)
        trailing = trailing[end[trailing] > start[trailing]]
        end[trailing] -= _spaces(self.data, start[trailing], end[trailing], backwards=True)
        return Spans(self.data, self.buffer, start, end)

    def _spread(self, kind: pa.DataType) -> pa.Array:
        """Every field and every gap between two as an element (so that the offsets rise, as
        Arrow requires): the fields are the even elements. No bytes are copied."""
        offsets = np.empty(2 * len(self), dtype=np.int32)
        offsets[0::2] = self.start
        offsets[1::2] = self.end
        return pa.Array.from_buffers(
            kind, 2 * len(self) - 1, [None, pa.py_buffer(offsets), self.buffer]
        )

    def array(self, valid: np.ndarray, kind: pa.DataType | None = None) -> pa.Array:
        """The fields as an Arrow array (string unless ``kind``), null where not ``valid``.
        Valid fields must be UTF-8 for a string array: the caller knows which are."""
        n = len(self)
        kind = pa.string() if kind is None else kind
        if n == 0:
            return pa.array([], kind)
        nulls = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
        picks = pa.Array.from_buffers(pa.int64(), n, [nulls, pa.py_buffer(np.arange(0, 2 * n, 2))])
        return self._spread(kind).take(picks)

    def integers(self, valid: np.ndarray) -> pa.Array:
        """The fields at ``valid`` read by Arrow's integer parser straight from the block,
        without copying them out first; null elsewhere. Raises ArrowInvalid as the cast does."""
        n = len(self)
        if n == 0:
            return pa.array([], pa.int64())
        every = np.zeros(2 * n - 1, dtype=bool)
        every[0::2] = valid
        cast = pc.cast(with_validity(self._spread(pa.string()), every), pa.int64())
        values = np.frombuffer(cast.buffers()[1], np.int64)[cast.offset :][0 : 2 * n - 1 : 2]
        nulls = pa.py_buffer(np.packbits(valid, bitorder="little"))
        return pa.Array.from_buffers(pa.int64(), n, [nulls, pa.py_buffer(values.copy())])


def plain_text(spans: Spans, rows: np.ndarray, *, required: bool) -> tuple[np.ndarray, pa.Array]:
    """``text`` for the ``rows`` whose field is missing (null; refused if ``required``) or has
    nothing to trim: the rows it accepts, and their values."""
    spans = spans.trimmed()
    value = rows & spans.printable_ends & ~spans.missing
    accepted = value if required else value | (rows & spans.missing)
    return accepted, spans.array(value)


def plain_integer(
    spans: Spans, rows: np.ndarray, *, maximum: int | None = None
) -> tuple[np.ndarray, pa.Array]:
    """``integer`` for the ``rows`` whose field is missing or 1 to 18 digits (not above
    ``maximum``)."""
    spans = spans.trimmed()
    length, first = spans.length, spans.first
    digits = rows & (length >= 1) & (length <= 18) & ((first - 48) <= 9)  # uint8: wraps
    hexadecimal = np.flatnonzero(digits & (first == ord("0")) & (length > 2))
    if len(hexadecimal):
        second = spans.data[spans.start[hexadecimal] + 1] | 0x20  # lower case
        digits[hexadecimal[second == ord("x")]] = False
    try:
        # Arrow's parser takes a field that starts with a digit but not with "0x" only if it
        # is all digits (it knows no "+", spaces or separators), and fails the whole cast
        # otherwise: then the fields are copied out and looked at.
        values = spans.integers(digits)
    except pa.ArrowInvalid:
        text = spans.array(digits)
        data, offsets = dense(text)
        other = np.flatnonzero((data - 48) > 9)
        digits[np.searchsorted(offsets, other, side="right") - 1] = False
        values = pc.cast(with_validity(text, digits), pa.int64())
    if maximum is not None:
        raw = np.frombuffer(values.buffers()[1], np.int64)[values.offset :][: len(values)]
        digits &= ~(raw > maximum)  # the exact converter gives these their reason
    return digits | (rows & spans.missing), values


_LAYOUT_RES = {kind: re.compile(pattern.encode()) for kind, pattern in TIME_LAYOUTS.items()}


def plain_time(
    spans: Spans, rows: np.ndarray, *, naive_is_utc: bool
) -> tuple[np.ndarray, pa.Array]:
    """``timestamp`` for the ``rows`` whose field is in one of a few layouts seen in the batch.

    A layout is a field with its digits blanked ("0000000000.000000", "0000-00-00T00:00:00Z").
    One matching a time pattern matches every field of its length whose digits are where its
    digits are and whose other bytes are its own, as the patterns spell every digit ``\\d``: so
    a batch is checked with a few comparisons over a matrix of its bytes, not a regex per row.
    """
    spans = spans.trimmed()
    n, length = len(spans), spans.length
    kinds = ["epoch", "zoned", *(["naive"] if naive_is_utc else [])]
    candidate = rows & (length >= 1) & (length <= 64)
    text = spans.array(candidate)
    data, offsets = dense(text)
    found = np.zeros(n, dtype=np.int8)  # 1 + index in kinds; 0: none yet
    todo = candidate.copy()
    for _ in range(8):  # a file keeps to one or two layouts; a few more are cheap to try
        left = np.flatnonzero(todo)
        if not len(left):
            break
        sample = data[offsets[left[0]] : offsets[left[0] + 1]]
        digit = (sample - 48) <= 9
        layout = np.where(digit, 48, sample).astype(np.uint8)
        code = next(
            (i + 1 for i, k in enumerate(kinds) if _LAYOUT_RES[k].match(layout.tobytes())), 0
        )
        if not code:
            todo[left[0]] = False  # left to the patterns below
            continue
        same = left[length[left] == len(sample)]
        if len(same) == n - text.null_count:  # every field has this length: the bytes as is
            matrix = data[offsets[same[0]] : offsets[same[0]] + len(same) * len(sample)]
            matrix = matrix.reshape(len(same), len(sample))
        else:
            rows_of = np.lib.stride_tricks.sliding_window_view(data, len(sample))
            matrix = rows_of[offsets[same]]
        shifted = matrix - layout  # digits become 0-9 (others wrap to 10-255), the rest 0
        span = np.where(digit, 9, 0).astype(np.uint8)
        wrong = shifted > span
        if wrong.any():
            same = same[~wrong.any(axis=1)]
        found[same] = code
        todo[same] = False
    left = np.flatnonzero(todo)
    if len(left):  # layouts not tried above: the patterns themselves, on these rows only
        part = text.take(pa.array(left))
        for code, kind in enumerate(kinds, 1):
            hit = as_mask(pc.match_substring_regex(part, TIME_LAYOUTS[kind]))
            found[left[hit & (found[left] == 0)]] = code
    parts = []
    for code, kind in enumerate(kinds, 1):
        hit = found == code
        if hit.any():
            try:
                parts.append(parse_time(with_validity(text, hit), kind))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                found[hit] = 0  # an impossible date among them: the exact converter finds it
    values = (
        pa.nulls(n, UTC_US) if not parts else parts[0] if len(parts) == 1 else pc.coalesce(*parts)
    )
    return found > 0, values


def plain_protocol(spans: Spans, rows: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """``protocol`` for the ``rows`` that ``plain_text`` accepts, converting each distinct
    value once."""
    accepted, text = plain_text(spans, rows, required=False)
    encoded = pc.dictionary_encode(text)
    return accepted, protocol(encoded.dictionary).take(encoded.indices)
