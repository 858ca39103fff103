"""The registry of check kinds: one module per kind, one line here.

Adding a kind = one module with a ``KIND``, one line in ``CHECK_KINDS``, one test file, one row
in docs/checks.md.
"""

from __future__ import annotations

from gatekeeper.evaluate import (
    ab_comparison,
    baseline_comparison,
    cost,
    dependency_audit,
    latency,
    metric_threshold,
    model_scan,
    pii_scan,
    pilot_slo,
    required_evidence,
    roi,
    secret_scan,
)
from gatekeeper.evaluate.interface import CheckKind

CHECK_KINDS: dict[str, CheckKind] = {
    "ab_comparison": ab_comparison.KIND,
    "baseline_comparison": baseline_comparison.KIND,
    "cost": cost.KIND,
    "dependency_audit": dependency_audit.KIND,
    "latency": latency.KIND,
    "metric_threshold": metric_threshold.KIND,
    "model_scan": model_scan.KIND,
    "pii_scan": pii_scan.KIND,
    "pilot_slo": pilot_slo.KIND,
    "required_evidence": required_evidence.KIND,
    "roi": roi.KIND,
    "secret_scan": secret_scan.KIND,
}
