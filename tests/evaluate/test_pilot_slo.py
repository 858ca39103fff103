"""``pilot_slo``: live traffic from Prometheus, judged from hand-built answers (every branch).

The same check against a real Prometheus is in tests/evidence/test_prometheus.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evaluate.pilot_slo import PilotSlo, evaluate, needs
from gatekeeper.evidence.external import ExternalFailure
from gatekeeper.evidence.interface import Evidence
from gatekeeper.evidence.prometheus import PromAnswer, PromSample
from tests.evaluate.conftest import COMMON, version

URL = "http://prometheus.test:9090"
T = 1_764_000_000.0  # when the hand-built answers were "evaluated"
API = "prometheus:http://prometheus.test:9090/api/v1/query?query="

SLO: dict[str, Any] = {
    "prometheus_url": URL, "window": "1h", "selector": 'arm="quantized"',
    "histogram": "http_request_duration_seconds", "requests": "http_requests_total",
    "errors_selector": 'code=~"5.."', "p95_ms": 50, "p99_ms": 100, "max_error_rate": 0.02,
    "min_requests": 1000,
}
GOOD = {"requests": 2000.0, "errors": 24.0, "p95": 0.0416667, "p99": 0.0875}


def spec(**fields: Any) -> PilotSlo:
    return PilotSlo(**{**COMMON, "category": "latency", "kind": "pilot_slo", **SLO, **fields})


def answered(check: PilotSlo, values: Mapping[str, object]) -> Evidence:
    """Evidence whose ``extra`` answers the check's queries by name: a number is one sample,
    a list of numbers several, anything else (a failure) is stored as it is."""
    queries = check.queries()
    extra: dict[str, object] = {}
    for name, value in values.items():
        query = queries[name]
        promql = query.param("query") or ""
        if isinstance(value, int | float):
            extra[query.key] = PromAnswer(URL, promql, T, (PromSample({}, float(value)),))
        elif isinstance(value, list):
            samples = tuple(PromSample({"i": str(i)}, v) for i, v in enumerate(value))
            extra[query.key] = PromAnswer(URL, promql, T, samples)
        else:
            extra[query.key] = value
    return Evidence(candidate=version(), extra=extra)


def run(check: PilotSlo, values: Mapping[str, object]) -> Outcome:
    return evaluate(check, answered(check, values))


def test_registered() -> None:
    assert CHECK_KINDS["pilot_slo"].spec is PilotSlo


def test_pass_shows_volume_and_every_reading() -> None:
    outcome = run(spec(), GOOD)
    assert (outcome.status, outcome.message) == (
        Status.PASS, "2000 requests in 1h (min 1000), p95 = 41.67 ms <= 50 ms, "
        "p99 = 87.5 ms <= 100 ms, error rate = 1.2% <= 2%")


@pytest.mark.parametrize(("values", "message"), [
    ({"p95": 0.0501}, "p95 = 50.1 ms > 50 ms, p99 = 87.5 ms <= 100 ms, error rate = 1.2% <= 2%"),
    ({"p99": 0.1005}, "p95 = 41.67 ms <= 50 ms, p99 = 100.5 ms > 100 ms, error rate = 1.2% <= 2%"),
    ({"errors": 41.0}, "p95 = 41.67 ms <= 50 ms, p99 = 87.5 ms <= 100 ms, "
     "error rate = 2.05% > 2%"),
])
def test_each_limit_fails_on_its_own(values: dict[str, float], message: str) -> None:
    outcome = run(spec(), {**GOOD, **values})
    assert (outcome.status, outcome.message) == (
        Status.FAIL, f"2000 requests in 1h (min 1000), {message}")


def test_limits_are_inclusive() -> None:
    outcome = run(spec(), {**GOOD, "p95": 0.05, "p99": 0.1, "errors": 40.0})
    assert outcome.status is Status.PASS
    assert outcome.message == ("2000 requests in 1h (min 1000), p95 = 50 ms <= 50 ms, "
                               "p99 = 100 ms <= 100 ms, error rate = 2% <= 2%")


@pytest.mark.parametrize(("requests", "shown"), [(140.0, "140"), (999.5, "999.5"), (0.0, "0")])
def test_too_few_requests_is_an_error(requests: float, shown: str) -> None:
    outcome = run(spec(), {**GOOD, "requests": requests})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"too few requests in the pilot window: {shown} < 1000")
    assert outcome.observed["requests"] == requests


def test_exactly_the_minimum_is_enough() -> None:
    outcome = run(spec(min_requests=2000), GOOD)
    assert outcome.status is Status.PASS
    assert outcome.message.startswith("2000 requests in 1h (min 2000), ")


def test_unreachable_prometheus_is_an_error_naming_it_once() -> None:
    down = ExternalFailure(f"cannot reach Prometheus at {URL}: connection refused")
    outcome = run(spec(), dict.fromkeys(GOOD, down))
    assert outcome.status is Status.ERROR
    assert outcome.message == f"cannot reach Prometheus at {URL}: connection refused"
    assert outcome.observed is None
    assert outcome.evidence["requests"] == (
        f"{API}sum%28increase%28http_requests_total%7Barm%3D%22quantized%22%7D%5B1h%5D%29%29")


def test_distinct_failures_are_all_named() -> None:
    outcome = run(spec(), {**GOOD, "p95": ExternalFailure("first"),
                           "errors": ExternalFailure("second")})
    assert (outcome.status, outcome.message) == (Status.ERROR, "first; second")


def test_an_answer_that_was_never_collected_is_an_error() -> None:
    outcome = run(spec(), {k: v for k, v in GOOD.items() if k != "p99"})
    assert outcome.status is Status.ERROR
    assert outcome.message == (
        "no Prometheus answer collected for `histogram_quantile(0.99, sum by (le) "
        '(rate(http_request_duration_seconds_bucket{arm="quantized"}[1h])))`')


def test_a_nan_quantile_is_an_error() -> None:
    # histogram_quantile gives NaN when no request was observed in the window.
    outcome = run(spec(), {**GOOD, "p99": math.nan})
    assert (outcome.status, outcome.message) == (Status.ERROR, "p99 = nan is not a finite number")


@pytest.mark.parametrize(("values", "message"), [
    ({"p99": math.inf}, "p99 = inf is not a finite number"),
    ({"p95": -0.01}, "p95 = -10 is negative"),
    ({"errors": -24.0}, "the error count = -24 is negative"),
    ({"errors": math.nan}, "the error count = nan is not a finite number"),
    ({"requests": math.inf}, "the request count = inf is not a finite number"),
    ({"requests": -5000.0}, "the request count = -5000 is negative"),
])
def test_negative_or_non_finite_readings_are_errors(values: dict[str, float],
                                                    message: str) -> None:
    # Before: a negative latency or error count was under every limit and passed.
    outcome = run(spec(), {**GOOD, **values})
    assert (outcome.status, outcome.message) == (Status.ERROR, message)


def test_outcome_records_values_limits_and_sources() -> None:
    at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    outcome = run(spec(at=at), GOOD)
    assert outcome.observed == {
        "requests": 2000.0, "errors": 24.0, "window": "1h",
        "evaluated_at": "2025-11-24T16:00:00.000Z",
        "p95_ms": pytest.approx(41.6667), "p99_ms": 87.5, "error_rate": 0.012}
    assert outcome.threshold == {"min_requests": 1000, "p95_ms": 50, "p99_ms": 100,
                                 "max_error_rate": 0.02, "window": "1h",
                                 "at": "2026-11-25T09:00:00Z"}
    assert set(outcome.evidence) == {"requests", "errors", "p95", "p99"}
    assert outcome.evidence["errors"] == (
        f"{API}sum%28increase%28http_requests_total%7Barm%3D%22quantized%22%2C+code%3D~"
        "%225..%22%7D%5B1h%5D%29%29&time=1764000000.000")


def test_only_what_has_a_limit_is_asked_and_shown() -> None:
    check = spec(p95_ms=None, max_error_rate=None)
    assert set(check.queries()) == {"requests", "p99"}
    outcome = run(check, {"requests": 2000.0, "p99": 0.0875})
    assert outcome.message == "2000 requests in 1h (min 1000), p99 = 87.5 ms <= 100 ms"


def test_volume_alone_can_be_gated() -> None:
    check = spec(p95_ms=None, p99_ms=None, max_error_rate=None, histogram=None)
    outcome = run(check, {"requests": 2000.0})
    assert (outcome.status, outcome.message) == (Status.PASS, "2000 requests in 1h (min 1000)")


def test_a_histogram_in_milliseconds_is_not_scaled() -> None:
    outcome = run(spec(latency_unit="milliseconds"), {**GOOD, "p95": 41.5, "p99": 87.5})
    assert "p95 = 41.5 ms <= 50 ms, p99 = 87.5 ms <= 100 ms" in outcome.message


def test_queries_are_the_promql_dashboards_use() -> None:
    at = datetime(2026, 11, 25, 9, 0, 0, 250000, tzinfo=UTC)
    queries = spec(at=at).queries()
    assert {name: q.param("query") for name, q in queries.items()} == {
        "requests": 'sum(increase(http_requests_total{arm="quantized"}[1h]))',
        "p95": "histogram_quantile(0.95, sum by (le) "
               '(rate(http_request_duration_seconds_bucket{arm="quantized"}[1h])))',
        "p99": "histogram_quantile(0.99, sum by (le) "
               '(rate(http_request_duration_seconds_bucket{arm="quantized"}[1h])))',
        "errors": 'sum(increase(http_requests_total{arm="quantized", code=~"5.."}[1h]))',
    }
    assert {q.key for q in queries.values()} == {
        "the-check/requests", "the-check/p95", "the-check/p99", "the-check/errors"}
    assert all(q.source == "prometheus" and q.param("url") == URL
               and q.param("time") == "1795597200.250" for q in queries.values())
    assert needs(spec(at=at)).external == frozenset(queries.values())


def test_defaults_read_the_histogram_count_and_the_url_from_the_environment() -> None:
    check = spec(prometheus_url=None, requests=None, selector="", errors="errors_total",
                 errors_selector="")
    queries = check.queries()
    assert queries["requests"].param("query") == (
        "sum(increase(http_request_duration_seconds_count[1h]))")
    assert queries["errors"].param("query") == "sum(increase(errors_total[1h]))"
    assert queries["requests"].param("url") is None  # the source reads GATEKEEPER_PROMETHEUS_URL
    assert queries["requests"].param("time") is None  # evaluated when the gate runs


KPI = {"name": "conversion",
       "numerator": "sum(increase(checkout_completed_total{$selector}[$window]))",
       "denominator": "sum(increase(checkout_started_total{$selector}[$window]))"}


def kpi_spec(**bounds: float) -> PilotSlo:
    return spec(p95_ms=None, p99_ms=None, max_error_rate=None, kpi={**KPI, **bounds})


def test_kpi_expressions_get_the_window_and_selector() -> None:
    queries = kpi_spec(min=0.03).queries()
    assert queries["kpi.numerator"].param("query") == (
        'sum(increase(checkout_completed_total{arm="quantized"}[1h]))')
    assert queries["kpi.denominator"].param("query") == (
        'sum(increase(checkout_started_total{arm="quantized"}[1h]))')


@pytest.mark.parametrize(("bounds", "numerator", "status", "text"), [
    ({"min": 0.03}, 62.0, Status.PASS, "conversion = 0.031 >= 0.03"),
    ({"min": 0.03}, 58.0, Status.FAIL, "conversion = 0.029 < 0.03"),
    ({"max": 0.05}, 120.0, Status.FAIL, "conversion = 0.06 > 0.05"),
    ({"min": 0.03, "max": 0.05}, 80.0, Status.PASS, "conversion = 0.04 >= 0.03 and <= 0.05"),
])
def test_kpi_bounds(bounds: dict[str, float], numerator: float, status: Status,
                    text: str) -> None:
    outcome = run(kpi_spec(**bounds), {"requests": 2000.0, "kpi.numerator": numerator,
                                       "kpi.denominator": 2000.0})
    assert (outcome.status, outcome.message) == (status, f"2000 requests in 1h (min 1000), {text}")
    assert outcome.observed["kpi"] == numerator / 2000


def test_kpi_with_a_zero_denominator_is_an_error() -> None:
    outcome = run(kpi_spec(min=0.03), {"requests": 2000.0, "kpi.numerator": 0.0,
                                       "kpi.denominator": 0.0})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "conversion: the denominator is 0 over the window")


@pytest.mark.parametrize(("bounds", "numerator", "denominator", "message"), [
    ({"max": 0.05}, -62.0, 2000.0, "conversion numerator = -62 is negative"),
    ({"min": 0.03}, -62.0, -2000.0, "conversion numerator = -62 is negative"),
    ({"min": 0.03}, 62.0, -2000.0, "conversion denominator = -2000 is negative"),
    ({"min": 0.03}, math.nan, 2000.0, "conversion numerator = nan is not a finite number"),
])
def test_kpi_parts_must_be_counts(bounds: dict[str, float], numerator: float,
                                  denominator: float, message: str) -> None:
    outcome = run(kpi_spec(**bounds), {"requests": 2000.0, "kpi.numerator": numerator,
                                       "kpi.denominator": denominator})
    assert (outcome.status, outcome.message) == (Status.ERROR, message)


def test_kpi_expression_giving_several_series_is_an_error() -> None:
    outcome = run(kpi_spec(min=0.03), {"requests": 2000.0, "kpi.numerator": [1.0, 2.0],
                                       "kpi.denominator": 2000.0})
    assert outcome.status is Status.ERROR
    assert outcome.message == (
        '`sum(increase(checkout_completed_total{arm="quantized"}[1h]))` returned 2 series, '
        "expected one: aggregate it, e.g. with sum()")


@pytest.mark.parametrize(("fields", "message"), [
    ({"histogram": None, "requests": None},
     "set 'histogram' or 'requests': the request volume is read from one of them"),
    ({"histogram": None}, "'p95_ms' and 'p99_ms' need 'histogram'"),
    ({"errors_selector": ""}, "'max_error_rate' needs 'errors' or 'errors_selector'"),
    ({"window": "1 hour"}, "'1 hour' is not a Prometheus duration like 30m, 1h or 7d"),
    ({"window": "0h"}, "'0h' is not a Prometheus duration"),
    ({"selector": '{arm="quantized"}'}, 'give label matchers without braces, e.g. '
     'arm="quantized"'),
    ({"histogram": "http-latency"}, "String should match pattern"),
    ({"prometheus_url": "prometheus:9090"}, "String should match pattern"),
    ({"max_error_rate": 1.5}, "less than or equal to 1"),
    ({"min_requests": 0}, "greater than or equal to 1"),
    ({"kpi": KPI}, "set at least one of 'min' or 'max'"),
    ({"kpi": {**KPI, "min": 0.5, "max": 0.1}}, "'min' must be at or below 'max'"),
    ({"p99_ms": math.nan}, "finite number"),
])
def test_invalid_parameters_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        spec(**fields)


def test_min_requests_is_required() -> None:
    fields = {k: v for k, v in SLO.items() if k != "min_requests"}
    with pytest.raises(pydantic.ValidationError, match="min_requests"):
        PilotSlo(**{**COMMON, "kind": "pilot_slo", **fields})
