"""``cost``: cost per 1,000 inferences against a budget.

The cost comes from the declared :class:`~gatekeeper.load.costmodel.CostModel` (the check's own, or
the playbook's) and the throughput logged on a run, optionally with network egress from a
logged bytes-per-request metric. Fails above ``budget_per_1k``, warns above ``warn_per_1k``;
both edges are inclusive (at the budget passes). A missing or unusable metric is ``error``: not
a finite number, a negative size, or a throughput below ``MIN_THROUGHPUT_RPS`` (a near-zero
throughput gives a cost so large it overflows, and an overflowed cost must never pass).
``source`` picks the run as in ``latency``: the source run, or the linked probe run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.common.values import UnusableValue, is_finite, number
from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status, missing
from gatekeeper.evaluate.latency import SOURCE_HELP
from gatekeeper.evidence.interface import PROBE_HELD_METRIC, Evidence, RunMetrics
from gatekeeper.load.costmodel import CostModel, cost_per_1k

# Costs are compared at 12 significant digits: the arithmetic's float noise (3.60/h at 10 rps
# is 0.09999999999999999) must never turn a cost exactly at the budget into a failure.
COMPARE_DIGITS = 12
# Below one request every ~12 days a replica is not serving: the throughput is a broken
# measurement (or a unit slip), not a cost to judge. Near zero, 1000 / (rps * 3600) overflows
# to infinity, and inf * 0 (an unused price) is NaN, which compares false with any budget.
MIN_THROUGHPUT_RPS = 1e-6


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
    source: Literal["run", "probe"] = Field(default="run", description=SOURCE_HELP)

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


def read(run: RunMetrics, metric: str, what: str, floor: float) -> float | Outcome:
    """The metric's value, or the error outcome saying why it cannot be used: missing, not
    finite, or below ``floor``."""
    ref = run.ref(metric)
    if metric not in run.metrics:
        return missing(f"metric '{metric}'", run.label, ref)
    raw = run.metrics[metric]
    try:
        value = number(f"metric '{metric}'", raw)
    except UnusableValue as exc:
        return Outcome(Status.ERROR, str(exc), observed=raw, evidence={"invalid": ref})
    if value < floor:
        return Outcome(Status.ERROR, f"{metric} = {value:g}: {what} must be at least {floor:g}",
                       observed=value, evidence={"invalid": ref})
    return value


def read_usage(spec: Cost, run: RunMetrics) -> dict[str, float] | Outcome:
    """Throughput and, when asked for, bytes per request; or why they cannot be used."""
    if problem := run.unusable():
        return Outcome(Status.ERROR, problem, evidence={"unusable": run.ref(PROBE_HELD_METRIC)})
    throughput = read(run, spec.throughput_metric, "throughput (requests/s)", MIN_THROUGHPUT_RPS)
    if isinstance(throughput, Outcome):
        return throughput
    if spec.bytes_per_request_metric is None:
        return {"throughput_rps": throughput}
    size = read(run, spec.bytes_per_request_metric, "bytes per request", 0)
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
    run = cand.probe_run() if spec.source == "probe" else cand.source_run()
    usage = read_usage(spec, run)
    if isinstance(usage, Outcome):
        return replace(usage, threshold=spec.threshold())
    breakdown = cost_per_1k(spec.cost_model, usage["throughput_rps"],
                            usage.get("bytes_per_request", 0.0))
    if not is_finite(breakdown.total) or breakdown.total <= 0:
        # Cannot happen with a validated cost model and a usable throughput; if it ever does,
        # a cost of nothing (or of NaN) must not pass a budget.
        return Outcome(Status.ERROR, f"cost = {breakdown.total:g} per 1k is not a usable cost",
                       observed={"per_1k": breakdown.as_dict(), **usage},
                       threshold=spec.threshold())
    status, message = judge(spec, breakdown.total)
    refs = {"throughput_rps": run.ref(spec.throughput_metric)}
    if spec.bytes_per_request_metric is not None:
        refs["bytes_per_request"] = run.ref(spec.bytes_per_request_metric)
    if run.probe:
        refs["held_target_rate"] = run.ref(PROBE_HELD_METRIC)
    return Outcome(status, f"{message} at {usage['throughput_rps']:g} rps",
                   observed={"per_1k": breakdown.as_dict(), **usage},
                   threshold=spec.threshold(), evidence=refs)


KIND = CheckKind(spec=Cost, evaluate=evaluate,
                 summary="Cost per 1,000 inferences, from the cost model and logged (or probed) "
                 "throughput.")
