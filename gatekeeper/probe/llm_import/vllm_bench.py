"""vLLM ``bench serve --save-result`` JSON (``vllm/benchmarks/serve.py``): top-level keys
``completed``, ``failed``, ``duration``, ``request_rate``, ``output_throughput`` and, per
metric chosen by ``--percentile-metrics`` (default ``ttft,tpot,itl``), ``mean_<m>_ms``,
``median_<m>_ms``, ``std_<m>_ms`` and ``p<P>_<m>_ms`` for each ``--metric-percentiles``
(default 99; ``p99.9`` for 99.9).

vLLM's TPOT is (latency - TTFT) / (output tokens - 1) per request: our TPOT. Its ITL is every
gap between chunks, pooled: our ITL (a chunk carrying several tokens is one gap). Its E2EL is
our E2E; it is there only when asked for: ``--percentile-metrics ttft,tpot,itl,e2el
--metric-percentiles 50,90,95,99``.
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

TOOL = "vllm-bench"
HINT = ("give the JSON of `vllm bench serve --save-result --percentile-metrics "
        "ttft,tpot,itl,e2el --metric-percentiles 50,90,95,99`")
NAMES = {"e2el": "e2e", "ttft": "ttft", "tpot": "tpot", "itl": "itl"}
KEYS = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99.9": "p99_9"}
METHOD = "vLLM bench serve percentiles (numpy, linear)"


def import_vllm_bench(path: Path, /, *, target_rps: float | None = None,
                      policy: HoldPolicy | None = None, url: str = "") -> ProbeReport:
    """Read a saved ``vllm bench serve`` result into a report of one type, ``all``."""
    f = JsonFile.load(path, HINT)
    latency = {ours: metric(f, theirs) for theirs, ours in NAMES.items()}
    if all(math.isnan(v) for v in vars(latency["e2e"]).values()):
        raise f.fail((), "no 'p<P>_e2el_ms' or 'median_e2el_ms': run with "
                     "--percentile-metrics ttft,tpot,itl,e2el")
    ok = f.number(("completed",), why="the count of requests that succeeded")
    failed = f.number(("failed",), required=False)
    if math.isnan(failed):  # before `failed` was saved: the non-empty error messages
        errors = f.get(("errors",), [])
        failed = float(sum(1 for e in errors if e)) if isinstance(errors, list) else 0.0
    tally = LlmTally("all", latency.pop("e2e"), latency, int(ok), int(failed),
                     f.number(("duration",), why="the run's length"),
                     f.number(("output_throughput",), required=False),
                     finite_or_none(f.number(("request_rate",), required=False)))
    return llm_report([tally], tool=TOOL, names=NAMES, method=METHOD, target_rps=target_rps,
                      policy=policy, url=url)


def metric(f: JsonFile, name: str) -> Percentiles:
    """``p<P>_<name>_ms`` (the median when p50 was not asked for), in seconds."""
    values = f.stats((), {f"{theirs}_{name}_ms": ours for theirs, ours in KEYS.items()})
    if "p50" not in values:
        values.update(f.stats((), {f"median_{name}_ms": "p50"}))
    return percentiles(values, 1e-3)
