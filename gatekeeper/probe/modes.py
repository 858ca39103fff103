"""What one ``gatekeeper probe`` measures, besides a plain run of the built-in engine.

Each mode returns a :class:`Measured`: a ``ProbeReport`` (so the result files, the summary and
the MLflow metrics are built the same way whatever measured it), plus the mode's own metrics,
summary lines, result.json details and reasons the evidence is not usable.

- :func:`run_engine`: the plan on another engine of ``ENGINES`` (Locust).
- :func:`search_capacity`: the highest fixed rate whose P99 meets an SLO, and cost at SLO.
- :func:`run_cache_proof`: hit ratio, capacity and cost with and without the cache.
- :func:`read_import`: a k6 summary or Locust CSV statistics read into a report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pydantic

from gatekeeper.errors import InvalidInputError, ValidationError
from gatekeeper.load.costmodel import CostModel
from gatekeeper.load.yamlsrc import pydantic_problems, read_document
from gatekeeper.probe.cache_proof import RedisStats, SearchSettings, prove_cache
from gatekeeper.probe.capacity import CapacityResult, ProbeTarget, Step, StepPolicy, find_capacity
from gatekeeper.probe.engine import Limits
from gatekeeper.probe.engines import ENGINES
from gatekeeper.probe.importers import import_k6_summary, import_locust_csv
from gatekeeper.probe.report import HoldPolicy, ProbeReport
from gatekeeper.probe.requests_mix import Planned, RequestMix
from gatekeeper.render.probe import Timeline, format_ms

ImportKind = Literal["k6", "locust"]
# The search's upper bound when none is given: --max-steps bounds it instead.
UNBOUNDED_RATE = 1_000_000.0
#: Where a mode made of steps tells each one as it finishes (``Progress.step``).
Tell = Callable[[str], None]


@dataclass(frozen=True)
class Measured:
    """A report and what the mode adds to the outcome."""

    report: ProbeReport
    timeline: Timeline
    response_bytes: float = 0.0
    metrics: Mapping[str, float] = field(default_factory=dict)
    lines: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CapacitySpec:
    """``--find-capacity`` / ``--cache-proof``: the SLO, the search's bounds, the prices."""

    slo_p99_ms: float
    max_rate: float = UNBOUNDED_RATE
    max_steps: int = 8
    cost_model: CostModel | None = None
    redis_url: str | None = None  # cache proof: the cache's own statistics


@dataclass(frozen=True)
class ImportSpec:
    """``--import-k6 FILE`` or ``--import-locust PREFIX``, at a stated ``--target-rps``."""

    kind: ImportKind
    path: Path
    target_rps: float | None

    def describe(self) -> str:
        what = "k6 summary" if self.kind == "k6" else "Locust CSV statistics"
        rate = "no target rate" if self.target_rps is None else f"target {self.target_rps:g}/s"
        return f"import of {what} {self.path} ({rate})"


def no_timeline(warmup_s: float) -> Timeline:
    """The timeline of a mode that keeps no per-request samples."""
    return Timeline((), warmup_s)


def run_engine(name: str, url: str, plan: Iterable[Planned], limits: Limits, warmup_s: float,
               workers: int) -> Measured:
    """The plan on engine ``name`` of the registry (no per-request samples come back)."""
    report = ENGINES[name](url, plan, limits, HoldPolicy(warmup_s=warmup_s), workers=workers)
    return Measured(report, no_timeline(warmup_s))


def search_capacity(url: str, mix: RequestMix, spec: CapacitySpec, start_rate: float,
                    step_s: float, warmup_s: float, limits: Limits, seed: int,
                    tell: Tell | None = None) -> Measured:
    """The capacity search; the report is that of the highest passing step (else the last).

    ``tell`` gets a :func:`progress_line` as each step finishes."""
    policy = StepPolicy(warmup_s=warmup_s, seed=seed)
    result = find_capacity(ProbeTarget(url, limits), mix, spec.slo_p99_ms, start_rate,
                           max(spec.max_rate, start_rate), policy, step_s, spec.max_steps,
                           step_teller(tell, ""))
    shown = result.best or result.steps[-1]
    metrics = {"capacity_rps": result.capacity_rps,
               **result.metrics("capacity", spec.cost_model)}
    lines = [*(step_line(s) for s in result.steps), capacity_line(result)]
    if result.best is not None and spec.cost_model is not None:
        cost = result.cost(spec.cost_model).total
        metrics["cost.per_1k_at_slo"] = cost
        lines.append(f"cost at SLO: {cost:.6g} per 1,000 inferences")
    problems = () if result.best else (f"no step met the P99 SLO of {spec.slo_p99_ms:g} ms",)
    return Measured(shown.run.report, no_timeline(warmup_s), shown.run.response_bytes, metrics,
                    tuple(lines), problems, {"capacity": result.to_dict()})


