"""Errors for people, and the exit statuses of the command line.

Every error chainwatch raises on purpose is a ``ChainwatchError``. Subclasses build a one-line
message from fields (what was wrong, where, what was expected, what to do); the CLI prints
``str(error)`` and exits with ``error.exit_status``. Tracebacks only appear with ``--traceback``.
"""

from __future__ import annotations

import enum
import signal
from pathlib import Path


class ExitStatus(enum.IntEnum):
    """Exit statuses of DESIGN.md; they are a contract."""

    SUCCESS = 0
    ERROR = 1
    USAGE = 2
    PARTIAL = 3
    SHIFT_FOUND = 4
    #: 128 + the signal's number, the shell's convention: stopped by SIGINT (Ctrl-C) ...
    INTERRUPTED = 130
    #: ... or by SIGTERM. What was stored before the stop stays; run the command again.
    TERMINATED = 143


class ChainwatchError(Exception):
    """Base of every error chainwatch reports to a person.

    ``str(err)`` is the one-line message shown to the user.
    """

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Interrupted(BaseException):
    """SIGINT or SIGTERM stopped a command that has no stopping points of its own (``report``,
    ``export``, ...); raised in the main thread as Python's ``KeyboardInterrupt`` is, and like
    it not an ``Exception``, so no ``except Exception`` swallows it. Not a ``KeyboardInterrupt``
    either: typer turns that into a silent exit 130, whatever the signal was.
    ``chainwatch scan`` and ``run`` stop between batches instead (``chainwatch.interrupt``)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class UsageError(ChainwatchError):
    """The command line itself was wrong (an option's value, a missing argument)."""

    exit_status = ExitStatus.USAGE


def _where(path: Path | str, line: int | None = None, entry: str | None = None) -> str:
    where = str(path)
    if line is not None:
        where += f":{line}"
    if entry is not None:
        where += f" ({entry})"
    return where


class InputError(ChainwatchError):
    """A file the user gave is wrong: names the file, the line or entry, and what was expected."""

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        line: int | None = None,
        entry: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.entry = entry
        self.problem = problem
        self.expected = expected
        message = f"{_where(path, line, entry)}: {problem}"
        if expected:
            message += f"; expected {expected}"
        super().__init__(message)


class ConfigError(InputError):
    """The configuration file (or an environment variable standing in for it) is wrong."""


class WatchlistError(InputError):
    """A watchlist or endpoint catalog file is wrong."""


class StoreError(ChainwatchError):
    """The database cannot be opened, migrated or written."""


class WatcherError(ChainwatchError):
    """A watcher failed (a node that does not answer, an unreadable input)."""

    def __init__(self, watcher: str, problem: str, *, hint: str | None = None) -> None:
        self.watcher = watcher
        self.problem = problem
        self.hint = hint
        message = f"watcher {watcher!r}: {problem}"
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class NotAvailableError(ChainwatchError):
    """A feature named by the design that this version does not provide yet."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not available yet in this version of chainwatch")
