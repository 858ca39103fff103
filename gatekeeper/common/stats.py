"""Pure statistics for A/B comparisons: proportions and histogram quantiles.

Only ``math`` and ``statistics``: a gate's arithmetic should be readable and reproducible without
a numerical stack. Counts are floats on purpose: Prometheus' ``increase()`` extrapolates to the
window's edges, so the counts it reports are rarely whole numbers.

Methods (cited in docs/checks.md):

- a proportion: Wilson's score interval;
- a difference of two proportions: Newcombe's hybrid score interval (method 10 of Newcombe,
  Statistics in Medicine 1998;17:873-890), built from the two Wilson intervals; and the pooled
  two-proportion z-test for its p-value;
- a quantile from histogram buckets: Prometheus' ``histogram_quantile`` interpolation for the
  estimate, and a distribution-free order-statistic interval whose ranks are widened to bucket
  edges, so it holds whatever the shape of the data inside a bucket.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()

#: One histogram bucket: (upper bound ``le``, cumulative count of observations <= it).
Bucket = tuple[float, float]


@dataclass(frozen=True)
class Interval:
    """A closed interval ``[low, high]``; either end may be infinite."""

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class ZTest:
    """A two-sided z-test: the statistic and its p-value."""

    z: float
    p_value: float


def z_critical(confidence: float) -> float:
    """The two-sided critical value of the standard normal: 1.96 for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    return _NORMAL.inv_cdf(1 - (1 - confidence) / 2)


def _check_counts(successes: float, trials: float) -> None:
    if not (trials > 0 and 0 <= successes <= trials):
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")


def wilson_interval(successes: float, trials: float, confidence: float) -> Interval:
    """Wilson's score interval for the proportion ``successes / trials``.

    Unlike the Wald interval it never leaves [0, 1] and keeps its coverage near 0 and 1, where
    error rates live.
    """
    _check_counts(successes, trials)
    z = z_critical(confidence)
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    scale = 1 + z * z / trials
    return Interval(max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale))


def newcombe_difference(x1: float, n1: float, x2: float, n2: float,
                        confidence: float) -> Interval:
    """Newcombe's hybrid score interval for ``x1/n1 - x2/n2``.

    Each arm's Wilson interval says how far its proportion may move down or up; the difference
    moves by the root of the sum of the squared moves in the matching directions.
    """
    p1, p2 = x1 / n1, x2 / n2
    w1 = wilson_interval(x1, n1, confidence)
    w2 = wilson_interval(x2, n2, confidence)
    diff = p1 - p2
    return Interval(diff - math.hypot(p1 - w1.low, w2.high - p2),
                    diff + math.hypot(w1.high - p1, p2 - w2.low))


def two_proportion_z_test(x1: float, n1: float, x2: float, n2: float) -> ZTest:
    """Pooled two-proportion z-test of ``x1/n1 == x2/n2``; two-sided p-value."""
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:  # both arms all successes or all failures: no evidence of any difference
        return ZTest(0.0, 1.0)
    z = (x1 / n1 - x2 / n2) / se
    return ZTest(z, 2 * (1 - _NORMAL.cdf(abs(z))))


def normalise_buckets(buckets: Sequence[Bucket]) -> list[Bucket]:
    """Sorted by upper bound, counts made non-decreasing, as Prometheus does before it
    interpolates (scrapes of separate bucket series can disagree by a few counts)."""
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        raise ValueError("a histogram needs its +Inf bucket")
    fixed: list[Bucket] = []
    highest = 0.0
    for upper, count in ordered:
        highest = max(highest, count)
        fixed.append((upper, highest))
    return fixed


def histogram_quantile(q: float, buckets: Sequence[Bucket]) -> float:
    """The ``q``-quantile by linear interpolation inside its bucket: Prometheus'
    ``histogram_quantile`` (the first bucket starts at 0; a quantile in the +Inf bucket is the
    highest finite bound). NaN without observations."""
    fixed = normalise_buckets(buckets)
    total = fixed[-1][1]
    if len(fixed) < 2 or total == 0:
        return math.nan
    rank = q * total
    b = _bucket_of_rank(fixed, rank)
    if b == len(fixed) - 1:
        return fixed[-2][0]
    start, below = (fixed[b - 1][0], fixed[b - 1][1]) if b > 0 else (0.0, 0.0)
    end, count = fixed[b]
    if b == 0 and end <= 0:
        return end
    return start + (end - start) * (rank - below) / (count - below)


def _bucket_of_rank(fixed: Sequence[Bucket], rank: float) -> int:
    """Index of the first bucket holding at least ``rank`` observations (the +Inf bucket when
    no finite one does)."""
    return next((i for i, (_, count) in enumerate(fixed[:-1]) if count >= rank), len(fixed) - 1)


def quantile_interval(q: float, buckets: Sequence[Bucket], confidence: float) -> Interval:
    """A conservative confidence interval for the ``q``-quantile of the observed population.

    The number of observations at or below the true quantile is Binomial(n, q), so the order
    statistics of ranks ``j = floor(nq - z*sd)`` and ``k = ceil(nq + z*sd) + 1`` (normal
    approximation, ``sd = sqrt(n q (1 - q))``) bracket it with the asked confidence. A histogram
    only knows which bucket each rank falls in, so the interval runs from the lower edge of
    rank j's bucket to the upper edge of rank k's: wider than the exact one, never narrower.
    A rank below 1 gives the start of the first bucket (0: observations are assumed non-negative,
    as Prometheus assumes), a rank above n gives +inf.
    """
    fixed = normalise_buckets(buckets)
    total = fixed[-1][1]
    if total <= 0:
        raise ValueError("no observations in the histogram")
    half = z_critical(confidence) * math.sqrt(total * q * (1 - q))
    low_rank, high_rank = math.floor(total * q - half), math.ceil(total * q + half) + 1
    low = _lower_edge(fixed, 0 if low_rank < 1 else _bucket_of_rank(fixed, low_rank))
    high = math.inf if high_rank > total else fixed[_bucket_of_rank(fixed, high_rank)][0]
    return Interval(low, high)


def _lower_edge(fixed: Sequence[Bucket], index: int) -> float:
    """Where bucket ``index`` starts: the bound below it; the first bucket starts at 0 (at
    -inf when its own bound is not positive: then nothing is known about how low it goes)."""
    if index > 0:
        return fixed[index - 1][0]
    return 0.0 if fixed[0][0] > 0 else -math.inf


def quantile_difference_interval(q: float, first: Sequence[Bucket], second: Sequence[Bucket],
                                 confidence: float) -> Interval:
    """A conservative interval for ``quantile(first) - quantile(second)``.

    Each arm gets an interval at ``1 - (1 - confidence) / 2`` (Bonferroni), so both hold at once
    with at least ``confidence``; the difference then lies between the far ends.
    """
    each = 1 - (1 - confidence) / 2
    a = quantile_interval(q, first, each)
    b = quantile_interval(q, second, each)
    return Interval(a.low - b.high, a.high - b.low)
