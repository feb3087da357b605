"""Window merging (``chainwatch.imports.intervals``): any arrival order gives the intervals a
plain sort-and-sweep gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chainwatch.imports.intervals import Intervals

windows = st.lists(
    st.tuples(st.sampled_from("ab"), st.integers(0, 200), st.integers(0, 30)), max_size=40
)


def sweep(items: list[tuple[str, int, int]], gap: int) -> dict[str, list[tuple[int, int]]]:
    merged: dict[str, list[tuple[int, int]]] = {}
    for key, start, end in sorted(items):
        spans = merged.setdefault(key, [])
        if spans and start <= spans[-1][1] + gap:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return merged


@given(windows, st.integers(0, 20), st.randoms())
def test_any_order_merges_as_a_sweep(
    items: list[tuple[str, int, int]], gap: int, rng: object
) -> None:
    observed = [(key, start, start + length) for key, start, length in items]
    rng.shuffle(observed)  # type: ignore[attr-defined]
    intervals: Intervals[str] = Intervals(gap)
    for key, start, end in observed:
        intervals.add(key, start, end)
    got: dict[str, list[tuple[int, int]]] = {}
    for key, start, end, _ in intervals.items():
        got.setdefault(key, []).append((start, end))
    assert got == sweep(observed, gap)


def test_tag_stays_with_the_interval_it_starts() -> None:
    intervals: Intervals[str] = Intervals(gap=0)
    intervals.add("k", 100, 110, tag=2)
    intervals.add("k", 0, 10, tag=1)  # out of order: a new first interval
    intervals.add("k", 5, 105, tag=3)  # joins both
    assert list(intervals.items()) == [("k", 0, 110, 1)]
