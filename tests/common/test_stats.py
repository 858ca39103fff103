"""The A/B statistics against published and hand-computed values."""

from __future__ import annotations

import math

import pytest

from gatekeeper.common.stats import (
    Interval,
    histogram_quantile,
    newcombe_difference,
    normalise_buckets,
    quantile_difference_interval,
    quantile_interval,
    two_proportion_z_test,
    wilson_interval,
    z_critical,
)

INF = math.inf


def rounded(interval: Interval, digits: int = 4) -> tuple[float, float]:
    return round(interval.low, digits), round(interval.high, digits)


@pytest.mark.parametrize(("confidence", "z"), [
    (0.95, 1.959964), (0.99, 2.575829), (0.90, 1.644854), (0.975, 2.241403),
])
def test_z_critical_is_the_two_sided_normal_quantile(confidence: float, z: float) -> None:
    assert z_critical(confidence) == pytest.approx(z, abs=1e-6)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1])
def test_z_critical_needs_a_confidence_inside_0_1(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        z_critical(confidence)


# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics in
# Medicine 17:857-872, Table I, method 3 (Wilson score, no continuity correction).
@pytest.mark.parametrize(("x", "n", "expected"), [
    (81, 263, (0.2553, 0.3662)),
    (15, 148, (0.0624, 0.1605)),
    (0, 20, (0.0, 0.1611)),
    (1, 29, (0.0061, 0.1718)),
])
def test_wilson_interval_matches_newcombe_table(x: int, n: int,
                                                expected: tuple[float, float]) -> None:
    assert rounded(wilson_interval(x, n, 0.95)) == expected


def test_wilson_interval_by_hand() -> None:
    # 10/100 at 95%: z = 1.959964, z² = 3.841459; centre = 0.1 + 3.841459/200 = 0.1192073;
    # spread = z·sqrt(0.09/100 + 3.841459/40000) = 1.959964 * 0.0315601 = 0.0618566;
    # scale = 1 + 3.841459/100 = 1.0384146; (0.1192073 ∓ 0.0618566) / 1.0384146
    assert rounded(wilson_interval(10, 100, 0.95), 6) == (0.055229, 0.174366)


@pytest.mark.parametrize(("x", "n"), [(-1, 10), (11, 10), (0, 0)])
def test_wilson_interval_rejects_impossible_counts(x: int, n: int) -> None:
    with pytest.raises(ValueError, match="successes <= trials"):
        wilson_interval(x, n, 0.95)


# Newcombe (1998), "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10.
@pytest.mark.parametrize(("counts", "expected"), [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0)),
])
def test_newcombe_difference_matches_newcombe_table(counts: tuple[int, int, int, int],
                                                    expected: tuple[float, float]) -> None:
    assert rounded(newcombe_difference(*counts, 0.95)) == expected


def test_newcombe_difference_is_antisymmetric() -> None:
    forward = newcombe_difference(24, 2000, 15, 2000, 0.95)
    backward = newcombe_difference(15, 2000, 24, 2000, 0.95)
    assert forward.low == pytest.approx(-backward.high)
    assert forward.high == pytest.approx(-backward.low)


def test_two_proportion_z_test_by_hand() -> None:
    # 56/70 vs 48/80: pooled p = 104/150 = 0.693333; se = sqrt(0.693333 * 0.306667 *
    # (1/70 + 1/80)) = sqrt(0.212622 * 0.0267857) = 0.0754674; z = 0.2 / 0.0754674 = 2.65017;
    # p = 2 * (1 - Φ(2.65017)) = 0.008045
    test = two_proportion_z_test(56, 70, 48, 80)
    assert test.z == pytest.approx(2.65017, abs=1e-5)
    assert test.p_value == pytest.approx(0.008045, abs=1e-6)


def test_two_proportion_z_test_without_variance_finds_no_difference() -> None:
    assert two_proportion_z_test(0, 100, 0, 50) == two_proportion_z_test(7, 7, 9, 9)
    assert two_proportion_z_test(0, 100, 0, 50).p_value == 1.0


