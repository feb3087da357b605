"""The ``chainwatch run`` loop: every configured watcher on its interval, until stopped.

APScheduler runs one job per watcher (``max_instances=1`` and ``coalesce``: a watcher never runs
twice at once, and a round that overran is not made up with a burst). Each round is an ordinary
scan of that one watcher (``chainwatch.scan.run_scan``), so it is recorded like any scan and
shows in ``chainwatch status``. A failed round is retried sooner, with a backoff doubling from
1 s up to the watcher's interval, while the other watchers go on. After each round the alerts
are checked. SIGTERM and SIGINT set a flag that watchers read between batches
(``chainwatch.interrupt``): the input in hand is rolled back (each input is one transaction),
the round is recorded and logged as interrupted, and ``run`` exits 0, the clean stop of a
service (a service manager would call any other status a failure); ``run --once``, a
one-shot pass like ``scan``, exits 130 or 143 when a signal cut it short.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from io import StringIO

from apscheduler.schedulers.background import BackgroundScheduler
from rich.console import Console

from chainwatch.config import Settings, WatcherConfig
from chainwatch.errors import ChainwatchError, ExitStatus
from chainwatch.interrupt import StopFlag, stop_on_signals
from chainwatch.runner import alerts
from chainwatch.scan import ScanSummary, run_scan
from chainwatch.store.db import Store, open_store
from chainwatch.store.runs import (
    acquire_lock,
    heartbeat,
    record_alert,
    release_lock,
    set_alert_errors,
)
from chainwatch.watchers.interface import utcnow

#: Seconds between heartbeats of the run lock.
HEARTBEAT = 15.0
#: A lock held from another host is stale after this long without a heartbeat.
STALE_AFTER = 10 * HEARTBEAT
#: How long a stop request waits for a running round to wind down before giving it up
#: (its open transaction is then rolled back by the database when the process exits).
GRACE = 5.0

#: Finds new onsets and shifts: settings -> [(kind, watchlist, finding)], kind "onset" or
#: "shift", finding the report JSON's onset or shift object.
Finder = Callable[[Settings], list[tuple[str, str, dict[str, object]]]]


class Runner:
    def __init__(
        self,
        settings: Settings,
        watchers: Sequence[WatcherConfig],
        log: logging.Logger,
        *,
        finder: Finder | None = None,
    ) -> None:
        self.settings = settings
        self.watchers = list(watchers)
        self.log = log
        self.finder = finder
        self.alert_config = alerts.alert_config(settings)
        self.stop = StopFlag()
        self.failures: dict[str, int] = {}
        self.worst = ExitStatus.SUCCESS
        self._alert_lock = threading.Lock()
        #: set when a stop gave up on a running round: the process must end without waiting
        #: for its thread (``os._exit``); the database rolls its open transaction back.
        self.abandoned = False

    # -- one round ---------------------------------------------------------------------------

    def round(self, config: WatcherConfig) -> ScanSummary | None:
        """Scan one watcher once; log the outcome; return the summary (None if it could not
        start)."""
        if self.stop.is_set():
            return None
        fields: dict[str, object] = {"watcher": config.name, "kind": config.kind}
        try:
            summary = run_scan(
                self.settings,
                [config],
                console=Console(
                    file=StringIO(), stderr=False
                ),  # progress bars have no place in a log
                command="run",
                stop=self.stop,
            )
        except ChainwatchError as exc:
            self._failed(config, str(exc), fields)
            return None
        except Exception as exc:  # a bug or an unexpected database error: retry, don't die
            self.log.debug("round crashed", exc_info=True)
            self._failed(config, f"unexpected {type(exc).__name__}: {exc}", fields)
            return None
        fields |= {"scan": summary.scan_id, "status": summary.status, **summary.counts}
        if summary.status == "interrupted":
            # Not a failure to retry: the stop asked for it, and the next run (or round) reads
            # what this one rolled back.
            self.log.warning(
                "round interrupted",
                extra={
                    "fields": fields
                    | {"signal": self.stop.name, "inputs": summary.inputs}
                    | {"seconds": round(summary.seconds, 2)}
                },
            )
            return summary
        if summary.status == "ok":
            self.failures.pop(config.name, None)
            self.log.info(
                "round done", extra={"fields": fields | {"seconds": round(summary.seconds, 2)}}
            )
        else:
            self._failed(config, "; ".join(summary.errors) or summary.status, fields)
        self.check_alerts()
        return summary

    def _failed(self, config: WatcherConfig, error: str, fields: dict[str, object]) -> None:
        count = self.failures[config.name] = self.failures.get(config.name, 0) + 1
        retry = min(2.0 ** (count - 1), config.interval)
        self.worst = max(self.worst, ExitStatus.PARTIAL)
        self.log.error(
            "round failed",
            extra={"fields": fields | {"error": error, "failures": count, "retry_in": retry}},
        )
        self._retry(config, retry)

    def _retry(self, config: WatcherConfig, delay: float) -> None:
        """Overridden by the scheduled loop; a one-shot run does not retry."""

    # -- alerts ------------------------------------------------------------------------------

    def check_alerts(self) -> None:
        if self.finder is None:
            return
        with self._alert_lock:
            try:
                findings = self.finder(self.settings)
            except ChainwatchError as exc:
                self.log.error("alert check failed", extra={"fields": {"error": str(exc)}})
                return
            if not findings:
                return
            store = open_store(self.settings.db)
            try:
                for kind, watchlist, found in findings:
                    self._announce(store, alerts.make_alert(kind, watchlist, dict(found), utcnow()))
            finally:
                store.close()

    def _announce(self, store: Store, alert: dict[str, object]) -> None:
        alert_id = record_alert(
            store,
            key=str(alert["key"]),
            kind=str(alert["kind"]),
            watchlist=str(alert["watchlist"]),
            payload=alert,
            now=utcnow(),
        )
        if alert_id is None:
            return  # announced before
        self.log.warning("alert", extra={"fields": {"alert": alert}})
        errors = alerts.deliver(alert, self.alert_config)
        for error in errors:
            self.log.error(
                "alert delivery failed", extra={"fields": {"key": alert["key"], "error": error}}
            )
        if errors:
            set_alert_errors(store, alert_id, errors)

    # -- the process -------------------------------------------------------------------------

    def once(self) -> int:
        """Every watcher one round, in order (for cron). A signal ends it as it ends a scan:
        130 or 143, after the round in hand is rolled back and logged as interrupted."""
        with self._locked(), stop_on_signals(self.stop):
            for config in self.watchers:
                self.round(config)
        return self.stop.exit_status if self.stop.is_set() else self.worst

    def forever(self) -> ExitStatus:
        """Every watcher on its interval until SIGTERM/SIGINT; 0 on a clean stop."""
        with self._locked() as store, stop_on_signals(self.stop):
            scheduler = BackgroundScheduler(
                timezone=dt.UTC,
                job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
            )
            self._retry = lambda config, delay: self._reschedule(scheduler, config, delay)  # type: ignore[method-assign]
            now = dt.datetime.now(dt.UTC)
            jobs = _Jobs()
            for config in self.watchers:
                scheduler.add_job(
                    jobs.tracked(self.round),
                    "interval",
                    args=[config],
                    id=config.name,
                    name=config.name,
                    seconds=config.interval,
                    next_run_time=now,
                )
            scheduler.add_job(
                jobs.tracked(lambda: heartbeat(store, utcnow())),
                "interval",
                seconds=HEARTBEAT,
                id="heartbeat",
            )
            scheduler.start()
            self.log.info(
                "running", extra={"fields": {"watchers": [c.name for c in self.watchers]}}
            )
            while not self.stop.wait(0.5):
                pass
            self.log.info("stopping", extra={"fields": {"grace_seconds": GRACE}})
            scheduler.shutdown(wait=False)
            if not jobs.close(GRACE):
                self.abandoned = True
                self.log.warning("a round did not stop in time; its open batch is rolled back")
        return ExitStatus.SUCCESS

    def _reschedule(
        self, scheduler: BackgroundScheduler, config: WatcherConfig, delay: float
    ) -> None:
        if self.stop.is_set():
            return
        job = scheduler.get_job(config.name)
        if job is not None:
            job.modify(next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay))

    @contextmanager
    def _locked(self) -> Iterator[Store]:
        store = open_store(self.settings.db)
        try:
            previous = acquire_lock(store, utcnow(), stale_after=STALE_AFTER)
            if previous is not None:
                self.log.warning(
                    "took over a stale run lock",
                    extra={"fields": {"previous_holder": previous.describe()}},
                )
            try:
                yield store
            finally:
                if not self.abandoned:  # the round's thread may hold the database's write lock
                    release_lock(store)
        finally:
            if not self.abandoned:
                store.close()


class _Jobs:
    """The scheduler's jobs, counted while they run (APScheduler has no public "running jobs"
    call): ``close`` lets none start after it and waits for those running to finish."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0
        self._closed = False

    def tracked(self, job: Callable[..., object]) -> Callable[..., None]:
        def run(*args: object) -> None:
            with self._changed:
                if self._closed:  # queued before the stop, started after it: nothing to do
                    return
                self._running += 1
            try:
                job(*args)
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()

        return run

    def close(self, seconds: float) -> bool:
        """Wait for running jobs to finish; False when they still run after ``seconds``."""
        with self._changed:
            self._closed = True
            return self._changed.wait_for(lambda: self._running == 0, timeout=seconds)
