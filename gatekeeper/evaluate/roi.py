"""``roi``: projected net value per month and payback period of a pilot, conservatively.

The business view of the pilot milestone. Its inputs:

- the KPI uplift of the candidate arm over the control arm, as ``ab_comparison`` measures it
  (the same Prometheus queries and the same Newcombe interval: :func:`compare_rates`), taken
  at the interval's **worst end** (the lower bound of a KPI where more is better, the upper
  bound where less is better), never the point estimate;
- a declared value per conversion (per KPI success), and the KPI trials a month expected at
  full rollout (``monthly_trials``; left out: the cost model's ``traffic_rps`` for a month,
  one trial per request);
- the serving cost a month at the cost model's ``traffic_rps`` (priced as ``cost`` with
  ``price_at: traffic``, from the candidate's capacity run): the **incremental** cost over the
  version behind ``control_alias`` when its capacity is known, else the candidate's **total**
  cost (charging all of it to the uplift, which can only make the case look worse);
- a one-off cost (migration, labelling, the pilot itself).

Net value a month = uplift bound x trials x value - serving cost. Payback = one-off cost / net
value (never, when the net value is not positive). Fails below ``min_net_value_per_month`` or
above ``max_payback_months``. Needs the cost model's ``currency`` and ``traffic_rps``: a value
in no particular currency, or for no particular traffic, is no business case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.decide.remedy import plain_number
from gatekeeper.evaluate.ab_comparison import AbComparison, AbKpi, compare_rates
from gatekeeper.evaluate.cost import Priced, Pricing, price
from gatekeeper.evaluate.interface import CheckKind, Outcome, Status
from gatekeeper.evaluate.pilot_slo import Matchers, PrometheusCheck, judge_answers
from gatekeeper.evaluate.probe_runs import CAPACITY, run_refs, usable_run
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, RunMetrics, VersionEvidence
from gatekeeper.evidence.prometheus import PromAnswer
from gatekeeper.load.costmodel import SECONDS_PER_MONTH, CostModel, money, per_month


class Roi(PrometheusCheck):
    kind: Literal["roi"]
    candidate: Matchers = Field(min_length=1, description='Label matchers of the candidate '
                                'arm, e.g. arm="quantized".')
    control: Matchers = Field(min_length=1, description='Label matchers of the control arm, '
                              'e.g. arm="full".')
    kpi: AbKpi = Field(description="The proportion whose uplift earns the value, e.g. "
                       "conversion: successes over trials, per arm.")
    confidence: float = Field(default=0.95, ge=0.5, lt=1,
                              description="Confidence level of the uplift's interval.")
    min_samples_per_arm: int = Field(ge=1, description="Fewer KPI trials in either arm is an "
                                     "error.")
    value_per_conversion: float = Field(
        gt=0, allow_inf_nan=False, description="What one more KPI success is worth, in the "
        "cost model's currency.")
    monthly_trials: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="KPI trials a month expected at "
        "full rollout. Left out: the cost model's traffic_rps for a month (one per request).")
    one_off_cost: float = Field(default=0, ge=0, allow_inf_nan=False,
                                description="One-off cost the net value must pay back.")
    cost_model: CostModel | None = Field(
        default=None, description="Prices and traffic (currency and traffic_rps required). "
        "Left out: the playbook's `cost_model`.")
    control_alias: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]+$", description="Alias of the version serving "
        "the control arm: with its capacity known, only the candidate's incremental serving "
        "cost is charged. Left out: the candidate's total serving cost.")
    capacity_metric: str = Field(default="capacity.rps", min_length=1,
                                 description="Probe-run metric holding a replica's capacity.")
    min_net_value_per_month: float | None = Field(
        default=None, allow_inf_nan=False, description="Fail when the projected net value a "
        "month is below this.")
    max_payback_months: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Fail when paying back "
        "one_off_cost takes longer than this many months.")

    @model_validator(mode="after")
    def _check_limits(self) -> Self:
        if self.min_net_value_per_month is None and self.max_payback_months is None:
            raise ValueError("set 'min_net_value_per_month', 'max_payback_months' or both")
        return self

    def comparison(self) -> AbComparison:
        """The ``ab_comparison`` of the KPI this check reads (its queries and interval)."""
        shared = self.model_dump(include={"id", "category", "owner", "prometheus_url",
                                          "window", "at", "selector", "candidate", "control",
                                          "confidence", "min_samples_per_arm"})
        return AbComparison.model_validate({**shared, "kind": "ab_comparison", "measure": "kpi",
                                            "kpi": self.kpi, "max_regression": 1})

    def threshold(self) -> dict[str, Any]:
        limits: dict[str, Any] = {
            "min_net_value_per_month": self.min_net_value_per_month,
            "max_payback_months": self.max_payback_months,
            "value_per_conversion": self.value_per_conversion,
            "one_off_cost": self.one_off_cost, "confidence": self.confidence,
            "monthly_trials": self.monthly_trials, "control_alias": self.control_alias,
            "candidate": self.candidate, "control": self.control, **self.window_threshold()}
        return {k: v for k, v in limits.items() if v is not None}


@dataclass(frozen=True)
class ServingCost:
    """The serving cost a month charged to the uplift, and where it came from."""

    per_month: float
    basis: str  # "incremental over champion v3" or "total cost, <why>"
    candidate: Priced
    control_per_month: float | None
    refs: Mapping[str, str]


def monthly_cost(spec: Roi, model: CostModel, evidence: Evidence) -> ServingCost | Outcome:
    """The candidate's serving cost a month at the declared traffic, less the control's when
    it is known."""
    assert model.traffic_rps is not None
    run = usable_run(evidence, "probe", None, CAPACITY)
    if isinstance(run, Outcome):
        return Outcome(Status.ERROR, f"no serving cost: {run.message}", evidence=run.evidence)
    pricing = Pricing(model, "traffic", spec.capacity_metric)
    cand = price(pricing, run)
    if isinstance(cand, Outcome):
        return cand
    cand_month = per_month(cand.breakdown.total, model.traffic_rps)
    refs = {**{f"candidate.{k}": v for k, v in {**cand.refs, **run_refs(run)}.items()}}
    control = control_cost(spec, pricing, evidence)
    if isinstance(control, str):
        return ServingCost(cand_month, f"total cost, {control}", cand, None, refs)
    ctrl_run, ctrl = control
    ctrl_month = per_month(ctrl.breakdown.total, model.traffic_rps)
    refs |= {f"control.{k}": v for k, v in {**ctrl.refs, **run_refs(ctrl_run)}.items()}
    version = evidence.baseline(spec.control_alias or "")
    assert version is not None
    return ServingCost(cand_month - ctrl_month,
                       f"incremental over {spec.control_alias} v{version.version}", cand,
                       ctrl_month, refs)


def control_cost(spec: Roi, pricing: Pricing, evidence: Evidence
                 ) -> tuple[RunMetrics, Priced] | str:
    """The control version's pricing at the same traffic, or why there is none."""
    if spec.control_alias is None:
        return "no control_alias"
    version = evidence.baseline(spec.control_alias)
    if version is None:
        return f"alias {spec.control_alias} is not set"
    run = capacity_run(version)
    if problem := run.unusable():
        return f"control: {problem}"
    found = price(pricing, run)
    return found.message if isinstance(found, Outcome) else (run, found)


