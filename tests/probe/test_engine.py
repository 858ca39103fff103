"""The engine against real loopback targets. Tolerances are wide on purpose: these tests run on
a loaded 2-core machine beside others, and only gross errors (a hidden stall, a missing tail)
must fail them."""

from __future__ import annotations

import http.client
import math
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from gatekeeper.probe import schedule
from gatekeeper.probe.engine import Limits, StatusClass, run_plan
from gatekeeper.probe.report import EndpointReport, HoldPolicy, ProbeReport, build_report
from gatekeeper.probe.requests_mix import Planned, parse_mix
from tests.probe.target import Reply, Target, always

GET_ROOT = ['{"endpoint": "predict", "method": "GET", "path": "/"}']
#: For tests not about holding the rate: a starved machine sends many requests a few ms late,
#: which the default rule (10 ms) counts against the run; 100 ms still catches a stuck sender.
LOOSE_HOLD = HoldPolicy(lag_tolerance_s=0.1, min_rate_ratio=0.5)
DEFAULT_HOLD = HoldPolicy()


def probe(url: str, offsets: Iterable[float], *, lines: list[str] = GET_ROOT,
          limits: Limits | None = None, policy: HoldPolicy = DEFAULT_HOLD) -> ProbeReport:
    plan = parse_mix(lines, "mix").plan(offsets, seed=1)
    run = run_plan(url, plan, limits or Limits(timeout_s=2.0))
    return build_report(run, policy)


def held_by_the_rule(report: EndpointReport, policy: HoldPolicy) -> bool:
    """What ``held_target_rate`` must say, from the report's own figures."""
    return (report.lagging_share <= policy.max_lagging_share
            and report.achieved_rps >= policy.min_rate_ratio * report.target_rps)


def only(report: ProbeReport) -> EndpointReport:
    (endpoint,) = report.endpoints
    return endpoint


def closed_loop_p99(url: str, duration_s: float) -> float:
    """A client that waits for each answer before sending the next: the classic mistake."""
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=5)
    latencies = []
    stop = time.perf_counter() + duration_s
    while (start := time.perf_counter()) < stop:
        connection.request("GET", "/")
        connection.getresponse().read()
        latencies.append(time.perf_counter() - start)
    connection.close()
    latencies.sort()
    return latencies[math.ceil(0.99 * len(latencies)) - 1]


def stalling_target() -> Target:
    """Answers at once, except that it freezes for 0.5 s every 1.5 s."""
    return Target(always(Reply()), stall_every_s=1.5, stall_s=0.5)


def test_known_distribution_is_measured() -> None:
    # 2% at 200 ms rather than 1%: with exactly 1% slow, p99 sits on the boundary between
    # the two modes and either answer would be right.
    def behaviour(n: int, _path: str) -> Reply:
        return Reply(delay_s=0.2 if n % 50 == 49 else 0.005)

    policy = HoldPolicy(warmup_s=0.5)
    with Target(behaviour) as url:
        report = only(probe(url, schedule.fixed_rate(200, 4.0), policy=policy))
    # Whether a starved machine held 200/s is its own business; the flag must follow the rule.
    assert report.held_target_rate == held_by_the_rule(report, policy), report.to_dict()
    assert report.samples == report.requests == 700
    assert report.warmup_excluded == 100
    # Bounds wide enough for a loaded machine (a late send adds to latency), tight enough
    # that losing the slow mode or the coordinated-omission correction still fails.
    assert 0.005 <= report.latency.p50 <= 0.05  # truth 5 ms
    assert 0.19 <= report.latency.p99 <= 0.5  # truth 200 ms
    assert 0.19 <= report.latency.max <= 0.6
    assert report.service.p50 <= report.latency.p50 * 1.01
    assert abs(report.achieved_rps / report.target_rps - 1) < 0.3


def test_open_model_shows_a_stall_that_a_closed_loop_hides() -> None:
    with stalling_target() as url:
        open_p99 = only(probe(url, schedule.fixed_rate(200, 3.3),
                              policy=HoldPolicy(warmup_s=0.2))).latency.p99
    with stalling_target() as url:
        closed_p99 = closed_loop_p99(url, 3.3)
    assert open_p99 >= 0.3, open_p99  # truth ~0.49 s: a third of arrivals wait out a stall
    # The closed loop's truth is ~1 ms (only the ~2 requests in flight at a stall wait); a
    # loaded machine adds its own delays to both, so only the ratio is asserted.
    assert open_p99 > 2 * closed_p99, (open_p99, closed_p99)


