"""``--find-capacity`` with an LLM ``--api``: the highest fixed request rate whose goodput
meets the SLO, and what a million tokens cost there.

The search is today's (:func:`gatekeeper.probe.capacity.search_capacity`: grow the rate until a
step fails, then bisect); only the judging of a step differs. A step passes when the engine
held its rate and at least ``min_goodput_share`` of its measured requests met every SLO given
(``--slo-ttft-ms``, ``--slo-tpot-ms``, ``--slo-e2e-ms``, per request; a failed request is a
miss). With no SLO at all every ok request counts, so only errors and the rate fail a step.

At the capacity found, one replica's hourly price (accelerators, memory, cache, network and
overhead included, as in cost per 1,000) is spread over the output tokens it served per second:
cost per 1,000,000 output tokens; the cost model's ``input_token_cost_share`` moves that share
of the price onto the prompt tokens (docs/llm.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from gatekeeper.load.costmodel import CostModel, TokenCost, cost_per_1k, cost_per_1m_tokens, money
from gatekeeper.probe.capacity import CapacityResult, Step, StepPolicy, StepRun, search_capacity
from gatekeeper.probe.engine import RunRecord, run_engine_loop
from gatekeeper.probe.engines.builtin import mean_response_bytes
from gatekeeper.probe.llm.engine import LlmEngine, LlmSample
from gatekeeper.probe.llm.metrics import (
    EndpointLlm,
    Slo,
    endpoint_details,
    fingerprint,
    llm_metrics,
    summarise,
)
from gatekeeper.probe.llm.protocols import APIS, ApiName
from gatekeeper.probe.progress import Progress
from gatekeeper.probe.report import HoldPolicy, build_report
from gatekeeper.probe.timeline import no_timeline

if TYPE_CHECKING:  # gatekeeper.probe.modes imports this module for its registry
    from gatekeeper.probe.modes.interface import Measured, Sending
    from gatekeeper.probe.modes.search import SearchBounds

#: The share of a step's requests that must meet every SLO (``--min-goodput-share``): 99%, the
#: share a P99 objective allows to miss.
DEFAULT_MIN_GOODPUT_SHARE = 0.99
#: ``search_capacity`` retries a step that missed a P99 SLO narrowly; an LLM step has no P99
#: objective (goodput judges it), so the P99 it is given is 0 and no step is retried.
NO_P99_SLO = 0.0


@dataclass(frozen=True)
class LlmStep:
    """What one step of an LLM search measured, beside its :class:`Step`."""

    rate: float
    stats: tuple[EndpointLlm, ...]
    samples: tuple[LlmSample, ...]
    requests: int
    good: int

    @property
    def goodput_share(self) -> float:
        return self.good / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class LlmCapacitySearch:
    """Steps of ``sending.schedule.duration_s`` from ``sending.rate`` within ``bounds`` (its
    P99 is not used), judged by goodput; ``cost_model`` prices the tokens at the capacity."""

    mode: ClassVar[str] = "llm_capacity"
    sends: ClassVar[bool] = True
    engine: ClassVar[str] = "builtin"
    workers: ClassVar[int] = 1
    sending: Sending
    api: ApiName
    bounds: SearchBounds
    slo: Slo = field(default_factory=Slo)
    min_goodput_share: float = DEFAULT_MIN_GOODPUT_SHARE
    cost_model: CostModel | None = None

    def describe(self) -> str:
        return (f"LLM capacity search ({self.api}) from {self.sending.rate:g}/s, steps of "
                f"{self.sending.schedule.duration_s:g} s, goodput share >= "
                f"{self.min_goodput_share:g} with {self.slo.describe()}")


def judge_llm_step(rate: float, run: StepRun, llm: LlmStep, share: float,
                   max_error_rate: float) -> Step:
    """Pass when the rate was held and at least ``share`` of the requests met every SLO."""
    report = run.report
    requests = sum(e.requests for e in report.endpoints)
    errors = sum(sum(e.errors.values()) for e in report.endpoints)
    error_rate = errors / requests if requests else 0.0
    p99_ms = max((e.latency.p99 * 1000 for e in report.endpoints), default=math.nan)
    held = bool(report.endpoints) and report.held_target_rate
    failure = None
    if not llm.requests:
        failure = "no requests measured"
    elif not held:
        failure = "the engine did not hold the rate"
    elif llm.goodput_share < share:
        failure = f"goodput share {llm.goodput_share:.2%} < {share:.2%}"
    elif error_rate > max_error_rate:
        failure = f"error rate {error_rate:.2%} > {max_error_rate:.2%}"
    samples = sum(e.samples for e in report.endpoints)
    return Step(rate, p99_ms, error_rate, held, samples, run, failure)


def run_llm_step(request: LlmCapacitySearch, url: str, rate: float) -> tuple[StepRun, LlmStep]:
    """One fixed-rate step of the request's prompts, streamed."""
    from gatekeeper.probe.capacity import step_plan

    s = request.sending
    duration = s.schedule.duration_s
    engine = LlmEngine(url.rstrip("/"), replace(s.limits, max_duration_s=duration),
                       api=APIS[request.api])
    planned = run_engine_loop(engine.run(step_plan(s.mix, rate, duration, s.seed)),
                              s.limits.connections)
    record = RunRecord(engine.url, tuple(engine.samples), planned)
    report = build_report(record, HoldPolicy(warmup_s=s.warmup_s))
    stats = summarise(engine.streams, s.warmup_s, request.slo)
    llm = LlmStep(rate, stats, tuple(engine.streams), sum(e.requests for e in stats),
                  sum(e.good for e in stats))
    return StepRun(report, mean_response_bytes(record, s.warmup_s), {}), llm