def capacity_run(version: VersionEvidence) -> RunMetrics:
    """A version's latest usable capacity run (or its legacy probe link)."""
    return version.probe_run(CAPACITY if CAPACITY in version.probe_runs else None)


@dataclass(frozen=True)
class Projection:
    """The conservative business case, month by month."""

    uplift: float  # the interval's worst end, as a gain (negative: a loss)
    trials: float
    gain: float
    cost: ServingCost
    one_off: float

    @property
    def net(self) -> float:
        return self.gain - self.cost.per_month

    @property
    def payback_months(self) -> float:
        """Months to pay back the one-off cost; infinite when the net value is not positive."""
        if self.net <= 0:
            return math.inf
        return self.one_off / self.net


def judge(spec: Roi, model: CostModel, cost: ServingCost,
          answers: Mapping[str, PromAnswer]) -> Outcome:
    ab = spec.comparison()
    comparison = compare_rates(ab, answers)
    ci = comparison.interval
    more_is_better = spec.kpi.greater_is_better
    uplift = ci.low if more_is_better else -ci.high
    assert model.traffic_rps is not None
    trials = spec.monthly_trials or model.traffic_rps * SECONDS_PER_MONTH
    case = Projection(uplift, trials, uplift * trials * spec.value_per_conversion, cost,
                      spec.one_off_cost)
    problems = failures(spec, case, model.currency)
    status = Status.FAIL if problems else Status.PASS
    return Outcome(status, message(spec, case, comparison.diff, ci.low, ci.high, model.currency,
                                   problems),
                   observed=observed(spec, case, comparison.diff, ci.low, ci.high, model))


