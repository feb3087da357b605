"""Shift detection: when the mix between two groups (BTC -> XMR by default) changes.

Method: the share ``to / (from + to)`` per bucket is modelled as binomial. For every candidate
split point the log-likelihood ratio of "one share before, another after" against "one share
throughout" is computed; the split with the largest ratio is the change point. Its
significance is a parametric bootstrap under the null (the same bucket totals, one pooled
share), which calibrates the maximum over all candidate splits (a plain chi-square would not).
A shift is claimed only when the p-value is below ``alpha``, both sides hold enough events and
buckets, and the ``to`` share grows at least ``min_fold`` times.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

#: documented defaults, overridable in the config's [report] table and by flags
DEFAULTS: dict[str, Any] = {
    "alpha": 0.01,  # significance level of the bootstrap test
    "min_events": 30,  # events (from + to) needed on each side of the change point
    "min_buckets": 3,  # buckets with events needed on each side
    "min_fold": 2.0,  # the `to` share must grow at least this much
    "simulations": 999,  # bootstrap replicates
    "crossover_window": 7,  # days over which `to` must exceed `from` from the crossover on
}


@dataclass(frozen=True)
class ShiftResult:
    """The outcome of one check: a claim (``found``) or the reason there is none."""

    found: bool
    reason: str | None = None
    changepoint: int | None = None
    crossover: int | None = None
    share_before: float | None = None
    share_after: float | None = None
    ci_before: tuple[float, float] | None = None
    ci_after: tuple[float, float] | None = None
    fold_change: float | None = None
    p_value: float | None = None


def wilson(successes: float, trials: float, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default)."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def _xlogy(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = np.zeros(np.broadcast(x, y).shape)
    mask = np.broadcast_to(x > 0, out.shape)
    xb, yb = np.broadcast_to(x, out.shape), np.broadcast_to(y, out.shape)
    out[mask] = xb[mask] * np.log(yb[mask])
    return out


def _loglik(x: npt.NDArray[np.float64], n: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Maximised binomial log-likelihood (without the constant) of x successes in n trials."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, x / np.where(n > 0, n, 1), 0.0)
    return _xlogy(x, p) + _xlogy(n - x, 1 - p)


def _lr_profile(x: npt.NDArray[np.float64], n: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """LR statistic for a split before each bucket k = 1..T-1; rows are replicates."""
    cx, cn = np.cumsum(x, axis=-1), np.cumsum(n, axis=-1)
    tx, tn = cx[..., -1:], cn[..., -1:]
    bx, bn = cx[..., :-1], cn[..., :-1]
    stat = _loglik(bx, bn) + _loglik(tx - bx, tn - bn) - _loglik(tx, tn)
    return np.asarray(2 * stat)


def _rises(x: npt.NDArray[np.float64], n: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Per split k = 1..T-1: is the share after the split above the share before?"""
    cx, cn = np.cumsum(x, axis=-1), np.cumsum(n, axis=-1)
    tx, tn = cx[..., -1:], cn[..., -1:]
    bx, bn = cx[..., :-1], cn[..., :-1]
    return np.asarray((tx - bx) * np.maximum(bn, 1) > bx * np.maximum(tn - bn, 1))


def _refine(
    x: npt.NDArray[np.float64], n: npt.NDArray[np.float64], k: int, mid: float, window: int
) -> int:
    """The first bucket near ``k`` where the centred rolling share reaches ``mid``.

    A single step fitted to a gradual switch lands off the ramp's middle when the segments
    differ in length; the halfway crossing of the smoothed share does not.
    """
    half = max(window // 2, 1)
    cx, cn = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(n)])
    idx = np.arange(len(x))
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half + 1, len(x))
    wn = cn[hi] - cn[lo]
    share = np.where(wn > 0, (cx[hi] - cx[lo]) / np.maximum(wn, 1), np.nan)
    search = max(4 * window, 30)
    start, stop = max(k - search, 1), min(k + search, len(x) - 1)
    j = np.arange(start, stop)
    prev = share[j - 1]
    crossings = j[(share[j] >= mid) & (np.isnan(prev) | (prev < mid))]
    if len(crossings) == 0:
        return k
    return int(crossings[np.argmin(np.abs(crossings - k))])  # the crossing nearest the step


