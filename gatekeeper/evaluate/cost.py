"""``cost``: cost per 1,000 inferences at a named operating point, against a budget.

The cost comes from the declared :class:`~gatekeeper.load.costmodel.CostModel` (the check's own,
or the playbook's) priced at the operating point ``price_at`` names:

- ``capacity`` (the default): the throughput one replica sustains with its P99 SLO met, the
  ``capacity.rps`` metric ``gatekeeper probe --find-capacity`` logs; one replica.
- ``traffic``: the cost model's declared ``traffic_rps``, served by
  ``ceil(traffic x headroom / capacity)`` replicas; cost per 1k is
  ``replicas x hourly price / (traffic x 3600) x 1000``.
- ``offered``: the rate the probe happened to send (``throughput_rps``). Only when asked: the
  same version costs ten times more per 1k probed at 20/s than at 200/s.

``per: 1m_output_tokens`` (or ``1m_input_tokens``) prices an LLM's tokens instead: the cost
of 1,000 requests at the operating point, over the tokens 1,000 requests carry (run metric
``capacity.output_tokens_per_request``, logged by ``--find-capacity`` with an LLM ``--api``),
times 1,000,000, the cost model's ``input_token_cost_share`` going to the prompt tokens; judged
against ``budget_per_1m_tokens`` / ``warn_per_1m_tokens`` (docs/llm.md).

With no capacity evidence, ``capacity`` and ``traffic`` are ``error`` (never a silent fall back
to the offered rate). Fails above ``budget_per_1k``, warns above ``warn_per_1k``; both edges are
inclusive. A missing or unusable metric is ``error``: not a finite number, a negative size, or
a rate below ``MIN_THROUGHPUT_RPS`` (a near-zero rate gives a cost so large it overflows, and
an overflowed cost must never pass). ``source``/``profile`` pick the run through
:mod:`gatekeeper.evaluate.probe_runs`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from gatekeeper.common.values import UnusableValue, is_finite, number
from gatekeeper.decide.remedy import plain_number
from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status, missing
from gatekeeper.evaluate.probe_runs import (
    CAPACITY,
    STEADY,
    Source,
    check_profile,
    profile_field,
    run_observed,
    run_refs,
    usable_run,
)
from gatekeeper.evidence.interface import Evidence, RunMetrics
from gatekeeper.load.costmodel import (
    CostBreakdown,
    CostModel,
    TokenCost,
    cost_per_1k,
    cost_per_1m_tokens,
    money,
    replicas_for,
)

# Costs are compared at 12 significant digits: the arithmetic's float noise (3.60/h at 10 rps
# is 0.09999999999999999) must never turn a cost exactly at the budget into a failure.
COMPARE_DIGITS = 12
# Below one request every ~12 days a replica is not serving: the throughput is a broken
# measurement (or a unit slip), not a cost to judge. Near zero, 1000 / (rps * 3600) overflows
# to infinity, and inf * 0 (an unused price) is NaN, which compares false with any budget.
MIN_THROUGHPUT_RPS = 1e-6
PriceAt = Literal["capacity", "traffic", "offered"]
Per = Literal["1k_inferences", "1m_output_tokens", "1m_input_tokens"]
#: The run metric holding the tokens a request carries, by what is priced.
TOKENS_METRICS = {"1m_output_tokens": "capacity.output_tokens_per_request",
                  "1m_input_tokens": "capacity.input_tokens_per_request"}
NO_CAPACITY = ("no capacity evidence: run `gatekeeper probe --find-capacity --model M "
               "--version V` for this version, or set price_at: offered to price the probe's "
               "own rate")


class Cost(CheckSpecBase):
    # budget_per_1k was required before `per` existed: every earlier playbook sets it.
    ADDED_LATER = frozenset({"per", "budget_per_1k", "budget_per_1m_tokens",
                             "warn_per_1m_tokens", "tokens_metric"})
    kind: Literal["cost"]
    budget_per_1k: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="Fail when the cost of 1,000 "
        "inferences is above this, in the cost model's currency (required unless `per` prices "
        "tokens).")
    warn_per_1k: float | None = Field(
        default=None, ge=0, allow_inf_nan=False,
        description="Warn when the cost of 1,000 inferences is above this (at or below "
        "budget_per_1k).")
    price_at: PriceAt = Field(
        default="capacity", description="Operating point priced: capacity (one replica at the "
        "throughput it sustains within its P99 SLO, from --find-capacity), traffic (the cost "
        "model's traffic_rps on ceil(traffic x headroom / capacity) replicas) or offered (the "
        "probe's own rate; only when asked).")
    capacity_metric: str = Field(
        default="capacity.rps", min_length=1,
        description="Run metric holding the capacity at the SLO, requests/s (capacity, traffic).")
    throughput_metric: str = Field(
        default="throughput_rps", min_length=1,
        description="Run metric holding the rate served, requests/s (price_at: offered).")
    bytes_per_request_metric: str | None = Field(
        default=None, min_length=1,
        description="Run metric holding the response size in bytes, for network egress cost. "
        "Left out: no network cost.")
    per: Per | None = Field(
        default=None, description="What is priced: 1k_inferences (the default), or an LLM's "
        "1m_output_tokens or 1m_input_tokens (the cost model's input_token_cost_share splits "
        "the price), judged against budget_per_1m_tokens.")
    budget_per_1m_tokens: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="With per: 1m_*_tokens: fail "
        "when 1,000,000 tokens cost more than this.")
    warn_per_1m_tokens: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="With per: 1m_*_tokens: warn "
        "when 1,000,000 tokens cost more than this (at or below budget_per_1m_tokens).")
    tokens_metric: str | None = Field(
        default=None, min_length=1, description="Run metric holding the tokens per request "
        "priced. Left out: capacity.output_tokens_per_request (or input_).")
    cost_model: CostModel | None = Field(
        default=None, description="Prices of one serving replica. Left out: the playbook's "
        "`cost_model`.")
    source: Source | None = Field(
        default=None, description="Which run holds the metrics: 'run', the version's source "
        "run, or 'probe', a usable `gatekeeper probe` run. Left out: probe for capacity and "
        "traffic, run for offered.")
    profile: str | None = profile_field(CAPACITY)

    @model_validator(mode="after")
    def _check_fields(self) -> Self:
        if self.tokens:
            if self.budget_per_1m_tokens is None or self.budget_per_1k is not None:
                raise ValueError(f"per: {self.per} needs 'budget_per_1m_tokens' (and no "
                                 "'budget_per_1k')")
            if self.warn_per_1k is not None:
                raise ValueError(f"per: {self.per} takes 'warn_per_1m_tokens', not "
                                 "'warn_per_1k'")
        else:
            extra = [k for k in ("budget_per_1m_tokens", "warn_per_1m_tokens", "tokens_metric")
                     if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(map(repr, extra))}: needs per: 1m_output_tokens "
                                 "or 1m_input_tokens")
            if self.budget_per_1k is None:
                # As when the key was required (before `per`): the same message.
                raise PydanticCustomError("missing", "Field required")
        budget, warn = self.limits
        if warn is not None and warn > budget:
            names = ("warn_per_1m_tokens", "budget_per_1m_tokens") if self.tokens else (
                "warn_per_1k", "budget_per_1k")
            raise ValueError(f"'{names[0]}' must be at or below '{names[1]}'")
        check_profile(self.run_source, self.profile)
        return self

    @property
    def tokens(self) -> bool:
        """Whether tokens are priced (per: 1m_*_tokens), not 1,000 inferences."""
        return self.per in TOKENS_METRICS

    @property
    def limits(self) -> tuple[float, float | None]:
        """(budget, warning) in the unit priced."""
        if self.tokens:
            assert self.budget_per_1m_tokens is not None
            return self.budget_per_1m_tokens, self.warn_per_1m_tokens
        assert self.budget_per_1k is not None
        return self.budget_per_1k, self.warn_per_1k

    @property
    def unit(self) -> str:
        return {"1m_output_tokens": "per 1M output tokens",
                "1m_input_tokens": "per 1M input tokens"}.get(self.per or "", "per 1k")

    @property
    def run_source(self) -> Source:
        """The run read: ``source``, or the default for the operating point."""
        return self.source or ("run" if self.price_at == "offered" else "probe")

    @property
    def natural_profile(self) -> str:
        return STEADY if self.price_at == "offered" else CAPACITY

    def threshold(self) -> dict[str, Any]:
        limits: dict[str, Any] = {}
        if self.tokens:
            limits.update({"per": self.per, "budget_per_1m_tokens": self.budget_per_1m_tokens})
            if self.warn_per_1m_tokens is not None:
                limits["warn_per_1m_tokens"] = self.warn_per_1m_tokens
        else:
            limits["budget_per_1k"] = self.budget_per_1k
        if self.warn_per_1k is not None:
            limits["warn_per_1k"] = self.warn_per_1k
        limits["price_at"] = self.price_at
        if self.cost_model is not None:
            limits["cost_model"] = self.cost_model.model_dump()
        return limits


@dataclass(frozen=True)
class OperatingPoint:
    """Where a cost is priced: the total rate served and by how many replicas."""

    price_at: PriceAt
    rate_rps: float
    replicas: int
    capacity_rps: float | None = None
    traffic_rps: float | None = None
    headroom: float | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {"price_at": self.price_at, "rate_rps": self.rate_rps,
                 "replicas": self.replicas, "capacity_rps": self.capacity_rps,
                 "traffic_rps": self.traffic_rps, "headroom": self.headroom}
        return {k: v for k, v in found.items() if v is not None}

    def describe(self) -> str:
        """``capacity 40/s on 1 replica`` or ``declared traffic 500/s on 3 replicas
        (capacity 200/s, headroom 1.2)``."""
        on = f"on {self.replicas} replica{'s' if self.replicas != 1 else ''}"
        rate = f"{plain_number(self.rate_rps)}/s"
        if self.price_at == "capacity":
            return f"capacity {rate} {on}"
        if self.price_at == "offered":
            return f"the offered rate {rate} {on}"
        assert self.capacity_rps is not None
        return (f"declared traffic {rate} {on} (capacity {plain_number(self.capacity_rps)}/s, "
                f"headroom {plain_number(self.headroom or 1)})")


@dataclass(frozen=True)
class Priced:
    """A cost model priced at an operating point on one run's evidence."""

    breakdown: CostBreakdown
    point: OperatingPoint
    run: RunMetrics
    bytes_per_request: float | None
    refs: dict[str, str]