def measure_llm_capacity(request: LlmCapacitySearch, url: str, progress: Progress) -> Measured:
    """The search; the report, token metrics and workload are those of the highest passing
    step (else the last)."""
    from gatekeeper.probe.modes.interface import Measured
    from gatekeeper.probe.modes.search import step_teller

    s, bounds = request.sending, request.bounds
    policy = StepPolicy(warmup_s=s.warmup_s, seed=s.seed)
    steps: list[LlmStep] = []

    def measure(rate: float) -> Step:
        run, llm = run_llm_step(request, url, rate)
        steps.append(llm)
        return judge_llm_step(rate, run, llm, request.min_goodput_share, policy.max_error_rate)

    result = search_capacity(measure, NO_P99_SLO, s.rate, max(bounds.max_rate, s.rate), policy,
                             bounds.max_steps, step_teller(progress.step, ""))
    best = result.best
    index = next((i for i, step in enumerate(result.steps) if step is best),
                 len(result.steps) - 1)
    shown, llm = result.steps[index], steps[index]
    metrics = {**llm_metrics(llm.stats), **capacity_metrics(request, result, steps, index)}
    lines = [*(llm_step_line(step, one) for step, one in zip(result.steps, steps, strict=True)),
             llm_capacity_line(request, result)]
    problems: tuple[str, ...] = ()
    if best is None:
        problems = (f"no step met goodput share {request.min_goodput_share:g} with "
                    f"{request.slo.describe()}",)
    elif request.cost_model is not None:
        lines.extend(cost_lines(request.cost_model, metrics))
    details = {"capacity": capacity_details(request, result, steps),
               "llm": {"api": request.api, "slo": request.slo.to_dict(),
                       "definitions": "docs/llm.md",
                       "endpoints": [endpoint_details(e) for e in llm.stats]},
               "workload": fingerprint(request.api, s.mix, llm.samples)}
    return Measured(shown.run.report, no_timeline(s.warmup_s), shown.run.response_bytes,
                    metrics, tuple(lines), problems, details)


