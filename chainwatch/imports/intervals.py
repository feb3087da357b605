"""Validity windows merged into intervals, per key, as observations stream in.

Each observation of a key (a relay's address and port) is a window ``[start, end]`` in epoch
seconds: a consensus's ``valid-after`` to its ``valid-until``, an exit address's observed time
plus or minus a margin. Windows of one key that overlap, or lie no more than ``gap`` apart,
become one interval; a longer gap starts a new one. Documents usually come in time order
(CollecTor's archives are sorted), so the common case extends the key's last interval in
O(1); an observation out of order is placed by bisection and merged with its neighbours, so
the result does not depend on the order the files were given in.

Memory is per key and interval, not per observation: a year of hourly consensuses (57 million
router entries) is a few tens of thousands of keys with a handful of intervals each.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Intervals(Generic[K]):
    """Merged windows per key; ``tag`` (e.g. the source file of an interval's first
    observation) stays with the interval that starts with it."""

    def __init__(self, gap: int) -> None:
        self.gap = gap
        # key -> parallel lists of starts, ends and tags, sorted by start, never overlapping
        # closer than the gap.
        self._starts: dict[K, list[int]] = {}
        self._ends: dict[K, list[int]] = {}
        self._tags: dict[K, list[int]] = {}

    def __len__(self) -> int:
        return len(self._starts)

    def add(self, key: K, start: int, end: int, tag: int = 0) -> None:
        starts = self._starts.get(key)
        if starts is None:
            self._starts[key] = [start]
            self._ends[key] = [end]
            self._tags[key] = [tag]
            return
        ends = self._ends[key]
        tags = self._tags[key]
        if start >= starts[-1]:  # in order: extend the last interval or open a new one
            if start <= ends[-1] + self.gap:
                if end > ends[-1]:
                    ends[-1] = end
            else:
                starts.append(start)
                ends.append(end)
                tags.append(tag)
            return
        # Out of order: insert, then merge with the neighbours it now touches.
        at = bisect.bisect_right(starts, start)
        starts.insert(at, start)
        ends.insert(at, end)
        tags.insert(at, tag)
        if at > 0 and start <= ends[at - 1] + self.gap:
            at -= 1
            ends[at] = max(ends[at], ends[at + 1])
            del starts[at + 1], ends[at + 1], tags[at + 1]
        while at + 1 < len(starts) and starts[at + 1] <= ends[at] + self.gap:
            ends[at] = max(ends[at], ends[at + 1])
            del starts[at + 1], ends[at + 1], tags[at + 1]

    def items(self) -> Iterator[tuple[K, int, int, int]]:
        """Every ``(key, start, end, tag)``, keys in insertion order, intervals in time order."""
        for key, starts in self._starts.items():
            yield from zip(
                (key for _ in starts), starts, self._ends[key], self._tags[key], strict=True
            )