@dataclass(frozen=True)
class Pricing:
    """What to price and from which metrics (a ``cost`` check's fields; ``roi`` builds one)."""

    model: CostModel
    price_at: PriceAt
    capacity_metric: str = "capacity.rps"
    throughput_metric: str = "throughput_rps"
    bytes_per_request_metric: str | None = None


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


def operating_point(pricing: Pricing, run: RunMetrics) -> tuple[OperatingPoint, str] | Outcome:
    """The operating point ``pricing`` names on ``run``, and the metric its rate came from."""
    if pricing.price_at == "offered":
        rate = read(run, pricing.throughput_metric, "throughput (requests/s)",
                    MIN_THROUGHPUT_RPS)
        return rate if isinstance(rate, Outcome) else (
            OperatingPoint("offered", rate, 1), pricing.throughput_metric)
    capacity = read(run, pricing.capacity_metric, "capacity (requests/s)", MIN_THROUGHPUT_RPS)
    if isinstance(capacity, Outcome):
        return replace(capacity, message=f"{capacity.message}: {NO_CAPACITY}")
    if pricing.price_at == "capacity":
        return OperatingPoint("capacity", capacity, 1, capacity), pricing.capacity_metric
    traffic, headroom = pricing.model.traffic_rps, pricing.model.headroom or 1.0
    if traffic is None:
        return Outcome(Status.ERROR, "price_at: traffic needs the cost model's traffic_rps "
                       "(the expected requests/s)")
    replicas = replicas_for(traffic, headroom, capacity)
    return (OperatingPoint("traffic", traffic, replicas, capacity, traffic, headroom),
            pricing.capacity_metric)


