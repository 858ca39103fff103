"""The probe's accuracy and the highest fixed rate it holds, on a loopback target.

The target (tests/probe/target.py, answering at once) runs in its own process so it does not
share the probe's interpreter lock. For each rate the probe runs for ``BENCH_SECONDS``; if
``wrk2`` (``wrk -R``) is on PATH its p50/p99 at the same rate are printed beside the probe's.
Goals (issue 3): within 10% of wrk at every rate the probe holds; holds >= 4,000 requests/s.
Run by hand; figures go in the closing note, never into timed tests.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatekeeper.probe import schedule
from gatekeeper.probe.engine import Limits, run_plan
from gatekeeper.probe.report import HoldPolicy, build_report
from gatekeeper.probe.requests_mix import parse_mix

RATES = [int(r) for r in os.environ.get("BENCH_RATES", "500,1000,2000,3000,4000").split(",")]
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
MIX = parse_mix(['{"endpoint": "root", "method": "GET", "path": "/"}'], "bench")


def serve(port_out: multiprocessing.SimpleQueue[str]) -> None:
    from tests.probe.target import Reply, Target, always

    with Target(always(Reply())) as url:
        port_out.put(url)
        time.sleep(3600)


def probe_at(url: str, rate: int) -> str:
    plan = MIX.plan(schedule.fixed_rate(rate, SECONDS), seed=1)
    started = time.process_time()
    run = run_plan(url, plan, Limits(timeout_s=2.0, connections=64))
    cpu = (time.process_time() - started) / SECONDS
    (report,) = build_report(run, HoldPolicy(warmup_s=1.0)).endpoints
    return (f"probe rate={rate:5d} held={report.held_target_rate!s:5} "
            f"achieved={report.achieved_rps:7.0f}/s lagging={report.lagging_share:5.1%} "
            f"p50={report.latency.p50 * 1000:6.2f}ms p99={report.latency.p99 * 1000:7.2f}ms "
            f"cpu={cpu:4.0%}")


def wrk_at(url: str, rate: int) -> str:
    wrk = shutil.which("wrk2") or shutil.which("wrk")
    if wrk is None:
        return "wrk: not on PATH"
    out = subprocess.run([wrk, "-t1", "-c64", f"-d{SECONDS:.0f}s", f"-R{rate}", "--latency", url],
                         capture_output=True, text=True).stdout
    found = dict(re.findall(r"\s(50|99)\.000%\s+(\S+)", out))
    return f"wrk   rate={rate:5d} p50={found.get('50', '?')} p99={found.get('99', '?')}"


def main() -> None:
    urls: multiprocessing.SimpleQueue[str] = multiprocessing.SimpleQueue()
    server = multiprocessing.Process(target=serve, args=(urls,), daemon=True)
    server.start()
    url = urls.get()
    try:
        for rate in RATES:
            print(probe_at(url, rate), flush=True)
            print(wrk_at(url, rate), flush=True)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
