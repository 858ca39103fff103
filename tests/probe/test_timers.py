"""The engine's event loop wakes timers with sub-millisecond precision (issue 3: asyncio's
default epoll selector rounds every timeout up to a whole millisecond, which the engine's
latency would then include as send lag).

These tests assert behaviour with bounds that hold on a loaded machine (a busy 2-core CI
runner): sub-millisecond wake-ups happen at all, requests leave on time, a delay is neither
shortened nor stretched by much. The precision figures themselves (median oversleep, send lag
and service time to a tenth of a millisecond) are reported by ``bench/timers.py``.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import socket
import statistics

import pytest

from gatekeeper.probe import schedule
from gatekeeper.probe.engine import (
    SELECT_FD_LIMIT,
    Limits,
    RunRecord,
    highest_open_fd,
    run_engine_loop,
    run_plan,
)
from gatekeeper.probe.requests_mix import parse_mix
from tests.probe.target import Reply, Target, always

SLEEP_S = 0.0003
ROOT = parse_mix(['{"endpoint": "root", "method": "GET", "path": "/"}'], "mix")


async def oversleeps(times: int) -> list[float]:
    """How late each of ``times`` 0.3 ms sleeps woke up, in seconds."""
    loop = asyncio.get_running_loop()
    late = []
    for _ in range(times):
        due = loop.time() + SLEEP_S
        await asyncio.sleep(SLEEP_S)
        late.append(loop.time() - due)
    return late


def paced_run(rate: float, delay_s: float, precise_target: bool = False) -> RunRecord:
    """One second at ``rate`` against a target answering after ``delay_s``."""
    with Target(always(Reply(delay_s=delay_s)), precise_timers=precise_target) as url:
        return run_plan(url, ROOT.plan(schedule.fixed_rate(rate, 1.0), seed=1),
                        Limits(timeout_s=2.0, connections=32))


def test_engine_loop_timers_wake_within_a_fraction_of_a_millisecond() -> None:
    late = sorted(run_engine_loop(oversleeps(200), connections=256))

    # A loop that rounds timeouts up to whole milliseconds (epoll) wakes every 0.3 ms sleep
    # at least ~0.7 ms late; select() wakes most of them within ~0.1 ms. A busy machine only
    # adds lateness to some wake-ups, so the fastest tenth still tells the two apart.
    assert late[0] >= -1e-6  # never early
    assert late[len(late) // 10] < 0.0005, late[:40]


def test_a_pool_beyond_select_s_reach_keeps_sub_millisecond_timers() -> None:
    # select() alone takes descriptors below 1024; the precise loop waits on epoll's own
    # descriptor, so a pool of any size keeps its timers (it fell back to whole ms before).
    late = sorted(run_engine_loop(oversleeps(200), connections=4 * SELECT_FD_LIMIT))

    assert late[0] >= -1e-6
    assert late[len(late) // 10] < 0.0005, late[:40]


def test_the_precise_loop_hears_descriptors_beyond_1024() -> None:
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit <= SELECT_FD_LIMIT + 64:
        pytest.skip(f"this process may open only {limit} descriptors")
    held = [socket.socket() for _ in range(SELECT_FD_LIMIT)]  # push the next ones past 1024
    try:
        left, right = socket.socketpair()
        assert left.fileno() >= SELECT_FD_LIMIT

        async def echo() -> bytes:
            reader, _ = await asyncio.open_connection(sock=left)
            right.sendall(b"ping")
            loop = asyncio.get_running_loop()
            loop.call_later(0.0003, lambda: None)  # a sub-ms timer in play, as in a run
            return await asyncio.wait_for(reader.readexactly(4), 10)

        assert run_engine_loop(echo(), connections=1) == b"ping"
        right.close()
    finally:
        for sock in held:
            sock.close()


def test_objects_alive_before_a_run_are_out_of_the_collectors_sight_during_it() -> None:
    async def frozen() -> int:
        return gc.get_freeze_count()

    during = run_engine_loop(frozen(), connections=1)

    assert during > 1000  # this process's modules and tests: a full collection skips them
    assert gc.get_freeze_count() == 0  # and they are the collector's again afterwards


def test_highest_open_fd_sees_this_process_descriptors() -> None:
    highest = highest_open_fd()
    assert highest is not None and highest >= 2


def test_requests_leave_on_time() -> None:
    # 100/s, not the bench's 500/s: target and engine share this process, and on a starved
    # 2-core machine (load 10) 500/s fell 0.1-0.6 s behind while 100/s kept a 10 ms median.
    run = paced_run(100, 0.0)

    lags = [s.lag_s for s in run.samples if s.intended_s >= 0.2]
    assert len(lags) == 80
    assert min(lags) >= 0  # never before their intended time
    # The precise figure (0.5-0.6 ms before the precise loop) is reported by bench/timers.py.
    assert statistics.median(lags) < 0.050, statistics.median(lags)


def test_a_precise_target_ends_its_delays_on_time() -> None:
    # The bench's target: on the default epoll loop a 5 ms delay ended 5-6 ms after the request,
    # depending on when it arrived (so wrk and the probe saw different targets). Its precision
    # (median 5.1-5.3 ms unloaded at 200/s) is reported by bench/timers.py; at load 10 the
    # median here was 12-17 ms.
    run = paced_run(100, 0.005, precise_target=True)

    service = [s.service_s for s in run.samples if s.intended_s >= 0.2]
    assert len(service) == 80
    assert min(service) >= 0.005  # a delay is never cut short
    assert statistics.median(service) < 0.050, statistics.median(service)
