"""The registry of check kinds: one module per kind, one line here.

Adding a kind = one module with a ``KIND``, one line in ``CHECK_KINDS``, one test file, one row
in docs/checks.md.
"""

from __future__ import annotations

from gatekeeper.checks import (
    baseline_comparison,
    cost,
    latency,
    metric_threshold,
    required_evidence,
)
from gatekeeper.checks.interface import CheckKind

CHECK_KINDS: dict[str, CheckKind] = {
    "baseline_comparison": baseline_comparison.KIND,
    "cost": cost.KIND,
    "latency": latency.KIND,
    "metric_threshold": metric_threshold.KIND,
    "required_evidence": required_evidence.KIND,
}
