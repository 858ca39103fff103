"""Importers on hand-written samples of each format (tests/assets/probe), with exact values, and
malformed inputs with their exact one-line messages."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from gatekeeper.errors import ExitCode, InvalidInputError
from gatekeeper.probe.importers import (
    classify_error,
    import_k6_summary,
    import_locust_csv,
    submetric,
)
from gatekeeper.probe.report import EndpointReport, HoldPolicy, ProbeReport

ASSETS = Path(__file__).parent.parent / "assets" / "probe"
K6 = ASSETS / "k6-summary.json"
K6_LEGACY = ASSETS / "k6-summary-export.json"
LOCUST = ASSETS / "locust"
NO_ERRORS = {"timeout": 0, "5xx": 0, "4xx": 0, "connection": 0, "unclassified": 0}


def by_name(report: ProbeReport) -> dict[str, EndpointReport]:
    return {e.endpoint: e for e in report.endpoints}


def ms(endpoint: EndpointReport) -> dict[str, float]:
    return {k: round(v, 6) for k, v in endpoint.latency.to_dict().items()}


def test_k6_handle_summary_per_tagged_endpoint() -> None:
    report = import_k6_summary(K6, target_rps=201.0, url="http://127.0.0.1:5000")
    assert report.url == "http://127.0.0.1:5000"
    health, predict = report.endpoints
    assert (health.endpoint, predict.endpoint) == ("health", "predict")
    # predict: the ok-only submetric ({name:predict,expected_response:true}) is preferred.
    assert ms(predict) == {"p50_ms": 41.2087, "p90_ms": 71.3008, "p95_ms": 120.4469,
                           "p99_ms": 301.7315, "p99_9_ms": 488.2035, "max_ms": 512.9402}
    assert predict.service == predict.latency
    assert (predict.requests, predict.samples) == (9000, 8988)
    assert predict.errors == {**NO_ERRORS, "unclassified": 12}
    assert ms(health) == {"p50_ms": 0.9383, "p90_ms": 2.0125, "p95_ms": 2.9902,
                          "p99_ms": 7.8831, "p99_9_ms": 21.5034, "max_ms": 24.6617}
    assert (health.requests, health.samples, health.errors) == (3000, 3000, NO_ERRORS)
    # 12000 requests in 60.0018842 s; the stated 201/s is split 3:1 by request counts.
    assert predict.achieved_rps == pytest.approx(9000 / 60.0018842, rel=1e-12)
    assert (predict.target_rps, health.target_rps) == (150.75, 50.25)
    assert predict.lagging_share == pytest.approx(60 / 12060)  # dropped_iterations
    assert report.held_target_rate
    assert predict.percentile_method.endswith("coordinated omission NOT corrected; "
                                              "ok answers only")
    assert health.to_dict()["percentile_method"].endswith("failed requests included")
    assert report.percentile_method.startswith("k6 Trend percentiles of http_req_duration")
    assert predict.latency_histogram.count == 0  # no raw buckets in a summary


def test_k6_without_target_or_above_lag_is_not_held() -> None:
    assert not import_k6_summary(K6).held_target_rate
    assert math.isnan(import_k6_summary(K6).endpoints[0].target_rps)
    strict = HoldPolicy(max_lagging_share=0.001)  # 0.5% of iterations were dropped
    assert not import_k6_summary(K6, target_rps=200.0, policy=strict).held_target_rate
    short = import_k6_summary(K6, target_rps=250.0)  # 200/s achieved < 95% of 250/s
    assert not short.held_target_rate
    assert not short.endpoints[1].verdict_ok(min_samples=1)


def test_k6_submetrics_split_by_other_tags_are_not_endpoint_types(tmp_path: Path) -> None:
    extra = '"http_req_duration{name:predict,status:200}": {"avg": 1},'
    path = tmp_path / "s.json"
    path.write_text(K6.read_text().replace('"http_reqs": {', extra + ' "http_reqs": {', 1))
    assert [e.endpoint for e in import_k6_summary(path).endpoints] == ["health", "predict"]


def test_k6_legacy_summary_export_is_one_endpoint() -> None:
    report = import_k6_summary(K6_LEGACY, target_rps=60.0)
    (only,) = report.endpoints
    assert only.endpoint == "all"
    latency = ms(only)
    assert {k: latency[k] for k in ("p50_ms", "p90_ms", "p95_ms", "max_ms")} == {
        "p50_ms": 9.8602, "p90_ms": 18.2976, "p95_ms": 23.9018, "max_ms": 96.4417}
    # k6's default summary has no p(99): absent statistics are NaN, which checks treat as error.
    assert math.isnan(only.latency.p99) and math.isnan(only.latency.p99_9)
    assert (only.requests, only.samples, only.errors["unclassified"]) == (1800, 1797, 3)
    assert only.achieved_rps == pytest.approx(1800 / 30.0004, rel=1e-12)
    assert only.lagging_share == 0.0  # iterations counted, none dropped
    assert only.held_target_rate


def test_locust_csv_with_failures_by_class() -> None:
    report = import_locust_csv(LOCUST, target_rps=90.0)
    health, predict = report.endpoints
    assert ms(predict) == {"p50_ms": 42.0, "p90_ms": 72.0, "p95_ms": 120.0, "p99_ms": 300.0,
                           "p99_9_ms": 490.0, "max_ms": 2004.471203}
    assert (predict.requests, predict.samples) == (5400, 5391)
    assert predict.errors == {"timeout": 1, "5xx": 5, "4xx": 0, "connection": 2,
                              "unclassified": 1}
    assert ms(health) == {"p50_ms": 2.0, "p90_ms": 3.0, "p95_ms": 4.0, "p99_ms": 9.0,
                          "p99_9_ms": 41.0, "max_ms": 61.209452}
    assert (health.requests, health.samples) == (1800, 1798)
    assert health.errors == {**NO_ERRORS, "4xx": 2}
    # Locust's own Requests/s: requests over the whole run's span.
    assert predict.achieved_rps == pytest.approx(67.48194857875518, rel=1e-12)
    assert (predict.target_rps, health.target_rps) == (67.5, 22.5)
    assert math.isnan(predict.lagging_share)
    assert report.held_target_rate
    assert report.percentile_method == (
        "Locust response-time percentiles, rounded by Locust; latency from the actual send: "
        "coordinated omission NOT corrected; failed requests included")
    assert not import_locust_csv(LOCUST).held_target_rate  # no target stated


def test_locust_csv_without_failures_file(tmp_path: Path) -> None:
    shutil.copy(ASSETS / "locust_stats.csv", tmp_path / "run_stats.csv")
    predict = by_name(import_locust_csv(tmp_path / "run"))["predict"]
    assert predict.errors == {**NO_ERRORS, "unclassified": 9}


def test_locust_rounded_percentiles_are_clamped_to_the_exact_max(tmp_path: Path) -> None:
    text = (ASSETS / "locust_stats.csv").read_text()
    (tmp_path / "r_stats.csv").write_text(text.replace(",9,41,61,61", ",9,62,62,62"))
    assert by_name(import_locust_csv(tmp_path / "r"))["health"].latency.p99_9 == 0.06120945199997097


@pytest.mark.parametrize(("message", "expected"), [
    ("CatchResponseError('timeout')", "timeout"),
    ("CatchResponseError('5xx')", "5xx"),
    ("BadStatusCode('http://127.0.0.1:8089/x', code=502)", "5xx"),
    ("HTTPError('429 Client Error: Too Many Requests for url: /x')", "4xx"),
    ("HTTPError('504 Server Error: Gateway Timeout for url: /x')", "5xx"),
    ("ConnectTimeoutError('timed out')", "timeout"),
    ("ConnectionRefusedError(111, 'Connection refused')", "connection"),
    ("RemoteDisconnected('Remote end closed connection without response')", "connection"),
    ("CatchResponseError('wrong shape')", "unclassified"),
])
def test_classify_locust_errors(message: str, expected: str) -> None:
    assert classify_error(message) == expected


def test_submetric_names() -> None:
    assert submetric("http_req_duration{name:predict, expected_response:true}") == (
        "http_req_duration", {"name": "predict", "expected_response": "true"})
    assert submetric("http_req_duration") is None
    assert submetric("http_req_duration{broken}") is None


def k6_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as caught:
        import_k6_summary(path)
    assert caught.value.exit_code is ExitCode.INVALID_INPUT
    assert "\n" not in str(caught.value)
    return str(caught.value).replace(str(tmp_path), "TMP")


K6_BAD = {
    "syntax": ('{"metrics": {\n  "http_reqs": {"count": 1,}\n}}',
               "TMP/s.json:2:28: invalid JSON: Expecting property name enclosed in double "
               "quotes"),
    "top level": ("[1, 2]",
                  "TMP/s.json:1:1: not a k6 summary: the top level must be an object"),
    "no metrics": ('{"root_group": {}}',
                   "TMP/s.json:1:1: metrics: required, an object of k6 metrics"),
    "no http_reqs": ('{"metrics": {}}',
                     "TMP/s.json:1:2: metrics: no 'http_reqs' metric: needed for the run's "
                     "length and rate"),
    "bad number": ('{"metrics": {\n "http_reqs": {"values": {"count": "many", "rate": 1}}}}',
                   "TMP/s.json:2:27: metrics.http_reqs.values.count: must be a number, "
                   'got "many"'),
    "no duration": ('{"metrics": {"http_reqs": {"count": 1, "rate": 1}}}',
                    "TMP/s.json:1:2: metrics: no 'http_req_duration' metric"),
}


@pytest.mark.parametrize("case", sorted(K6_BAD))
def test_malformed_k6_summary(tmp_path: Path, case: str) -> None:
    text, message = K6_BAD[case]
    assert k6_error(tmp_path, text) == message


def test_k6_tagged_endpoint_needs_its_failed_submetric(tmp_path: Path) -> None:
    text = K6.read_text().replace('"http_req_failed{name:health}"', '"http_req_failed_h"')
    assert k6_error(tmp_path, text) == (
        "TMP/s.json:37:5: metrics: no 'http_req_failed{name:health}' metric: it gives the "
        "request and failure counts; k6 exports a submetric only when a threshold uses it, "
        "e.g. 'http_req_failed{name:health}': ['rate>=0']")


def test_k6_stat_of_the_wrong_type_names_its_key(tmp_path: Path) -> None:
    text = K6.read_text().replace('"p(95)": 120.4469', '"p(95)": "fast"')
    assert k6_error(tmp_path, text) == (
        'TMP/s.json:201:17: metrics.http_req_duration{name:predict,expected_response:true}'
        '.values.p(95): must be a number, got "fast"')


def locust_error(tmp_path: Path, stats: str, failures: str | None = None) -> str:
    (tmp_path / "r_stats.csv").write_text(stats)
    if failures is not None:
        (tmp_path / "r_failures.csv").write_text(failures)
    with pytest.raises(InvalidInputError) as caught:
        import_locust_csv(tmp_path / "r")
    assert "\n" not in str(caught.value)
    return str(caught.value).replace(str(tmp_path), "TMP")


STATS = (ASSETS / "locust_stats.csv").read_text()
HEADER, HEALTH, PREDICT, TOTAL = STATS.splitlines()


def test_malformed_locust_stats(tmp_path: Path) -> None:
    assert locust_error(tmp_path, "") == "TMP/r_stats.csv:1:1: file is empty"
    assert locust_error(tmp_path, "Type,Name\n") == (
        "TMP/r_stats.csv:1:1: missing column 'Request Count' (is this a Locust --csv file?)")
    bad_count = PREDICT.replace("POST,predict,5400,", "POST,predict,54o0,")
    assert locust_error(tmp_path, f"{HEADER}\n{HEALTH}\n{bad_count}\n{TOTAL}\n") == (
        "TMP/r_stats.csv:3:3: Request Count: must be a whole number, got '54o0'")
    bad_p99 = HEALTH.replace(",6,9,41,", ",6,slow,41,")
    assert locust_error(tmp_path, f"{HEADER}\n{bad_p99}\n") == (
        "TMP/r_stats.csv:2:19: 99%: must be a number >= 0, got 'slow'")
    assert locust_error(tmp_path, f"{HEADER}\n{HEALTH}\n") == (
        "TMP/r_stats.csv:2:1: no 'Aggregated' row: Locust writes it last")
    assert locust_error(tmp_path, f"{HEADER}\n{HEALTH},7\n") == (
        "TMP/r_stats.csv:2:1: 23 cells, the header has 22")
    twice = HEALTH.replace("GET,", "POST,")
    assert locust_error(tmp_path, f"{HEADER}\n{HEALTH}\n{twice}\n{TOTAL}\n") == (
        "TMP/r_stats.csv:3:2: Name: 'health' also has a GET row (line 2): percentiles of two "
        "rows cannot be combined; give each method its own name")


def test_locust_failures_must_match_the_stats(tmp_path: Path) -> None:
    failures = ("Method,Name,Error,Occurrences,First Seen,Last Seen\n"
                "GET,health,HTTPError('404 Client Error'),3,,\n")
    assert locust_error(tmp_path, STATS, failures) == (
        "TMP/r_failures.csv:1:1: lists 3 failures of 'health', the stats file 2: are both "
        "from one run?")
    assert locust_error(tmp_path, STATS, "Method,Name\n") == (
        "TMP/r_failures.csv:1:1: missing column 'Error' (is this a Locust --csv file?)")


def test_missing_files_are_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"/nope_stats\.csv:1:1: cannot read: "):
        import_locust_csv(tmp_path / "nope")
    with pytest.raises(InvalidInputError, match=r"/nope\.json:1:1: cannot read: "):
        import_k6_summary(tmp_path / "nope.json")
