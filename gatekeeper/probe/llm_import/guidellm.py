"""GuideLLM's ``benchmarks.json`` (``--output kind=json``; schema
``GenerativeBenchmarksReport``): ``benchmarks[i].metrics.<name>.successful`` is a distribution
``{mean, median, min, max, count, total_sum, percentiles: {p50, p90, p95, p99, p999, ...}}``.

GuideLLM's ``inter_token_latency_ms`` is (last token - first token) / (output tokens - 1) per
request: our **TPOT**. Its ``time_per_output_token_ms`` is (last token - start) / output
tokens, the first token included: our **NTPOT** (to the last token rather than the end of the
answer). ``time_to_first_token_ms`` is to the first token iteration. ``request_latency`` is in
seconds, the others in milliseconds. It keeps no pooled gaps: no ITL. GuideLLM weights these
two per-request values by tokens before taking percentiles (each request counts output tokens
- 1, resp. output tokens, times: the ``count`` of 20 requests of 16 tokens is 300, resp. 320),
so their percentiles lean to the long answers, unlike ours (one value per request).

Each benchmark of a sweep becomes its own endpoint type, ``all`` when there is one and ``b0``,
``b1`` ... in file order otherwise: they ran at different rates and must not be merged.
"""

from __future__ import annotations

import math
from pathlib import Path

from gatekeeper.load.yamlsrc import Loc
from gatekeeper.probe.importers import UNCLASSIFIED, classify_error
from gatekeeper.probe.llm_import.common import (
    JsonFile,
    LlmTally,
    finite_or_none,
    llm_report,
    percentiles,
)
from gatekeeper.probe.report import HoldPolicy, Percentiles, ProbeReport

TOOL = "guidellm"
HINT = "give the benchmarks.json GuideLLM writes with --output kind=json"
NAMES = {"request_latency": "e2e", "time_to_first_token_ms": "ttft",
         "inter_token_latency_ms": "tpot", "time_per_output_token_ms": "ntpot"}
SCALE = {"request_latency": 1.0}  # seconds; the *_ms metrics are milliseconds
PERCENTILES = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p999": "p99_9"}
METHOD = "GuideLLM distribution percentiles of successful requests"
RATED = ("constant", "poisson")


def import_guidellm(path: Path, /, *, target_rps: float | None = None,
                    policy: HoldPolicy | None = None, url: str = "") -> ProbeReport:
    """Read a GuideLLM report; one endpoint type per benchmark (see the module docstring)."""
    f = JsonFile.load(path, HINT)
    benchmarks = f.get(("benchmarks",))
    if not isinstance(benchmarks, list) or not benchmarks:
        raise f.fail(("benchmarks",), "required, a non-empty list of benchmarks")
    tallies = [tally(f, ("benchmarks", i), "all" if len(benchmarks) == 1 else f"b{i}")
               for i in range(len(benchmarks))]
    return llm_report(tallies, tool=TOOL, names=NAMES, method=METHOD, target_rps=target_rps,
                      policy=policy, url=url)


def tally(f: JsonFile, at: Loc, endpoint: str) -> LlmTally:
    metrics = (*at, "metrics")
    f.object(metrics)
    latency = {ours: distribution(f, (*metrics, theirs, "successful"), SCALE.get(theirs, 1e-3))
               for theirs, ours in NAMES.items() if f.get((*metrics, theirs)) is not None}
    if "e2e" not in latency:
        raise f.fail((*metrics, "request_latency"), "required: the end-to-end latencies")
    totals = (*metrics, "request_totals")
    ok = f.number((*totals, "successful"), why="the count of successful requests")
    # Incomplete requests were cut off when the benchmark ended: neither answered nor failed.
    failed = f.number((*totals, "errored"), why="the count of failed requests")
    timing = (*at, "scheduler_metrics")
    span = (f.number((*timing, "measure_end_time"), why="the measured window's end")
            - f.number((*timing, "measure_start_time"), why="the measured window's start"))
    tokens = f.number((*metrics, "output_token_count", "successful", "total_sum"),
                      required=False)
    strategy = (*at, "config", "strategy")
    kind = f.get((*strategy, "type_"), f.get((*strategy, "type")))
    rate = f.number((*strategy, "rate"), required=False) if kind in RATED else math.nan
    return LlmTally(endpoint, latency.pop("e2e"), latency, int(ok), int(failed), span,
                    tokens / span if span > 0 else math.nan, finite_or_none(rate),
                    classified(f, at))


def classified(f: JsonFile, at: Loc) -> dict[str, int]:
    """The errored requests GuideLLM kept (``requests.errored``, perhaps a sample), by what
    their ``info.error`` tells (``ReadTimeout('')`` past the backend's ``timeout``); the
    rest are unclassified."""
    errored = f.get((*at, "requests", "errored"), [])
    counts: dict[str, int] = {}
    for request in errored if isinstance(errored, list) else []:
        info = request.get("info") if isinstance(request, dict) else None
        error = info.get("error") if isinstance(info, dict) else None
        if isinstance(error, str):
            kind = classify_error(error)
            counts[kind] = counts.get(kind, 0) + 1
    counts.pop(UNCLASSIFIED, None)  # counted as the rest
    return counts


def distribution(f: JsonFile, loc: Loc, scale: float) -> Percentiles:
    """A GuideLLM distribution summary's percentiles and max, in seconds."""
    f.object(loc)
    values = f.stats((*loc, "percentiles"), PERCENTILES)
    values.update(f.stats(loc, {"max": "max"}))
    return percentiles(values, scale)
