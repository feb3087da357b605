"""Stopping on SIGINT and SIGTERM between batches, never in the middle of a write.

Python's own SIGINT raises ``KeyboardInterrupt`` wherever the main thread happens to be, for
example inside sqlite3's ``executemany``: SQLAlchemy then drops the connection without closing
it, the input's write lock stays held until garbage collection, and the scan's bookkeeping
write fails with "database is locked". SIGTERM's default ends the process without a word and
leaves the scan row ``running``. So ``chainwatch scan`` and ``chainwatch run`` install these
handlers instead:

- the first signal only sets a ``StopFlag``. Watchers poll it between batches (``ScanContext.
  should_stop``); the input in hand is rolled back through the ordinary exception path, which
  closes its connection, so the scan can then be recorded as ``interrupted`` and the command
  exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM);
- a second signal means "now": the process ends at once, as ``kill -9`` would. The database
  discards the open transaction, and the next scan marks the scan row ``interrupted``.

A process started with a signal ignored (a background job of a non-interactive shell ignores
SIGINT) keeps it ignored, as Python's own handler does.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals that ask chainwatch to stop.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def exit_status(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + signum


class StopFlag:
    """A stop asked for by a signal: set once (the first signal wins), read from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None

    def request(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    @property
    def name(self) -> str:
        """The signal's name (``SIGTERM``), for messages; only meaningful once set."""
        return signal_name(self.signum or signal.SIGTERM)

    @property
    def exit_status(self) -> int:
        return exit_status(self.signum or signal.SIGTERM)


def _now(signum: int) -> None:
    name = signal_name(signum)
    sys.stderr.write(
        f"chainwatch: second {name}: stopping at once; the database discards the input being "
        "written, and the next scan marks this one interrupted\n"
    )
    sys.stderr.flush()
    os._exit(exit_status(signum))


Handler = Callable[[int, FrameType | None], None]


@contextmanager
def signal_handlers(handler: Handler) -> Iterator[None]:
    """While inside, ``handler`` receives SIGINT and SIGTERM; the previous handlers come back
    after. Outside the main thread (where Python cannot install handlers) this does nothing;
    a signal the process was started with ignored stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        sig: signal.signal(sig, handler)
        for sig in SIGNALS
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[StopFlag]:
    """While inside, SIGINT and SIGTERM set ``flag``; a second one ends the process at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.is_set():
            _now(signum)
        flag.request(signum)

    with signal_handlers(handler):
        yield flag