def test_error_classes() -> None:
    replies = {"/500": Reply(500), "/404": Reply(404), "/hang-up": Reply(hang_up=True),
               "/slow": Reply(delay_s=2.0), "/ok": Reply()}
    lines = [f'{{"endpoint": "{p[1:]}", "method": "POST", "path": "{p}", "payload": [1]}}'
             for p in replies]
    with Target(lambda _n, path: replies[path]) as url:
        report = probe(url, schedule.fixed_rate(100, 1.0), lines=lines,
                       limits=Limits(timeout_s=0.5))  # "slow" answers after 2 s
    by_name = {e.endpoint: e for e in report.endpoints}
    expected = {"500": "5xx", "404": "4xx", "hang-up": "connection", "slow": "timeout"}
    for name, error_class in expected.items():
        endpoint = by_name[name]
        assert endpoint.samples == 0
        assert endpoint.errors[error_class] == endpoint.requests > 0, (name, endpoint.errors)
        assert endpoint.error_rate == 1.0
    assert by_name["ok"].samples == by_name["ok"].requests > 0
    assert set(by_name["ok"].errors.values()) == {0}


def test_rate_not_held_is_reported_and_never_passes() -> None:
    # One connection to a 20 ms target carries at most ~50/s; 200/s are asked for.
    with Target(always(Reply(delay_s=0.02))) as url:
        report = only(probe(url, schedule.fixed_rate(200, 0.5),
                            limits=Limits(connections=1, timeout_s=5.0)))
    assert not report.held_target_rate
    assert report.lagging_share > 0.5
    assert report.achieved_rps < 0.5 * report.target_rps
    assert not report.verdict_ok(min_samples=1)


def test_verdict_needs_the_minimum_samples_and_bounds_are_kept() -> None:
    with Target(always(Reply())) as url:
        report = only(probe(url, schedule.fixed_rate(100, 10.0),
                            limits=Limits(max_requests=50, max_duration_s=5.0),
                            policy=LOOSE_HOLD))
    assert report.requests == 50  # of 1,000 planned
    assert report.held_target_rate
    assert report.verdict_ok(min_samples=50)
    assert not report.verdict_ok(min_samples=51)


def test_timeouts_bound_the_run_and_report_dict_is_complete() -> None:
    plan = [Planned(0.0, parse_mix(GET_ROOT, "m").requests[0])]
    with Target(always(Reply(delay_s=3.0))) as url:
        started = time.perf_counter()
        run = run_plan(url, plan, Limits(timeout_s=0.3))
        elapsed = time.perf_counter() - started
    assert elapsed < 2.5  # the timeout is 0.3 s, the reply 3 s: slack for a loaded machine
    assert [s.status for s in run.samples] == [StatusClass.TIMEOUT]
    data = build_report(run, HoldPolicy()).to_dict()
    assert data["endpoints"][0]["errors"] == {"timeout": 1, "5xx": 0, "4xx": 0, "connection": 0}
    assert data["percentile_method"].startswith("nearest rank")


def test_on_response_sees_every_answers_headers() -> None:
    seen: list[str] = []
    plan = parse_mix(GET_ROOT, "mix").plan(schedule.fixed_rate(100, 0.2), seed=1)
    with Target(always(Reply())) as url:
        run = run_plan(url, plan, Limits(timeout_s=2.0), headers={"X-Probe": "1"},
                       on_response=lambda headers: seen.append(headers["content-type"]))

    assert seen == ["application/json"] * len(run.samples) and len(seen) == 20


def test_a_request_without_a_free_connection_in_time_is_a_timeout_and_the_run_is_bounded(
        ) -> None:
    # 2 connections, answers after 1 s, 20/s for 2 s, 0.5 s timeout: nearly every request
    # waits for a connection, most of its timeout, and times out. Each still leaves a timeout
    # sample ended within its timeout of when it was due, and the run ends near 2 + 0.5 s, not
    # after the queue drains at 2 answers/s (about 20 s).
    limits = Limits(max_duration_s=2.0, timeout_s=0.5, connections=2)
    plan = parse_mix(GET_ROOT, "mix").plan(schedule.fixed_rate(20, 2.0), seed=1)
    with Target(always(Reply(delay_s=1.0))) as url:
        started = time.monotonic()
        run = run_plan(url, plan, limits)
        took = time.monotonic() - started
    assert run.planned == len(run.samples) == 40
    assert {s.status for s in run.samples} == {StatusClass.TIMEOUT}
    waited = [s for s in run.samples if s.lag_s >= 0.3]
    assert len(waited) >= 30
    # 2 s of slack for a loaded machine; waiting for the queue instead would end the later
    # requests up to ~18 s after they were due.
    assert all(s.ended_s - s.intended_s < 0.5 + 2.0 for s in run.samples)
    assert took < 2.0 + 0.5 + 10  # generous: a loaded machine
    assert not build_report(run, HoldPolicy()).held_target_rate
