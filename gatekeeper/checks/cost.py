"""``cost``: cost per 1,000 inferences against a budget.

The cost comes from the declared :class:`~gatekeeper.costmodel.CostModel` (the check's own, or
the playbook's) and the throughput logged on the source run, optionally with network egress from
a logged bytes-per-request metric. Fails above ``budget_per_1k``, warns above ``warn_per_1k``;
both edges are inclusive (at the budget passes). A missing or unusable metric is ``error``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.checks.interface import CheckKind, CheckSpecBase, Outcome, Status, missing
from gatekeeper.costmodel import CostModel, cost_per_1k
from gatekeeper.evidence.interface import Evidence, VersionEvidence

# Costs are compared at 12 significant digits: the arithmetic's float noise (3.60/h at 10 rps
# is 0.09999999999999999) must never turn a cost exactly at the budget into a failure.
COMPARE_DIGITS = 12


class Cost(CheckSpecBase):
    kind: Literal["cost"]
    budget_per_1k: float = Field(
        ge=0, allow_inf_nan=False, description="Fail when the cost of 1,000 inferences is above "
        "this, in the cost model's currency.")
    warn_per_1k: float | None = Field(
        default=None, ge=0, allow_inf_nan=False,
        description="Warn when the cost of 1,000 inferences is above this (at or below "
        "budget_per_1k).")
    throughput_metric: str = Field(
        default="throughput_rps", min_length=1,
        description="Run metric holding the sustained throughput of one replica, requests/s.")
    bytes_per_request_metric: str | None = Field(
        default=None, min_length=1,
        description="Run metric holding the response size in bytes, for network egress cost. "
        "Left out: no network cost.")
    cost_model: CostModel | None = Field(
        default=None, description="Prices of one serving replica. Left out: the playbook's "
        "`cost_model`.")

    @model_validator(mode="after")
    def _check_warning(self) -> Self:
        if self.warn_per_1k is not None and self.warn_per_1k > self.budget_per_1k:
            raise ValueError("'warn_per_1k' must be at or below 'budget_per_1k'")
        return self

    def threshold(self) -> dict[str, Any]:
        limits: dict[str, Any] = {"budget_per_1k": self.budget_per_1k}
        if self.warn_per_1k is not None:
            limits["warn_per_1k"] = self.warn_per_1k
        if self.cost_model is not None:
            limits["cost_model"] = self.cost_model.model_dump()
        return limits


def run_name(cand: VersionEvidence) -> str:
    return f"run {cand.run_id}" if cand.run_id else f"v{cand.version} (no source run)"


def read(cand: VersionEvidence, metric: str, what: str, positive: bool) -> float | Outcome:
    """The metric's value, or the error outcome saying why it cannot be used."""
    ref = cand.ref("metrics", metric)
    if metric not in cand.metrics:
        return missing(f"metric '{metric}'", run_name(cand), ref)
    value = cand.metrics[metric]
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "a positive" if positive else "a non-negative"
        return Outcome(Status.ERROR, f"{metric} = {value:g}: {what} must be {need} number",
                       observed=value, evidence={"invalid": ref})
    return value


def read_usage(spec: Cost, cand: VersionEvidence) -> dict[str, float] | Outcome:
    """Throughput and, when asked for, bytes per request; or why they cannot be used."""
    throughput = read(cand, spec.throughput_metric, "throughput", positive=True)
    if isinstance(throughput, Outcome):
        return throughput
    if spec.bytes_per_request_metric is None:
        return {"throughput_rps": throughput}
    size = read(cand, spec.bytes_per_request_metric, "bytes per request", positive=False)
    if isinstance(size, Outcome):
        return size
    return {"throughput_rps": throughput, "bytes_per_request": size}


def judge(spec: Cost, total: float) -> tuple[Status, str]:
    total = float(f"{total:.{COMPARE_DIGITS}g}")
    shown = f"cost = {total:g} per 1k"
    if total > spec.budget_per_1k:
        return Status.FAIL, f"{shown} > budget {spec.budget_per_1k:g}"
    if spec.warn_per_1k is not None and total > spec.warn_per_1k:
        return Status.WARN, (f"{shown} > warning {spec.warn_per_1k:g} "
                             f"(budget {spec.budget_per_1k:g})")
    return Status.PASS, f"{shown} <= budget {spec.budget_per_1k:g}"


def evaluate(spec: Cost, evidence: Evidence) -> Outcome:
    if spec.cost_model is None:
        return Outcome(Status.ERROR, "no cost model: set 'cost_model' on the check or the "
                       "playbook", threshold=spec.threshold())
    cand = evidence.candidate
    usage = read_usage(spec, cand)
    if isinstance(usage, Outcome):
        return replace(usage, threshold=spec.threshold())
    breakdown = cost_per_1k(spec.cost_model, usage["throughput_rps"],
                            usage.get("bytes_per_request", 0.0))
    status, message = judge(spec, breakdown.total)
    refs = {"throughput_rps": cand.ref("metrics", spec.throughput_metric)}
    if spec.bytes_per_request_metric is not None:
        refs["bytes_per_request"] = cand.ref("metrics", spec.bytes_per_request_metric)
    return Outcome(status, f"{message} at {usage['throughput_rps']:g} rps",
                   observed={"per_1k": breakdown.as_dict(), **usage},
                   threshold=spec.threshold(), evidence=refs)


KIND = CheckKind(spec=Cost, evaluate=evaluate,
                 summary="Cost per 1,000 inferences, from the cost model and logged throughput.")