def price(pricing: Pricing, run: RunMetrics) -> Priced | Outcome:
    """``pricing`` on ``run`` (already known usable), or the error saying why it cannot be."""
    found = operating_point(pricing, run)
    if isinstance(found, Outcome):
        return found
    point, rate_metric = found
    refs = {f"{point.price_at}_rps" if point.price_at != "offered" else "throughput_rps":
            run.ref(rate_metric)}
    size: float | None = None
    if pricing.bytes_per_request_metric is not None:
        read_size = read(run, pricing.bytes_per_request_metric, "bytes per request", 0)
        if isinstance(read_size, Outcome):
            return read_size
        size = read_size
        refs["bytes_per_request"] = run.ref(pricing.bytes_per_request_metric)
    breakdown = cost_per_1k(pricing.model, point.rate_rps, size or 0.0, point.replicas)
    if point.price_at == "traffic":
        refs = {"capacity_rps": refs.pop("traffic_rps"), **refs}
    return Priced(breakdown, point, run, size, refs)


def utilisation(model: CostModel, run: RunMetrics) -> dict[str, Any]:
    """The accelerators as priced and, where the server exports it, their measured
    utilisation (reported only: a reserved GPU is paid for whether busy or not)."""
    acc = model.accelerators
    if acc is None:
        return {}
    found: dict[str, Any] = {"gpus_per_replica": acc.gpus_per_replica,
                             "gpu_per_hour": acc.gpu_per_hour}
    if acc.utilisation_metric is not None:
        raw = run.metrics.get(acc.utilisation_metric)
        usable = raw is not None and is_finite(raw) and 0 <= raw <= 1
        found["utilisation"] = raw if usable else None
        if not usable:
            found["utilisation_note"] = (f"metric '{acc.utilisation_metric}' not on "
                                         f"{run.label}" if raw is None else
                                         f"metric '{acc.utilisation_metric}' = {raw} is not "
                                         "a share between 0 and 1")
    return found


