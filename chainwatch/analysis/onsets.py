"""Onsets: the first bucket of sustained activity after a silent baseline."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def find_onset(
    counts: npt.NDArray[np.int64], *, baseline: int, window: int, min_active: int
) -> int | None:
    """Index of the onset bucket, or None.

    The onset is the first active bucket ``i`` with at least ``baseline`` silent buckets right
    before it and at least ``min_active`` active buckets among ``i .. i+window-1``. Activity
    from the first bucket of the range has no baseline, so it gives no onset: the start is
    unknown, not the range's first day.
    """
    active = counts > 0
    n = len(active)
    if n == 0 or not active.any():
        return None
    # active buckets in [i, i+window): difference of a cumulative sum
    csum = np.concatenate([[0], np.cumsum(active)])
    ends = np.minimum(np.arange(n) + window, n)
    in_window = csum[ends] - csum[np.arange(n)]
    silent_before = csum[np.arange(n)] - csum[np.maximum(np.arange(n) - baseline, 0)] == 0
    ok = active & (np.arange(n) >= baseline) & silent_before & (in_window >= min_active)
    hits = np.flatnonzero(ok)
    return int(hits[0]) if len(hits) else None
