"""``--find-capacity``: the highest fixed rate whose P99 meets an SLO, and the cost there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pydantic

from gatekeeper.errors import ValidationError
from gatekeeper.load.costmodel import CostModel, money
from gatekeeper.load.yamlsrc import pydantic_problems, read_document
from gatekeeper.probe.capacity import CapacityResult, ProbeTarget, Step, StepPolicy, find_capacity
from gatekeeper.probe.modes.interface import Measured, Sending, Tell
from gatekeeper.probe.progress import Progress
from gatekeeper.probe.report import format_ms
from gatekeeper.probe.timeline import no_timeline

# The search's upper bound when none is given: --max-steps bounds it instead.
UNBOUNDED_RATE = 1_000_000.0


@dataclass(frozen=True)
class SearchBounds:
    """The P99 SLO a step must meet, and how far a search may go."""

    slo_p99_ms: float
    max_rate: float = UNBOUNDED_RATE
    max_steps: int = 8


@dataclass(frozen=True)
class CapacitySearch:
    """Steps of ``sending.schedule.duration_s`` from ``sending.rate`` within ``bounds``;
    ``cost_model`` prices the capacity found."""

    mode: ClassVar[str] = "capacity"
    sends: ClassVar[bool] = True
    engine: ClassVar[str] = "builtin"
    workers: ClassVar[int] = 1
    sending: Sending
    bounds: SearchBounds
    cost_model: CostModel | None = None

    def describe(self) -> str:
        return (f"capacity search from {self.sending.rate:g}/s, steps of "
                f"{self.sending.schedule.duration_s:g} s, p99 SLO {self.bounds.slo_p99_ms:g} ms")


def measure_capacity(request: CapacitySearch, url: str, progress: Progress) -> Measured:
    """The capacity search; the report is that of the highest passing step (else the last).

    ``progress`` is told a :func:`progress_line` as each step finishes."""
    s, bounds = request.sending, request.bounds
    policy = StepPolicy(warmup_s=s.warmup_s, seed=s.seed)
    result = find_capacity(ProbeTarget(url, s.limits), s.mix, bounds.slo_p99_ms, s.rate,
                           max(bounds.max_rate, s.rate), policy, s.schedule.duration_s,
                           bounds.max_steps, step_teller(progress.step, ""))
    shown = result.best or result.steps[-1]
    metrics = {"capacity_rps": result.capacity_rps,
               **result.metrics("capacity", request.cost_model)}
    lines = [*(step_line(step) for step in result.steps), capacity_line(result)]
    if result.best is not None and request.cost_model is not None:
        cost = result.cost(request.cost_model).total
        metrics["cost.per_1k_at_slo"] = cost
        lines.append(f"cost at SLO: {money(cost, request.cost_model.currency)} per 1,000 "
                     "inferences")
    problems = () if result.best else (f"no step met the P99 SLO of {bounds.slo_p99_ms:g} ms",)
    return Measured(shown.run.report, no_timeline(s.warmup_s), shown.run.response_bytes,
                    metrics, tuple(lines), problems, {"capacity": result.to_dict()})


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


def step_teller(tell: Tell, prefix: str) -> Callable[[Step], None]:
    """A step callback that numbers the steps of one search and tells each, ``prefix`` first."""
    count = 0

    def on_step(step: Step) -> None:
        nonlocal count
        count += 1
        tell(prefix + progress_line(count, step))

    return on_step


def capacity_line(result: CapacityResult) -> str:
    ceiling = "" if result.ceiling_rps is None else f", {result.ceiling_rps:,.0f}/s failed"
    return (f"capacity at p99 <= {result.slo_p99_ms:g} ms: {result.capacity_rps:,.0f}/s"
            f"{ceiling} (stopped by {result.stopped_by}, {len(result.steps)} steps)")


def load_cost_model(path: Path) -> CostModel:
    """A YAML file holding a cost model (the keys of a playbook's ``cost_model``)."""
    doc, problems = read_document(path)
    if doc is None:
        raise ValidationError(problems)
    try:
        return CostModel.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise ValidationError(pydantic_problems(doc, exc, CostModel)) from None