def judge(spec: Cost, total: float, currency: str | None) -> tuple[Status, str]:
    total = float(f"{total:.{COMPARE_DIGITS}g}")
    limit, warn = spec.limits
    shown = f"cost = {money(total, currency)} {spec.unit}"
    budget = money(limit, currency)
    if total > limit:
        return Status.FAIL, f"{shown} > budget {budget}"
    if warn is not None and total > warn:
        return Status.WARN, (f"{shown} > warning {money(warn, currency)} "
                             f"(budget {budget})")
    return Status.PASS, f"{shown} <= budget {budget}"


def observed(priced: Priced, model: CostModel) -> dict[str, Any]:
    """What ``observed`` holds: the breakdown, its currency, the operating point, the run."""
    found: dict[str, Any] = {"per_1k": priced.breakdown.as_dict(),
                             "total": priced.breakdown.total, "currency": model.currency,
                             "operating_point": priced.point.as_dict()}
    if priced.bytes_per_request is not None:
        found["bytes_per_request"] = priced.bytes_per_request
    if accelerators := utilisation(model, priced.run):
        found["accelerators"] = accelerators
    return {**found, **run_observed(priced.run)}


def evaluate(spec: Cost, evidence: Evidence) -> Outcome:
    model = spec.cost_model
    if model is None:
        return Outcome(Status.ERROR, "no cost model: set 'cost_model' on the check or the "
                       "playbook", threshold=spec.threshold())
    run = usable_run(evidence, spec.run_source, spec.profile, spec.natural_profile)
    if isinstance(run, Outcome):
        hint = "" if spec.price_at == "offered" else f": {NO_CAPACITY}"
        return replace(run, message=run.message + hint, threshold=spec.threshold())
    priced = price(Pricing(model, spec.price_at, spec.capacity_metric, spec.throughput_metric,
                           spec.bytes_per_request_metric), run)
    if isinstance(priced, Outcome):
        return replace(priced, threshold=spec.threshold(),
                       evidence={**priced.evidence, **run_refs(run)})
    total = priced.breakdown.total
    found: dict[str, Any] = {}
    if spec.tokens:
        tokens = token_cost(spec, model, priced)
        if isinstance(tokens, Outcome):
            return replace(tokens, threshold=spec.threshold(),
                           evidence={**tokens.evidence, **priced.refs, **run_refs(run)})
        total, found = tokens
    token_refs = found.pop("refs", {})
    if not is_finite(total) or total <= 0:
        # Cannot happen with a validated cost model and a usable rate; if it ever does, a
        # cost of nothing (or of NaN) must not pass a budget.
        return Outcome(Status.ERROR, f"cost = {total:g} {spec.unit} is not a usable cost",
                       observed=observed(priced, model), threshold=spec.threshold())
    status, message = judge(spec, total, model.currency)
    return Outcome(status, f"{message}, priced at {priced.point.describe()} ({run.label})"
                   f"{gpu_note(model, priced.run)}",
                   observed={**observed(priced, model), **found}, threshold=spec.threshold(),
                   evidence={**priced.refs, **token_refs, **run_refs(run)})


