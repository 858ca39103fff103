"""``ab_comparison``: candidate arm against control arm, from hand-built Prometheus answers.

The interval arithmetic itself is checked against published values in tests/test_stats.py; here
each branch of the check. The same check against a real Prometheus is in
tests/evidence/test_prometheus.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.ab_comparison import AbComparison, evaluate, needs
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evidence.external import ExternalFailure
from gatekeeper.evidence.interface import Evidence
from gatekeeper.evidence.prometheus import PromAnswer, PromSample
from tests.evaluate.conftest import COMMON, version

URL = "http://prometheus.test:9090"
T = 1_764_000_000.0
INF = math.inf

BASE: dict[str, Any] = {
    "prometheus_url": URL, "window": "24h", "selector": 'job="fraud"',
    "candidate": 'arm="quantized"', "control": 'arm="full"', "min_samples_per_arm": 1000,
}
ERRORS: dict[str, Any] = {**BASE, "measure": "error_rate", "requests": "http_requests_total",
                          "errors_selector": 'code=~"5.."', "max_regression": 0.005}
LATENCY: dict[str, Any] = {**BASE, "measure": "p99", "histogram": "http_request_duration_seconds",
                           "max_regression_ms": 250}
CONVERSION: dict[str, Any] = {
    **BASE, "measure": "kpi", "max_regression": 0.02,
    "kpi": {"name": "conversion",
            "numerator": "sum(increase(checkout_completed_total{$selector}[$window]))",
            "denominator": "sum(increase(checkout_started_total{$selector}[$window]))"}}

# Cumulative bucket counts of the two arms (the same as the exporter's in tests/support).
QUANTIZED = [(0.005, 600), (0.01, 1400), (0.025, 1800), (0.05, 1950), (0.1, 1990),
             (0.25, 1994), (0.5, 1998), (1.0, 2000), (INF, 2000)]
FULL = [(0.005, 700), (0.01, 1500), (0.025, 1850), (0.05, 1960), (0.1, 1990), (0.25, 1996),
        (0.5, 1999), (1.0, 2000), (INF, 2000)]


def spec(fields: Mapping[str, Any], **changes: Any) -> AbComparison:
    return AbComparison(**{**COMMON, "kind": "ab_comparison", **fields, **changes})


def sample(value: float, **labels: str) -> PromSample:
    return PromSample(labels, value)


def answered(check: AbComparison, values: Mapping[str, object]) -> Evidence:
    """``extra`` answering the check's queries by name: a number is one sample, a list of
    (le, count) pairs a histogram, anything else (a failure) is stored as it is."""
    queries = check.queries()
    extra: dict[str, object] = {}
    for name, value in values.items():
        query = queries[name]
        promql = query.param("query") or ""
        if isinstance(value, int | float):
            extra[query.key] = PromAnswer(URL, promql, T, (sample(float(value)),))
        elif isinstance(value, list):
            extra[query.key] = PromAnswer(URL, promql, T, buckets(value))
        else:
            extra[query.key] = value
    return Evidence(candidate=version(), extra=extra)


def buckets(pairs: Sequence[tuple[float, float]]) -> tuple[PromSample, ...]:
    return tuple(sample(float(count), le="+Inf" if math.isinf(le) else f"{le:g}")
                 for le, count in pairs)


def run(check: AbComparison, values: Mapping[str, object]) -> Outcome:
    return evaluate(check, answered(check, values))


def rates(cand: tuple[float, float], ctrl: tuple[float, float]) -> dict[str, float]:
    return {"candidate.successes": cand[0], "candidate.trials": cand[1],
            "control.successes": ctrl[0], "control.trials": ctrl[1]}


def test_registered() -> None:
    assert CHECK_KINDS["ab_comparison"].spec is AbComparison


def test_a_small_difference_that_is_not_significant_still_fails_a_tight_margin() -> None:
    # +0.45 pp is under the 0.5 pp allowed, but with 2,000 requests per arm the interval
    # reaches +1.10 pp: the data cannot rule out a larger regression.
    outcome = run(spec(ERRORS), rates((24, 2000), (15, 2000)))
    assert (outcome.status, outcome.message) == (
        Status.FAIL, "error rate 1.2% vs 0.75%: diff +0.45 pp (95% CI -0.17..+1.10 pp) "
        "> +0.50 pp")


def test_error_rate_within_the_margin_passes() -> None:
    outcome = run(spec(ERRORS, max_regression=0.012), rates((24, 2000), (15, 2000)))
    assert (outcome.status, outcome.message) == (
        Status.PASS, "error rate 1.2% vs 0.75%: diff +0.45 pp (95% CI -0.17..+1.10 pp) "
        "<= +1.20 pp")


def test_observed_holds_the_interval_and_the_z_test() -> None:
    outcome = run(spec(ERRORS), rates((24, 2000), (15, 2000)))
    assert outcome.observed == {
        "candidate": 0.012, "control": 0.0075, "diff": pytest.approx(0.0045),
        "ci_low": pytest.approx(-0.0017285, abs=1e-7),
        "ci_high": pytest.approx(0.0110015, abs=1e-7),
        "z": pytest.approx(1.44823, abs=1e-5), "p_value": pytest.approx(0.147553, abs=1e-6),
        "method": "newcombe-wilson", "candidate_counts": [24, 2000],
        "control_counts": [15, 2000], "evaluated_at": "2025-11-24T16:00:00.000Z"}
    assert outcome.threshold == {
        "measure": "error_rate", "max_regression": 0.005, "confidence": 0.95,
        "min_samples_per_arm": 1000, "lower_is_better": True, "candidate": 'arm="quantized"',
        "control": 'arm="full"', "window": "24h", "at": None}
    assert set(outcome.evidence) == {"candidate.successes", "candidate.trials",
                                     "control.successes", "control.trials"}


def test_a_higher_confidence_widens_the_interval() -> None:
    outcome = run(spec(ERRORS, max_regression=0.012, confidence=0.99),
                  rates((24, 2000), (15, 2000)))
    assert (outcome.status, outcome.message) == (
        Status.FAIL, "error rate 1.2% vs 0.75%: diff +0.45 pp (99% CI -0.39..+1.33 pp) "
        "> +1.20 pp")


@pytest.mark.parametrize(("margin", "status", "op"), [
    (0.02, Status.PASS, ">= -2.00 pp"), (0.01, Status.FAIL, "< -1.00 pp"),
])
def test_kpi_where_higher_is_better_checks_the_lower_end(margin: float, status: Status,
                                                         op: str) -> None:
    outcome = run(spec(CONVERSION, max_regression=margin), rates((62, 2000), (70, 2000)))
    assert (outcome.status, outcome.message) == (
        status, f"conversion 3.1% vs 3.5%: diff -0.40 pp (95% CI -1.52..+0.72 pp) {op}")


def test_kpi_where_lower_is_better_checks_the_upper_end() -> None:
    churn = {**CONVERSION["kpi"], "name": "churn", "greater_is_better": False}
    outcome = run(spec(CONVERSION, kpi=churn, max_regression=0.005),
                  rates((62, 2000), (70, 2000)))
    assert (outcome.status, outcome.message) == (
        Status.FAIL, "churn 3.1% vs 3.5%: diff -0.40 pp (95% CI -1.52..+0.72 pp) > +0.50 pp")


def test_kpi_queries_fill_in_each_arm() -> None:
    queries = spec(CONVERSION).queries()
    assert {name: q.param("query") for name, q in queries.items()} == {
        "candidate.successes":
            'sum(increase(checkout_completed_total{job="fraud", arm="quantized"}[24h]))',
        "candidate.trials":
            'sum(increase(checkout_started_total{job="fraud", arm="quantized"}[24h]))',
        "control.successes":
            'sum(increase(checkout_completed_total{job="fraud", arm="full"}[24h]))',
        "control.trials": 'sum(increase(checkout_started_total{job="fraud", arm="full"}[24h]))',
    }


def test_error_rate_queries() -> None:
    queries = spec(ERRORS).queries()
    assert {name: q.param("query") for name, q in queries.items()} == {
        "candidate.successes":
            'sum(increase(http_requests_total{job="fraud", arm="quantized", code=~"5.."}[24h]))',
        "candidate.trials": 'sum(increase(http_requests_total{job="fraud", arm="quantized"}[24h]))',
        "control.successes":
            'sum(increase(http_requests_total{job="fraud", arm="full", code=~"5.."}[24h]))',
        "control.trials": 'sum(increase(http_requests_total{job="fraud", arm="full"}[24h]))',
    }
    assert needs(spec(ERRORS)).external == frozenset(queries.values())


def test_latency_queries_read_bucket_counts() -> None:
    queries = spec(LATENCY).queries()
    assert {name: q.param("query") for name, q in queries.items()} == {
        "candidate.buckets": "sum by (le) (increase(http_request_duration_seconds_bucket"
                             '{job="fraud", arm="quantized"}[24h]))',
        "control.buckets": "sum by (le) (increase(http_request_duration_seconds_bucket"
                           '{job="fraud", arm="full"}[24h]))',
    }


@pytest.mark.parametrize(("measure", "margin", "status", "message"), [
    # p99: 87.5 vs 83.33 ms; each arm's 97.5% interval is [50, 250] ms (see test_stats.py
    # for the ranks), so the difference lies in [50 - 250, 250 - 50].
    ("p99", 250, Status.PASS, "p99 87.5 ms vs 83.3 ms: diff +4.2 ms (95% CI -200.0..+200.0 ms) "
     "<= +250.0 ms"),
    ("p99", 100, Status.FAIL, "p99 87.5 ms vs 83.3 ms: diff +4.2 ms (95% CI -200.0..+200.0 ms) "
     "> +100.0 ms"),
    # p95: 41.67 vs 36.36 ms; ranks 1878 and 1923 both fall in (25, 50] ms in both arms.
    ("p95", 25, Status.PASS, "p95 41.7 ms vs 36.4 ms: diff +5.3 ms (95% CI -25.0..+25.0 ms) "
     "<= +25.0 ms"),
])
def test_latency_percentiles(measure: str, margin: float, status: Status, message: str) -> None:
    outcome = run(spec(LATENCY, measure=measure, max_regression_ms=margin),
                  {"candidate.buckets": QUANTIZED, "control.buckets": FULL})
    assert (outcome.status, outcome.message) == (status, message)
    assert outcome.observed["method"] == "order-statistic, bucket edges, bonferroni"
    assert outcome.observed["samples"] == [2000, 2000]


def test_an_interval_reaching_the_inf_bucket_is_unbounded_and_fails() -> None:
    # 1,000 requests, 8 of them slower than 1 s: the 99th percentile's upper rank lands in
    # the +Inf bucket, so nothing bounds how much slower the candidate may be.
    slow = [(0.1, 900), (1.0, 992), (INF, 1000)]
    outcome = run(spec(LATENCY, min_samples_per_arm=100),
                  {"candidate.buckets": slow, "control.buckets": FULL})
    assert outcome.status is Status.FAIL
    # p99 = 0.1 + 0.9 * 90/92 s; ranks 982 (in (0.1, 1] s) and 999 (past 1 s) at 97.5%.
    assert outcome.message == ("p99 980.4 ms vs 83.3 ms: diff +897.1 ms "
                               "(95% CI -150.0..+inf ms) > +250.0 ms")
    assert outcome.observed["ci_high"] is None  # JSON has no infinity


def test_a_histogram_in_milliseconds_is_not_scaled() -> None:
    in_ms = [(le * 1000, count) for le, count in QUANTIZED]
    outcome = run(spec(LATENCY, latency_unit="milliseconds"),
                  {"candidate.buckets": in_ms, "control.buckets": in_ms})
    assert outcome.message.startswith("p99 87.5 ms vs 87.5 ms: diff +0.0 ms")


@pytest.mark.parametrize(("values", "message"), [
    (rates((5, 999), (15, 2000)), 'too few samples in the candidate arm (arm="quantized"): '
     "999 < 1000"),
    (rates((24, 2000), (0, 140.5)), 'too few samples in the control arm (arm="full"): '
     "140.5 < 1000"),
])
def test_too_few_samples_in_an_arm_is_an_error(values: dict[str, float], message: str) -> None:
    outcome = run(spec(ERRORS), values)
    assert (outcome.status, outcome.message) == (Status.ERROR, message)


def test_too_few_observations_in_a_histogram_is_an_error() -> None:
    few = [(0.1, 10), (INF, 12)]
    outcome = run(spec(LATENCY), {"candidate.buckets": QUANTIZED, "control.buckets": few})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, 'too few samples in the control arm (arm="full"): 12 < 1000')


def test_more_successes_than_trials_is_not_a_proportion() -> None:
    outcome = run(spec(CONVERSION), rates((2100, 2000), (70, 2000)))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "the candidate arm counts 2100 of 2000: not a proportion (the numerator "
        "must count a subset of the denominator)")


@pytest.mark.parametrize(("values", "message"), [
    (rates((-5, 2000), (15, 2000)), "the candidate arm's count = -5 is negative"),
    (rates((24, 2000), (math.nan, 2000)), "the control arm's count = nan is not a finite number"),
    (rates((24, INF), (15, 2000)), "the candidate arm's trials = inf is not a finite number"),
    (rates((24, 2000), (-15, -2000)), "the control arm's trials = -2000 is negative"),
])
def test_negative_or_non_finite_counts_are_errors(values: dict[str, float], message: str) -> None:
    outcome = run(spec(ERRORS), values)
    assert (outcome.status, outcome.message) == (Status.ERROR, message)


@pytest.mark.parametrize(("bad", "message"), [
    ((0.005, math.nan), "the candidate arm's bucket le=0.005 count = nan is not a finite number"),
    ((0.005, -600), "the candidate arm's bucket le=0.005 count = -600 is negative"),
    ((INF, INF), "the candidate arm's bucket le=inf count = inf is not a finite number"),
])
def test_a_bucket_count_that_is_not_a_count_is_an_error(bad: tuple[float, float],
                                                        message: str) -> None:
    # Before: normalising kept a running maximum and read these as the bucket below's count.
    cand = [bad if le == bad[0] else (le, count) for le, count in QUANTIZED]
    outcome = run(spec(LATENCY), {"candidate.buckets": cand, "control.buckets": FULL})
    assert (outcome.status, outcome.message) == (Status.ERROR, message)


def test_a_histogram_without_its_inf_bucket_is_an_error() -> None:
    outcome = run(spec(LATENCY), {"candidate.buckets": QUANTIZED[:-1], "control.buckets": FULL})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "the candidate arm's histogram http_request_duration_seconds: a histogram "
        "needs its +Inf bucket")


def test_series_without_le_are_an_error() -> None:
    check = spec(LATENCY)
    evidence = answered(check, {"control.buckets": FULL})
    key = check.queries()["candidate.buckets"].key
    extra = {**evidence.extra, key: PromAnswer(URL, "q", T, (sample(5.0, code="200"),))}
    outcome = evaluate(check, Evidence(candidate=version(), extra=extra))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "the candidate arm's histogram http_request_duration_seconds: `q` "
        "returned series without an 'le' label")


def test_unreachable_prometheus_is_an_error() -> None:
    down = ExternalFailure(f"cannot reach Prometheus at {URL}: connection refused")
    outcome = run(spec(ERRORS), dict.fromkeys(rates((0, 1), (0, 1)), down))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"cannot reach Prometheus at {URL}: connection refused")


@pytest.mark.parametrize(("fields", "changes", "message"), [
    (ERRORS, {"max_regression": None}, "measure error_rate needs 'max_regression'"),
    (ERRORS, {"max_regression_ms": 5}, "'max_regression_ms' does not apply to measure "
     "error_rate: use 'max_regression'"),
    (LATENCY, {"max_regression_ms": None}, "measure p99 needs 'max_regression_ms'"),
    (LATENCY, {"max_regression": 0.01}, "'max_regression' does not apply to measure p99"),
    (LATENCY, {"histogram": None}, "measure p99 needs 'histogram'"),
    (ERRORS, {"errors_selector": ""}, "measure error_rate needs 'errors' or 'errors_selector'"),
    (ERRORS, {"requests": None}, "measure error_rate needs 'requests' or 'histogram'"),
    (CONVERSION, {"kpi": None}, "'kpi' is needed by, and only used with, measure kpi"),
    (ERRORS, {"kpi": CONVERSION["kpi"]}, "'kpi' is needed by, and only used with, measure kpi"),
    (ERRORS, {"confidence": 1}, "less than 1"),
    (ERRORS, {"confidence": 0.4}, "greater than or equal to 0.5"),
    (ERRORS, {"candidate": ""}, "at least 1 character"),
    (ERRORS, {"control": "{arm='full'}"}, "give label matchers without braces"),
    (ERRORS, {"measure": "p50"}, "Input should be"),
])
def test_invalid_parameters_are_rejected(fields: dict[str, Any], changes: dict[str, Any],
                                         message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        spec(fields, **changes)
