"""The shift detector, the onset finder and the series grid on series with a known answer."""

from __future__ import annotations

import datetime as dt

import numpy as np

from chainwatch.analysis.onsets import find_onset
from chainwatch.analysis.series import bucket_starts, build_series
from chainwatch.analysis.shifts import crossover_index, detect_shift, wilson
from chainwatch.store.reporting import BucketRow, SourceRow

RNG_SEED = 7


def _pair(share: np.ndarray, total: float, seed: int = RNG_SEED) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = rng.poisson(total, size=len(share))
    b = rng.binomial(n, share)
    return (n - b).astype(np.int64), b.astype(np.int64)


def test_abrupt_switch_is_found_at_the_true_day() -> None:
    share = np.where(np.arange(200) < 120, 0.08, 0.9)
    a, b = _pair(share, 40)
    result = detect_shift(a, b)
    assert result.found, result.reason
    assert result.changepoint is not None and abs(result.changepoint - 120) <= 2
    assert result.p_value is not None and result.p_value < 0.01
    assert result.share_before is not None and 0.05 < result.share_before < 0.11
    assert result.share_after is not None and 0.87 < result.share_after < 0.93
    assert (
        result.ci_before is not None
        and result.ci_before[0] < result.share_before < result.ci_before[1]
    )
    assert result.fold_change is not None and result.fold_change > 8
    assert result.crossover is not None and 120 <= result.crossover <= 125


def test_gradual_switch_is_found_near_the_middle_of_the_ramp() -> None:
    share = np.clip((np.arange(200) - 85) / 70, 0, 1) * 0.8 + 0.1  # ramp from day 85 to 155
    a, b = _pair(share, 40)
    result = detect_shift(a, b)
    assert result.found, result.reason
    assert result.changepoint is not None and abs(result.changepoint - 120) <= 7


def test_no_change_gives_no_claim() -> None:
    a, b = _pair(np.full(200, 0.3), 40)
    result = detect_shift(a, b)
    assert not result.found
    assert result.p_value is not None and result.p_value >= 0.01
    assert result.reason is not None


def test_gaps_are_tolerated() -> None:
    share = np.where(np.arange(200) < 100, 0.1, 0.8)
    a, b = _pair(share, 30)
    a[40:70] = 0  # an outage: no records at all for a month
    b[40:70] = 0
    result = detect_shift(a, b)
    assert result.found and result.changepoint is not None
    assert abs(result.changepoint - 100) <= 2


def test_zero_data_gives_no_claim_with_a_reason() -> None:
    zeros = np.zeros(100, dtype=np.int64)
    result = detect_shift(zeros, zeros)
    assert not result.found
    assert result.reason == "only 0 events of the pair; need 60"
    assert not detect_shift(zeros[:3], zeros[:3]).found


def test_falling_share_is_not_a_shift_towards_it() -> None:
    share = np.where(np.arange(200) < 100, 0.9, 0.1)
    a, b = _pair(share, 40)
    result = detect_shift(a, b)
    assert not result.found and result.reason is not None and "rise" in result.reason


def test_crossover_needs_durable_excess() -> None:
    a = np.array([5, 5, 1, 5, 1, 1, 1, 1])
    b = np.array([1, 1, 5, 1, 5, 5, 5, 5])
    assert crossover_index(a, b, 1) == 4
    assert crossover_index(b, a, 1) is None


def test_wilson_interval_contains_the_estimate() -> None:
    lo, hi = wilson(9, 10)
    assert 0.55 < lo < 0.9 < hi <= 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_onset_after_silent_baseline() -> None:
    counts = np.zeros(60, dtype=np.int64)
    counts[5] = 1  # a stray record: not sustained
    counts[30:] = 3
    assert find_onset(counts, baseline=14, window=7, min_active=4) == 30
    assert find_onset(np.full(20, 2), baseline=7, window=7, min_active=4) is None  # no baseline
    assert find_onset(np.zeros(10, dtype=np.int64), baseline=3, window=3, min_active=2) is None


def test_series_has_every_bucket() -> None:
    since, until = dt.date(2019, 1, 1), dt.date(2019, 1, 31)
    rows = [
        BucketRow(dt.date(2019, 1, 3), "btc-p2p", 4),
        BucketRow(dt.date(2019, 1, 3), "btc-pool", 1),
    ]
    series = build_series(
        rows, [SourceRow(dt.date(2019, 1, 3), "btc", 2)], since=since, until=until, by="day"
    )
    assert len(series) == 31
    assert series.groups["btc"][2] == 5 and series.groups["btc"].sum() == 5
    assert series.sources["btc"][2] == 2
    weeks = bucket_starts(since, until, "week")
    assert weeks[0] == dt.date(2018, 12, 31) and len(weeks) == 5
    assert all(w.weekday() == 0 for w in weeks)
