"""inference-perf's ``summary_lifecycle_metrics.json`` (or a ``stage_N_lifecycle_metrics.json``;
``inference_perf/reportgen/base.py``): ``successes.latency.<metric>`` is ``{mean, min, max,
median, p90, p95, p99, p99.9, ...}`` in **seconds**; ``successes.count``, ``failures.count``
and ``failures.by_label`` (``"504 - Gateway Timeout": {"count": ...}``, ``"Timeout"``,
``"Connection Error"``, else the exception's name in lower case), ``load_summary``
(``requested_rate``: in a stage file only, the summary has none), ``benchmark_time_seconds``.

Its definitions are ours: ``time_per_output_token`` = (E2E - TTFT) / (output tokens - 1),
``normalized_time_per_output_token`` = E2E / output tokens, ``inter_token_latency`` the pooled
gaps, ``time_to_first_token`` to the first non-empty token.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from gatekeeper.probe.importers import CONNECTION, TIMEOUT
from gatekeeper.probe.llm_import.common import (
    JsonFile,
    LlmTally,
    finite_or_none,
    llm_report,
    percentiles,
)
from gatekeeper.probe.report import HoldPolicy, ProbeReport

TOOL = "inference-perf"
HINT = "give reports-<time>/summary_lifecycle_metrics.json (or a stage_N_ one)"
NAMES = {"request_latency": "e2e", "time_to_first_token": "ttft",
         "time_per_output_token": "tpot", "inter_token_latency": "itl",
         "normalized_time_per_output_token": "ntpot"}
STATS = {"median": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99.9": "p99_9",
         "max": "max"}
METHOD = "inference-perf percentiles (numpy, linear)"
STATUS = re.compile(r"^\s*(\d{3})\b")


def import_inference_perf(path: Path, /, *, target_rps: float | None = None,
                          policy: HoldPolicy | None = None, url: str = "") -> ProbeReport:
    """Read an inference-perf lifecycle report into a report of one type, ``all``."""
    f = JsonFile.load(path, HINT)
    f.object(("successes",), "inference-perf's successful requests")
    latency = {ours: percentiles(f.stats(("successes", "latency", theirs), STATS), 1.0)
               for theirs, ours in NAMES.items()
               if f.get(("successes", "latency", theirs)) is not None}
    if "e2e" not in latency:
        raise f.fail(("successes", "latency", "request_latency"), "required: the end-to-end "
                     "latencies")
    ok = f.number(("successes", "count"))
    failed = f.number(("failures", "count"), required=False)
    span = f.number(("benchmark_time_seconds",), required=False)
    if math.isnan(span):
        rate = f.number(("successes", "throughput", "requests_per_sec"), why="the run's length")
        span = ok / rate if rate > 0 else 0.0
    tally = LlmTally("all", latency.pop("e2e"), latency, int(ok),
                     0 if math.isnan(failed) else int(failed), span,
                     f.number(("successes", "throughput", "output_tokens_per_sec"),
                              required=False),
                     finite_or_none(f.number(("load_summary", "requested_rate"),
                                             required=False)),
                     classified(f))
    return llm_report([tally], tool=TOOL, names=NAMES, method=METHOD, target_rps=target_rps,
                      policy=policy, url=url)


def classified(f: JsonFile) -> dict[str, int]:
    """Failures by class, as far as their labels tell it (the rest are unclassified)."""
    labels = f.get(("failures", "by_label"), {})
    counts: dict[str, int] = {}
    for label in labels if isinstance(labels, dict) else {}:
        kind = label_class(label)
        if kind is not None:
            counts[kind] = counts.get(kind, 0) + int(f.number(("failures", "by_label", label,
                                                               "count")))
    return counts


def label_class(label: str) -> str | None:
    """The class of a failure label: ``"<status> - <reason>"`` for an HTTP error, else
    ``Timeout``, ``Connection Error`` or the exception's name in lower case (``timeouterror``
    in a run of 0.7.0 whose requests outlived ``load.request_timeout``)."""
    if match := STATUS.match(label):
        return "5xx" if match[1].startswith("5") else "4xx"
    if TIMEOUT.search(label):
        return "timeout"
    if CONNECTION.search(label):
        return "connection"
    return None