def crossover_index(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64], window: int) -> int | None:
    """First bucket from which ``b`` exceeds ``a`` in every following window that has events."""
    n = len(a)
    if n == 0:
        return None
    ca, cb = np.concatenate([[0], np.cumsum(a)]), np.concatenate([[0], np.cumsum(b)])
    idx = np.arange(n)
    ends = np.minimum(idx + window, n)
    wa, wb = ca[ends] - ca[idx], cb[ends] - cb[idx]
    bad = (wa + wb > 0) & (wb <= wa)
    good_start = (wb > wa) & (b > 0)
    # windows starting at or after c must all be fine: suffix "no bad" flags
    no_bad_after = np.flip(np.cumsum(np.flip(bad)) == 0)
    hits = np.flatnonzero(good_start & no_bad_after)
    return int(hits[0]) if len(hits) else None


def detect_shift(
    a: npt.NDArray[np.int64],
    b: npt.NDArray[np.int64],
    *,
    alpha: float = DEFAULTS["alpha"],
    min_events: int = DEFAULTS["min_events"],
    min_buckets: int = DEFAULTS["min_buckets"],
    min_fold: float = DEFAULTS["min_fold"],
    simulations: int = DEFAULTS["simulations"],
    crossover_window: int = DEFAULTS["crossover_window"],
    seed: int = 0,
) -> ShiftResult:
    """Look for a rise of the share of ``b`` (to) in ``a + b`` (from + to) per bucket."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    n = (a + b).astype(np.float64)
    x = b.astype(np.float64)
    total = int(n.sum())
    if len(n) < 2 * min_buckets:
        return ShiftResult(False, f"only {len(n)} buckets; need {2 * min_buckets}")
    if total < 2 * min_events:
        return ShiftResult(False, f"only {total} events of the pair; need {2 * min_events}")
    cn = np.cumsum(n)
    active = np.cumsum(n > 0)
    before_n, after_n = cn[:-1], total - cn[:-1]
    before_k, after_k = active[:-1], active[-1] - active[:-1]
    valid = (
        (before_n >= min_events)
        & (after_n >= min_events)
        & (before_k >= min_buckets)
        & (after_k >= min_buckets)
    )
    if not valid.any():
        return ShiftResult(
            False,
            f"no split leaves {min_events} events and {min_buckets} active buckets on each side",
        )
    # one-sided: only splits where the `to` share rises compete (and in the null replicates)
    valid_rise = valid & _rises(x, n)
    if not valid_rise.any():
        return ShiftResult(False, "the share of the second group never rises")
    observed = np.where(valid_rise, _lr_profile(x, n), -np.inf)
    k = int(np.argmax(observed)) + 1  # first bucket of the "after" segment
    stat = float(observed[k - 1])
    xb, nb = float(x[:k].sum()), float(n[:k].sum())
    xa, na = float(x[k:].sum()), float(n[k:].sum())
    share_before, share_after = xb / nb, xa / na
    # pseudo-counts keep the fold finite when the `to` group was silent before
    fold = ((xa + 0.5) / (na + 1)) / ((xb + 0.5) / (nb + 1))

    rng = np.random.default_rng(seed)
    p0 = float(x.sum()) / total
    sims = rng.binomial(n.astype(np.int64), p0, size=(simulations, len(n))).astype(np.float64)
    sims_n = np.broadcast_to(n, sims.shape)
    null_max = np.where(valid & _rises(sims, sims_n), _lr_profile(sims, sims_n), -np.inf).max(
        axis=1
    )
    p_value = float((1 + np.sum(null_max >= stat)) / (simulations + 1))

    k = _refine(x, n, k, (share_before + share_after) / 2, crossover_window)
    common = ShiftResult(
        False,
        None,
        changepoint=k,
        share_before=share_before,
        share_after=share_after,
        ci_before=wilson(xb, nb),
        ci_after=wilson(xa, na),
        fold_change=float(fold),
        p_value=p_value,
    )
    if share_after <= share_before:
        return replace(common, reason="the share of the second group falls, it does not rise")
    if p_value >= alpha:
        return replace(common, reason=f"p = {p_value:.3g} is not below alpha = {alpha}")
    if fold < min_fold:
        return replace(common, reason=f"fold change {fold:.2f} is below min_fold = {min_fold}")
    crossover = crossover_index(a, b, crossover_window)
    if crossover is not None:
        crossover = max(crossover, k)  # durable from an earlier bucket means durable from k too
    return replace(common, found=True, crossover=crossover)
