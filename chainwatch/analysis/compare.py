"""Period comparison: the ratio of two Poisson event rates with a 95% interval.

Events in period A (``k_a`` over ``t_a`` days) and period B (``k_b`` over ``t_b`` days) are
taken as Poisson counts with rates ``r_a`` and ``r_b``. The fold change is the ratio of the
observed rates, ``(k_b / t_b) / (k_a / t_a)``.

Its interval is the *exact conditional* one: given the total ``n = k_a + k_b``, ``k_b`` is
binomial with ``p = R t_b / (t_a + R t_b)`` where ``R = r_b / r_a``. A Clopper-Pearson
interval ``[p_lo, p_hi]`` for ``p`` maps, through ``R = p / (1 - p) * t_a / t_b`` (monotone),
to an interval for the ratio whose coverage is at least 95% for every rate, small counts
included (a Wald interval on the log ratio is not, and fails outright at zero counts). With no
events in A the ratio and its upper bound are unbounded (None); with none in either period
there is nothing to compare (all None).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import beta

METHOD = "exact conditional binomial (Clopper-Pearson) interval of the Poisson rate ratio, 95%"


@dataclass(frozen=True)
class RateRatio:
    """``fold_change`` is B's rate over A's; ``ci`` its 95% interval (None = unbounded)."""

    fold_change: float | None
    ci: tuple[float | None, float | None]


def rate_ratio(
    k_a: int, t_a: float, k_b: int, t_b: float, *, confidence: float = 0.95
) -> RateRatio:
    """Rate ratio of ``k_b`` events in ``t_b`` days over ``k_a`` events in ``t_a`` days."""
    if t_a <= 0 or t_b <= 0 or k_a < 0 or k_b < 0:
        raise ValueError("periods need positive lengths and counts cannot be negative")
    if k_a + k_b == 0:
        return RateRatio(None, (None, None))
    tail = (1 - confidence) / 2
    p_lo = 0.0 if k_b == 0 else float(beta.ppf(tail, k_b, k_a + 1))
    p_hi = 1.0 if k_a == 0 else float(beta.ppf(1 - tail, k_b + 1, k_a))
    scale = t_a / t_b
    lo = p_lo / (1 - p_lo) * scale
    hi = None if p_hi >= 1.0 else p_hi / (1 - p_hi) * scale
    fold = None if k_a == 0 else (k_b / t_b) / (k_a / t_a)
    return RateRatio(fold, (lo, hi))