# Cumulative counts of 1,000 observations (the +Inf bucket last).
LATENCY = [(0.005, 500.0), (0.01, 900.0), (0.025, 980.0), (0.05, 995.0), (0.1, 999.0),
           (INF, 1000.0)]


@pytest.mark.parametrize(("q", "expected"), [
    (0.5, 0.005),                  # rank 500: the top of the first bucket
    (0.25, 0.0025),                # rank 250 of 500 in [0, 0.005]: halfway
    (0.95, 0.01 + 0.015 * 50 / 80),  # rank 950: 50 of the 80 in (0.01, 0.025]
    (0.99, 0.025 + 0.025 * 10 / 15),  # rank 990: 10 of the 15 in (0.025, 0.05]
    (0.9995, 0.1),                 # rank 999.5 falls in +Inf: the highest finite bound
])
def test_histogram_quantile_interpolates_like_prometheus(q: float, expected: float) -> None:
    assert histogram_quantile(q, LATENCY) == pytest.approx(expected)


def test_histogram_quantile_needs_observations_and_the_inf_bucket() -> None:
    assert math.isnan(histogram_quantile(0.99, [(0.1, 0.0), (INF, 0.0)]))
    with pytest.raises(ValueError, match=r"\+Inf bucket"):
        histogram_quantile(0.99, [(0.1, 5.0)])


def test_buckets_are_sorted_and_made_monotonic() -> None:
    # Bucket series are scraped apart; a count that went down is lifted, as Prometheus does.
    assert normalise_buckets([(INF, 10.0), (0.1, 9.0), (0.05, 9.5)]) == [
        (0.05, 9.5), (0.1, 9.5), (INF, 10.0)]


def test_quantile_interval_by_hand() -> None:
    # n = 1000, q = 0.99, 95%: sd = sqrt(1000 * 0.99 * 0.01) = 3.14643; z·sd = 6.16689;
    # ranks j = floor(990 - 6.17) = 983 and k = ceil(990 + 6.17) + 1 = 998.
    # Rank 983 is in (0.025, 0.05] (980 < 983 <= 995): its lower edge 0.025.
    # Rank 998 is in (0.05, 0.1] (995 < 998 <= 999): its upper edge 0.1.
    assert quantile_interval(0.99, LATENCY, 0.95) == Interval(0.025, 0.1)


def test_quantile_interval_contains_the_estimate() -> None:
    for q in (0.5, 0.9, 0.95, 0.99):
        assert histogram_quantile(q, LATENCY) in quantile_interval(q, LATENCY, 0.95)


def test_quantile_interval_is_unbounded_past_the_data() -> None:
    # n = 100, q = 0.99: k = ceil(99 + 1.95) + 1 = 102 > 100, so no observation bounds it;
    # j = floor(99 - 1.95) = 97, in the first bucket: from its start, 0.
    few = [(0.1, 98.0), (1.0, 100.0), (INF, 100.0)]
    assert quantile_interval(0.99, few, 0.95) == Interval(0.0, INF)


def test_quantile_interval_starts_at_zero_below_the_first_rank() -> None:
    # n = 10, q = 0.05: j = floor(0.5 - 1.35) = -1 < 1.
    assert quantile_interval(0.05, [(0.01, 5.0), (INF, 10.0)], 0.95).low == 0.0


def test_quantile_difference_interval_is_bonferroni_by_hand() -> None:
    # Each arm at 97.5%: z = 2.241403; z·sd = 7.05245; j = 982, k = 998.
    # Rank 982 is in (0.025, 0.05]: 0.025; rank 998 in (0.05, 0.1]: 0.1. The same for both
    # arms here, so the difference lies in [0.025 - 0.1, 0.1 - 0.025].
    interval = quantile_difference_interval(0.99, LATENCY, LATENCY, 0.95)
    assert rounded(interval, 6) == (-0.075, 0.075)


def test_quantile_interval_needs_observations() -> None:
    with pytest.raises(ValueError, match="no observations"):
        quantile_interval(0.99, [(0.1, 0.0), (INF, 0.0)], 0.95)
