"""``ahead``: results in order, errors raised where they are consumed, bounded look-ahead, and
an early stop that ends the thread and closes the source."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from chainwatch.flows.ahead import ahead


def test_results_in_order_computed_in_another_thread() -> None:
    threads: set[str] = set()

    def work(item: int) -> int:
        threads.add(threading.current_thread().name)
        return item * item

    assert list(ahead(range(1000), work)) == [i * i for i in range(1000)]
    assert threads == {"chainwatch-ahead"}


def test_an_error_arrives_after_the_results_before_it() -> None:
    def items() -> Iterator[int]:
        yield from range(5)
        raise ValueError("bad block at line 6")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad block at line 6"):
        for value in ahead(items(), lambda i: i):
            got.append(value)
    assert got == [0, 1, 2, 3, 4]


def test_work_stays_at_most_depth_ahead_and_an_early_stop_closes_the_source() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            for i in range(100):
                produced.append(i)
                yield i
        finally:
            closed.set()

    results = ahead(items(), lambda i: i, depth=2)
    assert next(results) == 0
    # Wait until the thread is blocked on the full queue: 0 handed over, 2 waiting, 1 in hand.
    for _ in range(200):
        if len(produced) >= 4:
            break
        time.sleep(0.01)
    time.sleep(0.2)  # and it goes no further
    assert len(produced) == 4
    results.close()  # the consumer stops early (an error in the scan, a stop request)
    assert closed.is_set()
    assert not any(t.name == "chainwatch-ahead" for t in threading.enumerate())
