"""The engine's event loop wakes timers with sub-millisecond precision (issue 3: asyncio's
default epoll selector rounds every timeout up to a whole millisecond, which the engine's
latency would then include as send lag)."""

from __future__ import annotations

import asyncio
import statistics

from gatekeeper.probe import schedule
from gatekeeper.probe.engine import (
    SELECT_FD_LIMIT,
    Limits,
    highest_open_fd,
    precise_timers_fit,
    run_engine_loop,
    run_plan,
)
from gatekeeper.probe.requests_mix import parse_mix
from tests.probe.target import Reply, Target, always

SLEEP_S = 0.0003


async def oversleeps(times: int) -> list[float]:
    """How late each of ``times`` 0.3 ms sleeps woke up, in seconds."""
    loop = asyncio.get_running_loop()
    late = []
    for _ in range(times):
        due = loop.time() + SLEEP_S
        await asyncio.sleep(SLEEP_S)
        late.append(loop.time() - due)
    return late


def test_engine_loop_timers_wake_within_a_fraction_of_a_millisecond() -> None:
    late = run_engine_loop(oversleeps(200), connections=256)

    # epoll would give about 0.7 ms (0.3 ms rounded up to 1 ms); select() about 0.05 ms.
    assert statistics.median(late) < 0.00035


def test_a_pool_too_big_for_select_falls_back_to_the_default_loop() -> None:
    assert precise_timers_fit(256)
    assert not precise_timers_fit(SELECT_FD_LIMIT // 2)
    late = run_engine_loop(oversleeps(5), connections=SELECT_FD_LIMIT)
    assert len(late) == 5


def test_highest_open_fd_sees_this_process_descriptors() -> None:
    highest = highest_open_fd()
    assert highest is not None and highest >= 2


def test_requests_leave_on_time_at_500_per_second() -> None:
    mix = parse_mix(['{"endpoint": "root", "method": "GET", "path": "/"}'], "mix")
    with Target(always(Reply())) as url:
        run = run_plan(url, mix.plan(schedule.fixed_rate(500, 1.0), seed=1),
                       Limits(timeout_s=2.0, connections=32))

    lags = [s.lag_s for s in run.samples if s.intended_s >= 0.2]
    # Before the precise loop the median send lag was 0.5-0.6 ms (timer rounding).
    assert statistics.median(lags) < 0.0004


def test_a_precise_target_ends_its_delays_within_a_fraction_of_a_millisecond() -> None:
    # The bench's target: on the default epoll loop a 5 ms delay ended 5-6 ms after the request,
    # depending on when it arrived (so wrk and the probe saw different targets).
    mix = parse_mix(['{"endpoint": "root", "method": "GET", "path": "/"}'], "mix")
    with Target(always(Reply(delay_s=0.005)), precise_timers=True) as url:
        run = run_plan(url, mix.plan(schedule.fixed_rate(200, 1.0), seed=1),
                       Limits(timeout_s=2.0, connections=32))

    service = [s.service_s for s in run.samples if s.intended_s >= 0.2]
    assert len(service) == 160
    assert 0.005 <= statistics.median(service) < 0.0056
