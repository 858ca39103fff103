"""The probe's text summary (stdout) and its result.json: pure renderers of an outcome."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from gatekeeper.probe.report import EndpointReport, format_ms

if TYPE_CHECKING:
    from gatekeeper.probe.run import ProbeOutcome


def summary_lines(outcome: ProbeOutcome) -> list[str]:
    """One line per endpoint type, then the verdict and where things are."""
    r = outcome.request
    measured = sum(e.requests for e in outcome.report.endpoints)
    lines = [f"probe {r.shown_url}: {r.describe()}, warm-up {r.mode.sending.warmup_s:g} s "
             f"excluded, {measured:,} requests measured", *outcome.lines]
    width = max((len(e.endpoint) for e in outcome.report.endpoints), default=0)
    lines += ["  " + endpoint_line(e, width) for e in outcome.report.endpoints]
    lines.append(f"percentiles: {outcome.report.percentile_method}")
    lines += (["evidence: usable"] if not outcome.problems else
              ["evidence: NOT usable (exit 1):", *(f"  {p}" for p in outcome.problems)])
    if outcome.files:
        lines.append(f"wrote {outcome.files[0].parent}/: "
                     + ", ".join(f.name for f in outcome.files))
    if outcome.logged:
        lines.append(outcome.logged.summary())
    return lines


def endpoint_line(e: EndpointReport, width: int) -> str:
    """``predict  p50 0.71 ms  p95 ... | 200.0/s of 200.0/s | errors 0`` (+ NOT held)."""
    lat = e.latency
    marks = "  ".join(f"{name} {format_ms(value * 1000)}" for name, value in (
        ("p50", lat.p50), ("p95", lat.p95), ("p99", lat.p99), ("p99.9", lat.p99_9),
        ("max", lat.max)))
    line = (f"{e.endpoint:<{width}}  {marks} ms | {e.achieved_rps:,.1f}/s of "
            f"{e.target_rps:,.1f}/s | {error_text(e.errors, e.requests)} | n={e.samples:,}")
    return line if e.held_target_rate else f"{line} | target rate NOT held"


def error_text(errors: dict[str, int], requests: int) -> str:
    """``errors 0`` or ``errors 2.5% (timeout 2.0%, 5xx 0.5%)``."""
    total = sum(errors.values())
    if not total or not requests:
        return "errors 0"
    classes = ", ".join(f"{k} {v / requests:.1%}" for k, v in errors.items() if v)
    return f"errors {total / requests:.1%} ({classes})"


def result_json(outcome: ProbeOutcome) -> str:
    """result.json: strict JSON (NaN as null), indented."""
    return json.dumps(json_safe(outcome.to_dict()), indent=2, allow_nan=False) + "\n"


def json_safe(value: Any) -> Any:
    """``value`` with NaN (a percentile of no samples) as null: strict JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