def token_cost(spec: Cost, model: CostModel, priced: Priced
               ) -> tuple[float, dict[str, Any]] | Outcome:
    """The cost of 1,000,000 of the tokens ``spec.per`` names, and what ``observed`` adds;
    or the error saying why it cannot be priced (no tokens metric, no input share)."""
    assert spec.per is not None
    name = spec.tokens_metric or TOKENS_METRICS[spec.per]
    per_request = read(priced.run, name, "tokens per request", MIN_THROUGHPUT_RPS)
    if isinstance(per_request, Outcome):
        return replace(per_request, message=per_request.message + ": run `gatekeeper probe "
                       "--api ... --find-capacity` for this version (docs/llm.md)")
    share = model.input_token_cost_share or 0.0
    if spec.per == "1m_input_tokens" and not share:
        return Outcome(Status.ERROR, "per: 1m_input_tokens needs the cost model's "
                       "input_token_cost_share (the share of the price borne by prompt tokens)")
    costs: TokenCost
    if spec.per == "1m_input_tokens":
        costs = cost_per_1m_tokens(model, priced.breakdown.total, 1.0, per_request)
        assert costs.per_1m_input is not None
        total = costs.per_1m_input
    else:
        total = cost_per_1m_tokens(model, priced.breakdown.total, per_request).per_1m_output
    return total, {"per": spec.per, "per_1m_tokens": total, "tokens_per_request": per_request,
                   "input_token_cost_share": share,
                   "refs": {"tokens_per_request": priced.run.ref(name)}}


def gpu_note(model: CostModel, run: RunMetrics) -> str:
    """``, GPU utilisation 63%`` when measured; nothing otherwise."""
    share = utilisation(model, run).get("utilisation")
    return "" if share is None else f", GPU utilisation {share:.0%}"


KIND = CheckKind(spec=Cost, evaluate=evaluate,
                 summary="Cost per 1,000 inferences at the capacity at the SLO (or the declared "
                 "traffic, or the probe's rate), from the cost model.")
