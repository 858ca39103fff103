"""The registry of check kinds: one module per kind, one line here.

Adding a kind = one module with a ``KIND``, one line in ``CHECK_KINDS``, one test file, one row
in docs/checks.md.
"""

from __future__ import annotations

from gatekeeper.evaluate import (
    ab_comparison,
    baseline_comparison,
    cost,
    latency,
    metric_threshold,
    pilot_slo,
    required_evidence,
)
from gatekeeper.evaluate.interface import CheckKind

CHECK_KINDS: dict[str, CheckKind] = {
    "ab_comparison": ab_comparison.KIND,
    "baseline_comparison": baseline_comparison.KIND,
    "cost": cost.KIND,
    "latency": latency.KIND,
    "metric_threshold": metric_threshold.KIND,
    "pilot_slo": pilot_slo.KIND,
    "required_evidence": required_evidence.KIND,
}
