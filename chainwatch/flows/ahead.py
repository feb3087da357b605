"""Work done ahead of its consumer in a background thread, in bounded memory.

A flow scan has two halves that can overlap on two cores: reading and classifying the next
batch (mostly Arrow kernels, which release the GIL) and inserting the current one (SQLite
releases the GIL while it writes). ``ahead`` runs the first half in a thread, at most
``depth`` batches ahead, and hands the results over in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable
from typing import TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")
_END = object()


def ahead(
    items: Iterable[T], work: Callable[[T], R], *, depth: int = 2
) -> Generator[R, None, None]:
    """``work(item)`` for each item, computed in a background thread; the results, or the
    exception that ended the thread, arrive in order. Closing the iterator early stops the
    thread after its current item and closes ``items`` (a reader's subprocess ends with it)."""
    results: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: object, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                results.put((value, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(work(item)):
                    return
            put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            put(None, exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=run, name="chainwatch-ahead", daemon=True)
    thread.start()
    try:
        while True:
            value, error = results.get()
            if error is not None:
                raise error
            if value is _END:
                return
            yield cast(R, value)
    finally:
        stop.set()
        thread.join()