def capacity_metrics(request: LlmCapacitySearch, result: CapacityResult,
                     steps: Sequence[LlmStep], index: int) -> dict[str, float]:
    """``capacity.rps``, ``.steps``, ``.min_goodput_share``; at a capacity found also its
    goodput share, tokens/s and tokens per request, and with a cost model the costs."""
    found = {"capacity_rps": result.capacity_rps, "capacity.rps": result.capacity_rps,
             "capacity.steps": float(len(result.steps)),
             "capacity.min_goodput_share": request.min_goodput_share}
    best = result.best
    if best is None:
        return found
    llm = steps[index]
    # Tokens per measured request (a failed one counts, with what it delivered): at the
    # capacity rate R they make the tokens/s served in the steady state, R x tokens/request.
    output = sum(e.output_tokens for e in llm.stats)
    prompt = sum(e.prompt_tokens for e in llm.stats)
    found.update({
        "capacity.goodput_share": llm.goodput_share,
        "capacity.output_tokens_per_s": result.capacity_rps * output / llm.requests,
        "capacity.input_tokens_per_s": result.capacity_rps * prompt / llm.requests,
        "capacity.output_tokens_per_request": output / llm.requests,
        "capacity.input_tokens_per_request": prompt / llm.requests,
    })
    model = request.cost_model
    if model is None or not output:
        return found
    per_1k = cost_per_1k(model, best.rate, best.run.response_bytes).total
    found["capacity.cost_per_1k"] = found["cost.per_1k_at_slo"] = per_1k
    tokens = cost_per_1m_tokens(model, per_1k, output / llm.requests, prompt / llm.requests)
    found.update(token_cost_metrics("cost", tokens))
    for e in llm.stats:
        if e.requests and e.output_tokens:
            # An endpoint bears the price of its requests (as in cost per 1,000), over the
            # tokens its own requests carry.
            mine = cost_per_1m_tokens(model, per_1k, e.output_tokens / e.requests,
                                      e.prompt_tokens / e.requests)
            found.update(token_cost_metrics(f"cost.{e.endpoint}", mine))
    return {k: v for k, v in found.items() if math.isfinite(v)}


def token_cost_metrics(prefix: str, tokens: TokenCost) -> dict[str, float]:
    found = {f"{prefix}.per_1m_output_tokens": tokens.per_1m_output}
    if tokens.per_1m_input is not None:
        found[f"{prefix}.per_1m_input_tokens"] = tokens.per_1m_input
    return found


def llm_step_line(step: Step, llm: LlmStep) -> str:
    """``step 40/s: goodput 99.5% (398 of 400), errors 0.00%: pass`` (or why it failed)."""
    verdict = "pass" if step.passed else f"FAIL, {step.failure}"
    return (f"step {step.rate:,.1f}/s: goodput {llm.goodput_share:.1%} ({llm.good:,} of "
            f"{llm.requests:,}), errors {step.error_rate:.2%}: {verdict}")


def llm_capacity_line(request: LlmCapacitySearch, result: CapacityResult) -> str:
    ceiling = "" if result.ceiling_rps is None else f", {result.ceiling_rps:,.1f}/s failed"
    return (f"capacity at goodput share >= {request.min_goodput_share:g} "
            f"({request.slo.describe()}): {result.capacity_rps:,.1f}/s{ceiling} (stopped by "
            f"{result.stopped_by}, {len(result.steps)} steps)")


def cost_lines(model: CostModel, metrics: dict[str, float]) -> list[str]:
    if "cost.per_1m_output_tokens" not in metrics:
        return []
    line = (f"cost at capacity: {money(metrics['cost.per_1m_output_tokens'], model.currency)} "
            "per 1,000,000 output tokens")
    if "cost.per_1m_input_tokens" in metrics:
        line += (f", {money(metrics['cost.per_1m_input_tokens'], model.currency)} per "
                 "1,000,000 input tokens")
    return [line]


def capacity_details(request: LlmCapacitySearch, result: CapacityResult,
                     steps: Sequence[LlmStep]) -> dict[str, Any]:
    """result.json's ``capacity``: the objective and every step with its goodput."""
    return {"capacity_rps": result.capacity_rps, "ceiling_rps": result.ceiling_rps,
            "stopped_by": result.stopped_by, "slo": request.slo.to_dict(),
            "min_goodput_share": request.min_goodput_share,
            "steps": [{**step.to_dict(), "goodput_share": llm.goodput_share,
                       "good": llm.good, "requests": llm.requests}
                      for step, llm in zip(result.steps, steps, strict=True)]}
