"""The count of running scheduler jobs that ``run`` waits on when it stops (kept by chainwatch
itself, not read from APScheduler's private executor state): a stop waits for a running round,
gives up on one that overruns the grace time, and a job queued before the stop never starts."""

from __future__ import annotations

import threading

from chainwatch.runner.loop import _Jobs


def test_close_waits_for_a_running_job_and_refuses_later_ones() -> None:
    jobs = _Jobs()
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def round_(name: str) -> None:
        started.set()
        release.wait(10)
        ran.append(name)

    worker = threading.Thread(target=jobs.tracked(round_), args=("first",))
    worker.start()
    assert started.wait(10)
    assert jobs.close(0.2) is False  # still running after the grace time: given up
    release.set()
    assert jobs.close(10) is True  # finished: the stop goes on
    worker.join(10)
    jobs.tracked(round_)("queued before the stop, started after it")
    assert ran == ["first"]


def test_close_with_nothing_running_returns_at_once() -> None:
    jobs = _Jobs()
    jobs.tracked(lambda: None)()
    assert jobs.close(0) is True
