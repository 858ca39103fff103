"""The Prometheus evidence source, and the pilot checks on what it reads, against a real
Prometheus scraping a test exporter with known histogram contents (tests/support/prometheus.py),
plus loopback stubs for the ways a server can misbehave.

The expected quantiles are computed by hand the way Prometheus' ``histogram_quantile`` must
compute them: find the bucket holding rank q·n, interpolate linearly inside it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gatekeeper.evaluate import ab_comparison, pilot_slo
from gatekeeper.evaluate.interface import CheckSpecBase, Outcome, Status
from gatekeeper.evidence.external import with_external
from gatekeeper.evidence.interface import Evidence, EvidenceSourceError
from gatekeeper.evidence.prometheus import (
    URL_ENV,
    answer,
    bucket_counts,
    buckets_in_window,
    external_query,
    quantile_in_window,
    run_query,
    time_param,
    total_in_window,
)
from tests.evaluate.conftest import COMMON, version
from tests.evidence.conftest import PilotPrometheus
from tests.support.prometheus import FULL, HISTOGRAM, QUANTIZED, REQUESTS
from tests.support.server import free_port

QUANTIZED_ARM = ('arm="quantized"',)

# By hand, quantized arm (2,000 observations; cumulative 600, 1400, 1800, 1950, 1990, ...):
# p95: rank 1900 falls in (0.025, 0.05] s, which holds 150 (1800 below it): 0.025 + 0.025·100/150
# p99: rank 1980 falls in (0.05, 0.1] s, which holds 40 (1950 below it): 0.05 + 0.05·30/40
QUANTIZED_P95 = 0.025 + 0.025 * 100 / 150  # 41.67 ms
QUANTIZED_P99 = 0.05 + 0.05 * 30 / 40  # 87.5 ms
# Full arm (cumulative 700, 1500, 1850, 1960, 1990, ...): rank 1980 in (0.05, 0.1] s, 30 there,
# 1960 below: 0.05 + 0.05·20/30
FULL_P99 = 0.05 + 0.05 * 20 / 30  # 83.33 ms


def at(prom: PilotPrometheus) -> str:
    return time_param(prom.at)


# --- the source against the real Prometheus -------------------------------------------------

def test_reads_request_volume_exactly(pilot_prometheus: PilotPrometheus) -> None:
    found = run_query(pilot_prometheus.url, total_in_window(REQUESTS, QUANTIZED_ARM, "1h"),
                      at(pilot_prometheus))
    assert [s.value for s in found.samples] == [2000.0]
    assert found.time == pytest.approx(pilot_prometheus.at.timestamp(), abs=1e-3)


@pytest.mark.parametrize(("q", "expected"), [(0.95, QUANTIZED_P95), (0.99, QUANTIZED_P99)])
def test_histogram_quantile_is_the_hand_computed_one(pilot_prometheus: PilotPrometheus,
                                                     q: float, expected: float) -> None:
    found = run_query(pilot_prometheus.url, quantile_in_window(q, HISTOGRAM, QUANTIZED_ARM, "1h"),
                      at(pilot_prometheus))
    assert found.samples[0].value == pytest.approx(expected, rel=1e-9)


def test_bucket_counts_are_the_exported_ones(pilot_prometheus: PilotPrometheus) -> None:
    found = run_query(pilot_prometheus.url, buckets_in_window(HISTOGRAM, ('arm="full"',), "1h"),
                      at(pilot_prometheus))
    counts = sorted(bucket_counts(found))
    assert [c for _, c in counts] == FULL.cumulative()
    assert [le for le, _ in counts][:3] == [0.005, 0.01, 0.025]


def test_a_rejected_query_names_prometheus_and_its_reason(
        pilot_prometheus: PilotPrometheus) -> None:
    with pytest.raises(EvidenceSourceError) as raised:
        run_query(pilot_prometheus.url, "sum(rate(x[1h])")
    assert str(raised.value).startswith(
        f"Prometheus at {pilot_prometheus.url} rejected the query: bad_data: ")
    assert "parse error" in str(raised.value)


def test_no_data_is_an_error_never_zero(pilot_prometheus: PilotPrometheus) -> None:
    with pytest.raises(EvidenceSourceError) as raised:
        run_query(pilot_prometheus.url, "sum(increase(no_such_metric_total[1h]))")
    assert str(raised.value) == (f"Prometheus at {pilot_prometheus.url} returned no data for "
                                 "`sum(increase(no_such_metric_total[1h]))`")


def test_a_range_vector_is_not_evidence(pilot_prometheus: PilotPrometheus) -> None:
    with pytest.raises(EvidenceSourceError) as raised:
        run_query(pilot_prometheus.url, f"{REQUESTS}[1m]")
    assert str(raised.value) == (f"Prometheus at {pilot_prometheus.url} answered a matrix "
                                 f"result to `{REQUESTS}[1m]`: expected an instant vector or "
                                 "a scalar")


def test_a_scalar_is_one_sample(pilot_prometheus: PilotPrometheus) -> None:
    found = run_query(pilot_prometheus.url, "scalar(vector(42))")
    assert [(dict(s.labels), s.value) for s in found.samples] == [({}, 42.0)]


def test_the_url_comes_from_the_environment_when_the_check_names_none(
        pilot_prometheus: PilotPrometheus) -> None:
    query = external_query("k", "vector(1)")
    assert answer(query, {URL_ENV: pilot_prometheus.url}).url == pilot_prometheus.url
    with pytest.raises(EvidenceSourceError) as raised:
        answer(query, {})
    assert str(raised.value) == ("no Prometheus URL: set 'prometheus_url' on the check or "
                                 "GATEKEEPER_PROMETHEUS_URL")


def test_the_checks_url_wins_over_the_environment(pilot_prometheus: PilotPrometheus) -> None:
    query = external_query("k", "vector(1)", url=pilot_prometheus.url)
    unused = f"http://127.0.0.1:{free_port()}"
    assert answer(query, {URL_ENV: unused}).url == pilot_prometheus.url


def test_a_base_url_with_a_trailing_slash_works(pilot_prometheus: PilotPrometheus) -> None:
    assert run_query(pilot_prometheus.url + "/", "vector(1)").samples[0].value == 1.0


# --- misbehaving servers ---------------------------------------------------------------------

def test_unreachable_prometheus_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(EvidenceSourceError) as raised:
        run_query(url, "vector(1)")
    assert str(raised.value) == f"cannot reach Prometheus at {url}: connection refused"


def test_a_silent_server_times_out_within_the_bound() -> None:
    with socket.socket() as listener:  # accepts connections (the backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(EvidenceSourceError) as raised:
            run_query(url, "vector(1)", timeout=0.2, retries=1)
        elapsed = time.monotonic() - started
    assert str(raised.value) == f"cannot reach Prometheus at {url}: no answer within 0.2 s"
    assert elapsed < 5  # two attempts of 0.2 s and one 0.25 s pause (0.65 s), slack for load


Response = tuple[int, dict[str, str], bytes]  # status, headers, body


@dataclass
class Script:
    """What a stub server answers, one response per request, the last one repeated."""

    responses: list[Response]
    paths: list[str] = field(default_factory=list)


@contextlib.contextmanager
def stub(script: Script) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            script.paths.append(self.path)
            index = min(len(script.paths), len(script.responses)) - 1
            status, headers, body = script.responses[index]
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


OK: Response = (200, {"Content-Type": "application/json"},
      b'{"status":"success","data":{"resultType":"vector","result":'
      b'[{"metric":{},"value":[1764000000.5,"7"]}]}}')
UNAVAILABLE: Response = (503, {"Content-Type": "application/json"},
               b'{"status":"error","errorType":"timeout","error":"query timed out"}')


def test_server_errors_are_retried_then_answered() -> None:
    script = Script([UNAVAILABLE, UNAVAILABLE, OK])
    with stub(script) as url:
        found = run_query(url, "vector(7)", retries=2)
    assert [s.value for s in found.samples] == [7.0]
    assert found.time == 1764000000.5
    assert len(script.paths) == 3
    assert all(p.startswith("/api/v1/query?query=vector%287%29") for p in script.paths)


def test_retries_are_bounded() -> None:
    script = Script([UNAVAILABLE])
    with stub(script) as url, pytest.raises(EvidenceSourceError) as raised:
        run_query(url, "vector(7)", retries=2)
    assert str(raised.value) == (f"Prometheus at {url} rejected the query: timeout: "
                                 "query timed out")
    assert len(script.paths) == 3


def test_a_rejected_query_is_not_retried() -> None:
    bad: Response = (400, {}, b'{"status":"error","errorType":"bad_data","error":"parse error"}')
    script = Script([bad, OK])
    with stub(script) as url, pytest.raises(EvidenceSourceError):
        run_query(url, "oops(")
    assert len(script.paths) == 1


def test_redirects_are_not_followed() -> None:
    with stub(Script([OK])) as elsewhere:
        script = Script([(302, {"Location": f"{elsewhere}/api/v1/query"}, b"")])
        with stub(script) as url, pytest.raises(EvidenceSourceError) as raised:
            run_query(url, "vector(1)")
    assert str(raised.value) == (f"Prometheus at {url} answered HTTP 302 (redirect to "
                                 f"{elsewhere}/api/v1/query), not followed: configure that URL")


@pytest.mark.parametrize(("response", "message"), [
    ((200, {}, b"<html>Grafana</html>"), "answered with no JSON: is it the Prometheus "
     "server's base URL?"),
    ((404, {}, b"404 page not found"), "answered HTTP 404: is it the base URL?"),
])
def test_something_that_is_not_prometheus(response: Response,
                                          message: str) -> None:
    with stub(Script([response])) as url, pytest.raises(EvidenceSourceError) as raised:
        run_query(url, "vector(1)")
    assert str(raised.value) == f"Prometheus at {url} {message}"


# --- the pilot checks on the real Prometheus -------------------------------------------------

def gathered(check: CheckSpecBase, needs: Any) -> Evidence:
    return with_external(Evidence(candidate=version()), needs(check).external, {})


def pilot(prom_url: str, moment: datetime, **fields: Any) -> pilot_slo.PilotSlo:
    return pilot_slo.PilotSlo(**{
        **COMMON, "kind": "pilot_slo", "category": "latency", "prometheus_url": prom_url,
        "window": "1h", "at": moment, "selector": 'arm="quantized"', "histogram": HISTOGRAM,
        "requests": REQUESTS, "errors_selector": 'code=~"5.."', "p95_ms": 50, "p99_ms": 100,
        "max_error_rate": 0.02, "min_requests": 1000, **fields})


def evaluate_pilot(check: pilot_slo.PilotSlo) -> Outcome:
    return pilot_slo.evaluate(check, gathered(check, pilot_slo.needs))


def test_pilot_check_reads_the_right_quantiles_and_volumes(
        pilot_prometheus: PilotPrometheus) -> None:
    outcome = evaluate_pilot(pilot(pilot_prometheus.url, pilot_prometheus.at))
    assert (outcome.status, outcome.message) == (
        Status.PASS, "2000 requests in 1h (min 1000), p95 = 41.67 ms <= 50 ms, "
        "p99 = 87.5 ms <= 100 ms, error rate = 1.2% <= 2%")
    assert outcome.observed["p95_ms"] == pytest.approx(QUANTIZED_P95 * 1000, rel=1e-9)
    assert outcome.observed["p99_ms"] == pytest.approx(QUANTIZED_P99 * 1000, rel=1e-9)
    assert (outcome.observed["requests"], outcome.observed["errors"]) == (
        2000.0, QUANTIZED.codes["500"])
    assert outcome.evidence["p99"].startswith(
        f"prometheus:{pilot_prometheus.url}/api/v1/query?query=histogram_quantile%280.99")


def test_pilot_check_on_the_other_arm(pilot_prometheus: PilotPrometheus) -> None:
    outcome = evaluate_pilot(pilot(pilot_prometheus.url, pilot_prometheus.at,
                                   selector='arm="full"', p99_ms=80))
    assert outcome.status is Status.FAIL
    assert outcome.message == ("2000 requests in 1h (min 1000), p95 = 36.36 ms <= 50 ms, "
                               "p99 = 83.33 ms > 80 ms, error rate = 0.75% <= 2%")
    assert outcome.observed["p99_ms"] == pytest.approx(FULL_P99 * 1000, rel=1e-9)


def test_pilot_check_below_the_minimum_volume_is_an_error(
        pilot_prometheus: PilotPrometheus) -> None:
    outcome = evaluate_pilot(pilot(pilot_prometheus.url, pilot_prometheus.at,
                                   min_requests=5000))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "too few requests in the pilot window: 2000 < 5000")


def test_pilot_check_against_unreachable_prometheus_is_an_error(
        pilot_prometheus: PilotPrometheus) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    outcome = evaluate_pilot(pilot(url, pilot_prometheus.at))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"cannot reach Prometheus at {url}: connection refused")


def ab(prom: PilotPrometheus, **fields: Any) -> ab_comparison.AbComparison:
    return ab_comparison.AbComparison(**{
        **COMMON, "kind": "ab_comparison", "prometheus_url": prom.url, "window": "1h",
        "at": prom.at, "candidate": 'arm="quantized"', "control": 'arm="full"',
        "min_samples_per_arm": 1000, **fields})


def test_ab_error_rate_from_prometheus(pilot_prometheus: PilotPrometheus) -> None:
    check = ab(pilot_prometheus, measure="error_rate", requests=REQUESTS,
               errors_selector='code=~"5.."', max_regression=0.012)
    outcome = ab_comparison.evaluate(check, gathered(check, ab_comparison.needs))
    assert (outcome.status, outcome.message) == (
        Status.PASS, "error rate 1.2% vs 0.75%: diff +0.45 pp (95% CI -0.17..+1.10 pp) "
        "<= +1.20 pp")
    assert outcome.observed["candidate_counts"] == [24.0, 2000.0]


def test_ab_p99_from_prometheus(pilot_prometheus: PilotPrometheus) -> None:
    check = ab(pilot_prometheus, measure="p99", histogram=HISTOGRAM, max_regression_ms=100)
    outcome = ab_comparison.evaluate(check, gathered(check, ab_comparison.needs))
    assert (outcome.status, outcome.message) == (
        Status.FAIL, "p99 87.5 ms vs 83.3 ms: diff +4.2 ms (95% CI -200.0..+200.0 ms) "
        "> +100.0 ms")
    assert outcome.observed["candidate"] == pytest.approx(QUANTIZED_P99 * 1000, rel=1e-9)
    assert outcome.observed["control"] == pytest.approx(FULL_P99 * 1000, rel=1e-9)
