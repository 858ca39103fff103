"""The engine's timer precision, as figures: how late its loop wakes, how late it sends, and
how long a precise target holds a 5 ms delay (medians over several runs, in milliseconds).

tests/probe/test_timers.py asserts only what holds on a loaded machine (sub-millisecond
wake-ups happen, requests leave on time, delays are neither cut short nor stretched much);
the figures below are what issue 3 is judged on. The tests used to assert them: median
oversleep < 0.35 ms (epoll: ~0.8 ms), median send lag at 500/s < 0.4 ms (0.5-0.6 ms before the
precise loop), median service time of a 5 ms delay at 200/s 5.0-5.6 ms (5.67 ms on a busy CI
machine, a red build on a correct change). At load 10 on 2 cores the oversleep stayed ~0.1 ms
while the send lag at 500/s reached 10-90 ms and the service time 10 ms.
Run by hand (`make bench`); figures go in the closing note, never into timed tests.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatekeeper.probe.engine import run_engine_loop
from tests.probe.test_timers import oversleeps, paced_run

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def wake_ups(precise: bool) -> list[float]:
    """Lateness of 200 sleeps of 0.3 ms, on the engine's loop or asyncio's default one."""
    if precise:
        return run_engine_loop(oversleeps(200), connections=256)
    return asyncio.run(oversleeps(200))


def send_lags() -> list[float]:
    """Send lag of the measured part of a second at 500/s to an instant target."""
    return [s.lag_s for s in paced_run(500, 0.0).samples if s.intended_s >= 0.2]


def service_times() -> list[float]:
    """Service time of the measured part of a second at 200/s to a precise 5 ms target."""
    run = paced_run(200, 0.005, precise_target=True)
    return [s.service_s for s in run.samples if s.intended_s >= 0.2]


def report(name: str, measure: Callable[[], list[float]]) -> None:
    """One line: the median of each run's median, and the runs' range, in milliseconds."""
    medians = [statistics.median(measure()) * 1000 for _ in range(RUNS)]
    print(f"{name:<44} median {statistics.median(medians):7.3f} ms"
          f"  (runs {min(medians):.3f}-{max(medians):.3f})")


def main() -> None:
    print(f"timer precision, median of {RUNS} runs")
    report("0.3 ms sleep, oversleep (engine loop)", lambda: wake_ups(precise=True))
    report("0.3 ms sleep, oversleep (default loop)", lambda: wake_ups(precise=False))
    report("send lag at 500/s", send_lags)
    report("service time of a 5 ms delay at 200/s", service_times)


if __name__ == "__main__":
    main()