def step_line(step: Step) -> str:
    """``step 400/s: p99 6.2 ms, errors 0.00%: pass`` (or why it failed)."""
    return (f"step {step.rate:,.0f}/s: p99 {format_ms(step.p99_ms)} ms, errors "
            f"{step.error_rate:.2%}: {'pass' if step.passed else 'FAIL, ' + str(step.failure)}")


def progress_line(number: int, step: Step) -> str:
    """``step 2: 400/s, held, p99 6.2 ms, errors 0.00%: pass`` (or ``FAIL, <why>``)."""
    held = "held" if step.held else "rate NOT held"
    verdict = "pass" if step.passed else f"FAIL, {step.failure}"
    return (f"step {number}: {step.rate:,.0f}/s, {held}, p99 {format_ms(step.p99_ms)} ms, "
            f"errors {step.error_rate:.2%}: {verdict}")


def step_teller(tell: Tell | None, prefix: str) -> Callable[[Step], None] | None:
    """A step callback that numbers the steps of one search and tells each, ``prefix`` first."""
    if tell is None:
        return None
    told = tell
    count = 0

    def on_step(step: Step) -> None:
        nonlocal count
        count += 1
        told(prefix + progress_line(count, step))

    return on_step


def capacity_line(result: CapacityResult) -> str:
    ceiling = "" if result.ceiling_rps is None else f", {result.ceiling_rps:,.0f}/s failed"
    return (f"capacity at p99 <= {result.slo_p99_ms:g} ms: {result.capacity_rps:,.0f}/s"
            f"{ceiling} (stopped by {result.stopped_by}, {len(result.steps)} steps)")


def run_cache_proof(url: str, mix: RequestMix, spec: CapacitySpec, rate: float,
                    duration_s: float, warmup_s: float, limits: Limits, seed: int,
                    tell: Tell | None = None) -> Measured:
    """The cache proof; the report is that of the replay through the cache.

    ``tell`` gets a line as each step of either search finishes (``with cache: step 1: ...``).
    """
    if spec.cost_model is None:
        raise InvalidInputError("--cache-proof needs --cost-model or --playbook")
    stats = RedisStats(spec.redis_url) if spec.redis_url else None
    search = SearchSettings(spec.slo_p99_ms, rate, max(spec.max_rate, rate),
                            StepPolicy(warmup_s=warmup_s, seed=seed), duration_s,
                            spec.max_steps, replace(limits, max_duration_s=duration_s))
    tellers = {True: step_teller(tell, "with cache: "),
               False: step_teller(tell, "without cache: ")}

    def on_step(cached: bool, step: Step) -> None:
        teller = tellers[cached]
        if teller is not None:
            teller(step)

    proof = prove_cache(url, mix, spec.cost_model, stats, rate, duration_s, search,
                        on_step=on_step)
    metrics = proof.metrics()
    lines = [f"cache: hit ratio {proof.hit.from_headers:.3f} (X-Cache), "
             f"expected {proof.hit.expected:.3f}",
             "with cache:    " + capacity_line(proof.cached),
             "without cache: " + capacity_line(proof.uncached)]
    if proof.cost_reduction is not None:
        lines.append(f"cost per 1,000: {metrics['cost.per_1k_cached']:.6g} with the cache, "
                     f"{metrics['cost.per_1k_uncached']:.6g} without ({proof.cost_reduction:.0%}"
                     " less)")
    return Measured(proof.replay.report, no_timeline(warmup_s), proof.replay.response_bytes,
                    metrics, tuple(lines), (), {"cache_proof": proof.to_dict()})


def read_import(spec: ImportSpec, label: str) -> Measured:
    """The file as a report; ``label`` names the target in it (the URL, else the file)."""
    if spec.kind == "k6":
        report = import_k6_summary(spec.path, target_rps=spec.target_rps, url=label)
    else:
        report = import_locust_csv(spec.path, target_rps=spec.target_rps, url=label)
    return Measured(report, no_timeline(0.0))


def load_cost_model(path: Path) -> CostModel:
    """A YAML file holding a cost model (the keys of a playbook's ``cost_model``)."""
    doc, problems = read_document(path)
    if doc is None:
        raise ValidationError(problems)
    try:
        return CostModel.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise ValidationError(pydantic_problems(doc, exc, CostModel)) from None
