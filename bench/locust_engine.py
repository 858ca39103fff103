"""The Locust engine's exact counts and rates: the scenario of
tests/probe/test_locust_engine.py (100/s for 4 s, 1 s warm-up, one worker, a 5 ms target),
run several times, one line per endpoint and run.

The test asserts only what holds on a loaded machine (counts within 30% of the plan and never
beyond it); how close Locust comes to the plan is reported here. The test used to assert
each endpoint's count within 3 of the plan, and a busy CI machine sent 216 where 221 were
planned; at load 10 on 2 cores, 187 of 221 (85%).
Run by hand (`make bench`); figures go in the closing note, never into timed tests.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatekeeper.probe.engine import Limits
from gatekeeper.probe.engines.locust_engine import run_locust
from gatekeeper.probe.report import HoldPolicy
from tests.probe.target import Reply, Target, always
from tests.probe.test_locust_engine import plan, planned_after

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
RATE, SECONDS, WARMUP_S = 100.0, 4.0, 1.0


def run_once(number: int) -> None:
    items = plan(RATE, SECONDS)
    expected = planned_after(items, WARMUP_S)
    target = Target(always(Reply(delay_s=0.005)))
    with target as url:
        started = time.perf_counter()
        report = run_locust(url, items, Limits(timeout_s=1.0), HoldPolicy(warmup_s=WARMUP_S))
        elapsed = time.perf_counter() - started
    for e in report.endpoints:
        planned = expected[e.endpoint]
        print(f"run {number}  {e.endpoint:<8} sent {e.requests:4d} of {planned:4d}"
              f" ({e.requests - planned:+d}, {e.requests / planned:6.1%})"
              f"  {e.achieved_rps:6.2f}/s of {e.target_rps:6.2f}/s"
              f"  p50 {e.latency.p50 * 1000:5.1f} ms  held {e.held_target_rate}")
    sent = sum(e.requests + e.warmup_excluded for e in report.endpoints)
    print(f"run {number}  total    sent {sent:4d} of {len(items):4d} (target saw"
          f" {target.requests}), {elapsed:.1f} s wall")


def main() -> None:
    print(f"Locust engine: {RATE:g}/s for {SECONDS:g} s, {WARMUP_S:g} s warm-up, {RUNS} runs")
    for number in range(1, RUNS + 1):
        run_once(number)


if __name__ == "__main__":
    main()
