"""AIPerf's ``profile_export_aiperf.json`` (and GenAI-Perf's ``profile_export_genai_perf.json``,
whose layout AIPerf keeps): one object per metric, ``{"unit": "ms", "avg", "p50", "p90",
"p95", "p99", "min", "max", "std"}``, counts in ``avg``.

AIPerf's ``inter_token_latency`` is (request latency - TTFT) / (output tokens - 1) per request:
our **TPOT**. Its ``inter_chunk_latency`` (gaps between chunks, pooled) is our ITL. Its
``time_to_first_token`` counts to the first response chunk, content or not (ours skips a
role-only first chunk). It has no NTPOT.
"""

from __future__ import annotations

import math
from pathlib import Path

from gatekeeper.probe.llm_import.common import (
    JsonFile,
    LlmTally,
    finite_or_none,
    llm_report,
    percentiles,
)
from gatekeeper.probe.report import HoldPolicy, Percentiles, ProbeReport

TOOL = "aiperf"
HINT = ("give AIPerf's artifacts/<run>/profile_export_aiperf.json (or GenAI-Perf's "
        "profile_export_genai_perf.json)")
NAMES = {"request_latency": "e2e", "time_to_first_token": "ttft",
         "inter_token_latency": "tpot", "inter_chunk_latency": "itl"}
STATS = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "max": "max"}
UNITS = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0, "sec": 1.0}
METHOD = "AIPerf percentiles as exported (p50..p99, no p99.9)"


def import_aiperf(path: Path, /, *, target_rps: float | None = None,
                  policy: HoldPolicy | None = None, url: str = "") -> ProbeReport:
    """Read an AIPerf or GenAI-Perf aggregate export into a report of one type, ``all``."""
    f = JsonFile.load(path, HINT)
    latency = {ours: metric(f, theirs) for theirs, ours in NAMES.items()
               if f.get((theirs,)) is not None}
    if "e2e" not in latency:
        raise f.fail(("request_latency",), "required: the end-to-end latency statistics")
    ok = f.number(("request_count", "avg"), why="the count of requests that succeeded")
    failed = f.number(("error_request_count", "avg"), required=False)
    failed = 0.0 if math.isnan(failed) else failed
    duration = f.number(("benchmark_duration", "avg"), required=False)
    if math.isnan(duration):  # GenAI-Perf has no duration: its request rate gives it
        rate = f.number(("request_throughput", "avg"), why="the run's length")
        duration = ok / rate if rate > 0 else 0.0
    stated = f.number(("input_config", "loadgen", "request_rate"), required=False)
    tally = LlmTally("all", latency.pop("e2e"), latency, int(ok), int(failed), duration,
                     f.number(("output_token_throughput", "avg"), required=False),
                     finite_or_none(stated))
    return llm_report([tally], tool=TOOL, names=NAMES, method=METHOD, target_rps=target_rps,
                      policy=policy, url=url)


def metric(f: JsonFile, name: str) -> Percentiles:
    """One metric's percentiles in seconds, by its ``unit``."""
    unit = f.get((name, "unit"))
    if unit not in UNITS:
        raise f.fail((name, "unit"), f"must be one of {', '.join(UNITS)}, got {unit!r}")
    return percentiles(f.stats((name,), STATS), UNITS[unit])
