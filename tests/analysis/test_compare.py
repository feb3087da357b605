"""The Poisson rate-ratio interval of ``--compare`` and the bucket grid of ``--by month``."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from chainwatch.analysis.compare import rate_ratio
from chainwatch.analysis.series import bucket_start, bucket_starts, group_of


def test_rate_ratio_by_hand() -> None:
    # 20 events in 10 days, then 60 in 5: rates 2 and 12 per day
    result = rate_ratio(20, 10, 60, 5)
    assert result.fold_change == pytest.approx(6.0)
    assert result.ci == pytest.approx((3.565396, 10.509410), abs=1e-5)


def test_rate_ratio_edges() -> None:
    assert rate_ratio(0, 10, 0, 5).fold_change is None
    assert rate_ratio(0, 10, 0, 5).ci == (None, None)
    none_before = rate_ratio(0, 10, 7, 10)
    assert none_before.fold_change is None and none_before.ci[1] is None
    assert none_before.ci[0] is not None and none_before.ci[0] > 0
    none_after = rate_ratio(7, 10, 0, 10)
    assert none_after.fold_change == 0 and none_after.ci[0] == 0
    with pytest.raises(ValueError):
        rate_ratio(1, 0, 1, 1)


@pytest.mark.parametrize(("rate_a", "rate_b", "t_a", "t_b"), [(0.5, 2.0, 10, 4), (3.0, 3.0, 7, 7)])
def test_rate_ratio_covers_the_true_ratio(rate_a: float, rate_b: float, t_a: int, t_b: int) -> None:
    """Exact intervals cover the true ratio at least 95% of the time, small counts included."""
    rng = np.random.default_rng(7)
    truth = rate_b / rate_a
    hits = trials = 0
    for k_a, k_b in zip(
        rng.poisson(rate_a * t_a, 2000), rng.poisson(rate_b * t_b, 2000), strict=True
    ):
        lo, hi = rate_ratio(int(k_a), t_a, int(k_b), t_b).ci
        if lo is None:
            continue  # no events in either period: no interval claimed
        trials += 1
        hits += lo <= truth and (hi is None or truth <= hi)
    assert hits / trials >= 0.95


def test_month_buckets() -> None:
    assert bucket_start(dt.date(2019, 2, 28), "month") == dt.date(2019, 2, 1)
    starts = bucket_starts(dt.date(2019, 11, 15), dt.date(2020, 3, 1), "month")
    assert starts == [dt.date(2019, 11, 1), dt.date(2019, 12, 1)] + [
        dt.date(2020, m, 1) for m in (1, 2, 3)
    ]


def test_groups_come_from_the_registry() -> None:
    assert group_of("xmr-pool") == "xmr"
    assert group_of("tor") == "tor"
    assert group_of("pool") is None  # mining of an unknown coin counts under no coin
    assert group_of("other") is None
