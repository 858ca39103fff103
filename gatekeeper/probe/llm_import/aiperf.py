"""AIPerf's ``profile_export_aiperf.json`` (and GenAI-Perf's ``profile_export_genai_perf.json``,
whose layout AIPerf keeps): one object per metric, ``{"unit": "ms", "avg", "p50", "p90",
"p95", "p99", "min", "max", "std"}``, counts in ``avg``.

AIPerf's ``inter_token_latency`` is (request latency - TTFT) / (output tokens - 1) per request:
our **TPOT**. Its ``inter_chunk_latency`` (gaps between chunks, pooled) is our ITL. Its
``time_to_first_token`` counts to the first chunk with content, as ours does (AIPerf 0.13.0
against examples/llm_target.py, whose chat stream opens with a role-only chunk on arrival,
read about 7 ms: prefill and first token, not the instant of that chunk). It has no NTPOT.
``request_count`` counts the requests that succeeded, ``error_request_count`` (absent when
none failed) those that failed.

The rate AIPerf was asked for: AIPerf 0.13.0 writes it as the ``rate`` of the ``profiling``
entry of ``input_config.phases``; the older ``input_config.loadgen.request_rate`` is read
too.
"""

from __future__ import annotations

import math
from pathlib import Path

from gatekeeper.probe.importers import UNCLASSIFIED, classify_error
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
    else:
        duration *= unit(f, "benchmark_duration", default="sec")
    tally = LlmTally("all", latency.pop("e2e"), latency, int(ok), int(failed), duration,
                     f.number(("output_token_throughput", "avg"), required=False),
                     finite_or_none(stated_rate(f)), classified(f))
    return llm_report([tally], tool=TOOL, names=NAMES, method=METHOD, target_rps=target_rps,
                      policy=policy, url=url)


def metric(f: JsonFile, name: str) -> Percentiles:
    """One metric's percentiles in seconds, by its ``unit``."""
    return percentiles(f.stats((name,), STATS), unit(f, name))


def unit(f: JsonFile, name: str, default: str | None = None) -> float:
    """Seconds per unit of metric ``name``, by its ``unit`` (``default`` when it has none)."""
    found = f.get((name, "unit"), default)
    if found not in UNITS:
        raise f.fail((name, "unit"), f"must be one of {', '.join(UNITS)}, got {found!r}")
    return UNITS[found]


def classified(f: JsonFile) -> dict[str, int]:
    """Failures by class from ``error_summary``: its HTTP ``code``, else what its ``type``
    and ``message`` tell (``TimeoutError`` for a request that outlived
    ``--request-timeout-seconds``); the rest are unclassified."""
    summary = f.get(("error_summary",), [])
    counts: dict[str, int] = {}
    for i, entry in enumerate(summary if isinstance(summary, list) else []):
        details = entry.get("error_details") if isinstance(entry, dict) else None
        if not isinstance(details, dict):
            continue
        code = details.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
            kind = "5xx" if code >= 500 else "4xx"
        else:
            kind = classify_error(f"{details.get('type') or ''} {details.get('message') or ''}")
        count = int(f.number(("error_summary", i, "count")))
        counts[kind] = counts.get(kind, 0) + count
    counts.pop(UNCLASSIFIED, None)  # counted as the rest
    return counts


def stated_rate(f: JsonFile) -> float:
    """The request rate AIPerf was asked for (NaN when none): the ``profiling`` phase's
    ``rate`` (0.13 on), else the older ``loadgen.request_rate``."""
    phases = f.get(("input_config", "phases"))
    for i, phase in enumerate(phases if isinstance(phases, list) else []):
        if isinstance(phase, dict) and phase.get("kind") == "profiling":
            return f.number(("input_config", "phases", i, "rate"), required=False)
    return f.number(("input_config", "loadgen", "request_rate"), required=False)
