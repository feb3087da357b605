"""Benchmark: accuracy of the shift detector on simulated datasets with a known truth.

Per case, ``--runs`` datasets (default 100) of 365 daily buckets with a BTC/XMR mix:
abrupt switch, gradual switch (a 28-day ramp; truth = its middle), low volume (tens of events
a day), and stationary mixes (plain, with weekly seasonality, with outage gaps). Prints the
share of runs whose change point is within 7 days of the truth, and for stationary cases the
share of runs where a shift is wrongly reported. Targets: >= 95% and <= 2%.

    python benchmarks/shift_accuracy.py [--runs 100]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import numpy.typing as npt

from chainwatch.analysis.shifts import detect_shift

DAYS = 365


def _draw(
    rng: np.random.Generator, share: npt.NDArray[np.float64], volume: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    n = rng.poisson(volume)
    b = rng.binomial(n, share)
    return (n - b).astype(np.int64), b.astype(np.int64)


def case(
    name: str, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int | None]:
    t = np.arange(DAYS)
    truth = int(rng.integers(90, 275))
    before, after = rng.uniform(0.03, 0.15), rng.uniform(0.6, 0.95)
    if name == "abrupt":
        share = np.where(t < truth, before, after)
        a, b = _draw(rng, share, np.full(DAYS, 200.0))
        return a, b, truth
    if name == "gradual":
        share = before + (after - before) * np.clip((t - truth + 14) / 28, 0, 1)
        a, b = _draw(rng, share, np.full(DAYS, 200.0))
        return a, b, truth
    if name == "low volume":
        share = np.where(t < truth, before, after)
        a, b = _draw(rng, share, np.full(DAYS, rng.uniform(10, 40)))
        return a, b, truth
    level = rng.uniform(0.05, 0.9)
    volume = np.full(DAYS, rng.uniform(10, 300))
    if name in ("stationary weekly", "stationary weekly+gaps"):
        volume = volume * np.where(t % 7 >= 5, 0.3, 1.0)
    a, b = _draw(rng, np.full(DAYS, level), volume)
    if name == "stationary weekly+gaps":
        for _ in range(3):
            start = int(rng.integers(0, DAYS - 20))
            a[start : start + int(rng.integers(3, 20))] = 0
            b[start : start + int(rng.integers(3, 20))] = 0
    return a, b, None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(20190506)
    began = time.perf_counter()
    for name in ("abrupt", "gradual", "low volume"):
        hits = found = 0
        for _ in range(args.runs):
            a, b, truth = case(name, rng)
            result = detect_shift(a, b)
            found += result.found
            hits += bool(
                result.found
                and result.changepoint is not None
                and truth is not None
                and abs(result.changepoint - truth) <= 7
            )
        print(
            f"{name:24s} change point within 7 days: {hits / args.runs:6.1%} "
            f"(found {found}/{args.runs}; target >= 95%)"
        )
    for name in ("stationary", "stationary weekly", "stationary weekly+gaps"):
        false = 0
        for _ in range(args.runs):
            a, b, _truth = case(name, rng)
            false += detect_shift(a, b).found
        print(
            f"{name:24s} false shifts: {false / args.runs:6.1%} ({false}/{args.runs}; target <= 2%)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{6 * args.runs} datasets in {time.perf_counter() - began:.1f} s; peak memory {peak:.0f} MiB"
    )


if __name__ == "__main__":
    main()