def failures(spec: Roi, case: Projection, currency: str | None) -> list[str]:
    found = []
    if spec.min_net_value_per_month is not None and case.net < spec.min_net_value_per_month:
        found.append(f"net value {money(case.net, currency)}/month < minimum "
                     f"{money(spec.min_net_value_per_month, currency)}")
    if spec.max_payback_months is not None and case.payback_months > spec.max_payback_months:
        limit = months(spec.max_payback_months)
        found.append(f"never pays back (net value not positive; limit {limit})"
                     if math.isinf(case.payback_months) else
                     f"payback {months(case.payback_months)} > {limit}")
    return found


def months(value: float) -> str:
    return "never" if math.isinf(value) else f"{plain_number(round(value, 2))} months"


def message(spec: Roi, case: Projection, diff: float, low: float, high: float,
            currency: str | None, problems: list[str]) -> str:
    """The verdict, then the arithmetic with the bound it used and why."""
    verdict = "; ".join(problems) if problems else (
        f"net value {money(case.net, currency)}/month, payback "
        f"{months(case.payback_months)}")
    end = "lower" if spec.kpi.greater_is_better else "upper"
    return (f"{verdict}: conservative, from the {end} end of the {spec.kpi.name} uplift's "
            f"{spec.confidence * 100:g}% interval ({pp(case.uplift)} pp; interval "
            f"{pp(low)}..{pp(high)} pp, point estimate {pp(diff)} pp not used) x "
            f"{plain_number(round(case.trials))} trials/month x "
            f"{money(spec.value_per_conversion, currency)} = {money(case.gain, currency)}, "
            f"minus serving cost {money(case.cost.per_month, currency)}/month "
            f"({case.cost.basis}); one-off cost {money(case.one_off, currency)}")


def pp(value: float) -> str:
    return f"{value * 100:+.2f}"


def observed(spec: Roi, case: Projection, diff: float, low: float, high: float,
             model: CostModel) -> dict[str, Any]:
    cand = case.cost.candidate
    return {
        "net_value_per_month": case.net,
        "payback_months": None if math.isinf(case.payback_months) else case.payback_months,
        "uplift_bound": case.uplift, "uplift_point_estimate": diff if spec.kpi.greater_is_better
        else -diff, "ci_low": low, "ci_high": high, "monthly_trials": case.trials,
        "value_per_month": case.gain, "serving_cost_per_month": case.cost.per_month,
        "cost_basis": case.cost.basis, "candidate_cost_per_month": per_month(
            cand.breakdown.total, cand.point.rate_rps),
        "control_cost_per_month": case.cost.control_per_month,
        "one_off_cost": case.one_off, "currency": model.currency,
        "operating_point": cand.point.as_dict(), "per_1k": cand.breakdown.as_dict()}


def evaluate(spec: Roi, evidence: Evidence) -> Outcome:
    model = spec.cost_model
    problem = model_problem(model)
    if problem is not None or model is None:
        return Outcome(Status.ERROR, problem or "", threshold=spec.threshold())
    cost = monthly_cost(spec, model, evidence)
    if isinstance(cost, Outcome):
        return Outcome(cost.status, cost.message, threshold=spec.threshold(),
                       evidence=cost.evidence)
    outcome = judge_answers(spec.comparison().queries(), evidence,
                            lambda found: judge(spec, model, cost, found), spec.threshold())
    return Outcome(outcome.status, outcome.message, outcome.observed, outcome.threshold,
                   {**outcome.evidence, **cost.refs})


def model_problem(model: CostModel | None) -> str | None:
    """Why ``model`` cannot price a business case, or None."""
    if model is None:
        return "no cost model: set 'cost_model' on the check or the playbook"
    missing = [key for key in ("currency", "traffic_rps") if getattr(model, key) is None]
    if missing:
        return (f"roi needs the cost model's {' and '.join(missing)}: a value in no declared "
                "currency, or for no declared traffic, is no business case")
    return None


def needs(spec: Roi) -> EvidenceRequest:
    aliases = frozenset({spec.control_alias}) if spec.control_alias else frozenset()
    return EvidenceRequest(external=frozenset(spec.comparison().queries().values()),
                           baseline_aliases=aliases)


KIND = CheckKind(spec=Roi, evaluate=evaluate, needs=needs,
                 summary="Projected net value a month and payback of the pilot, from the KPI "
                 "uplift's conservative bound, the value per conversion and the serving cost.")
