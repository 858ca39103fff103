"""Capacity: the highest fixed rate a target serves within its P99 SLO, and the cost there.

:func:`find_capacity` runs a bounded search of fixed-rate steps with the open-model engine.
A step passes when the P99 latency (coordinated-omission corrected) meets the SLO, the engine
held its rate, and the error rate is at most ``StepPolicy.max_error_rate``. The search grows
the rate geometrically until a step fails (or shrinks it while the first steps fail), then
bisects between the highest pass and the lowest failure above it until they are within
``StepPolicy.resolution`` of each other, ``max_rate`` passes, or ``max_steps`` steps ran. A
step that missed the SLO narrowly is measured once more (``StepPolicy.retry_margin``).

"Cost at SLO" is :func:`~gatekeeper.load.costmodel.cost_per_1k` at the capacity found: what 1,000
inferences cost on one replica run as hard as its latency objective allows.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from gatekeeper.load.costmodel import CostBreakdown, CostModel, cost_per_1k
from gatekeeper.probe import schedule
from gatekeeper.probe.engine import Limits, RunRecord, StatusClass, run_plan
from gatekeeper.probe.report import HoldPolicy, ProbeReport, build_report
from gatekeeper.probe.requests_mix import MixRequest, Planned, RequestMix
from gatekeeper.probe.timeline import Timeline, build_timeline

#: Query parameter that keeps the passes of a replayed trace apart (see :func:`trace_plan`).
REPLAY_PARAM = "replay"
StopReason = Literal["resolution", "max_rate", "min_rate", "max_steps"]
#: Per-step bounds: a 2 s timeout keeps an overloaded step short; 256 connections let the
#: engine keep sending on schedule while a slow target holds many requests open.
STEP_LIMITS = Limits(timeout_s=2.0, connections=256)
#: Called with each step as soon as it is judged (live progress), before the next one starts.
StepCallback = Callable[["Step"], None]


@dataclass(frozen=True)
class ProbeTarget:
    """Where steps are sent, and how.

    ``headers`` go on every request (``Cache-Control: no-cache`` bypasses a cache).
    ``tally_header`` names a response header whose values are counted per step (``X-Cache``).
    ``before_step`` runs before each step, e.g. to empty a cache so every step starts cold.
    """

    url: str
    limits: Limits = STEP_LIMITS
    headers: Mapping[str, str] = field(default_factory=dict)
    tally_header: str | None = None
    before_step: Callable[[], None] | None = None


@dataclass(frozen=True)
class StepPolicy:
    """How steps are judged and how the search moves between them."""

    growth: float = 2.0  # rate factor while no step has both passed and failed
    resolution: float = 0.10  # stop when (lowest failure - highest pass) <= this * highest pass
    max_error_rate: float = 0.001  # a step with more failed requests than this fails
    warmup_s: float = 0.5  # excluded from every step's figures
    settle_s: float = 0.5  # pause after a failed step: the target may still drain a backlog
    min_rate: float = 1.0  # the search never goes below this rate
    # A step that failed only on P99, and by at most this share of the SLO, is measured once
    # more and counts as passed if the retry passes: one pause of a busy machine must not
    # decide the capacity. Clear overloads (P99 far above the SLO) are never retried. 0: off.
    retry_margin: float = 0.5
    endpoint: str | None = None  # judge this endpoint type's P99 only; None: every type
    seed: int = 1  # request choice of weighted mixes

    def __post_init__(self) -> None:
        if not self.growth > 1:
            raise ValueError(f"growth must be > 1, got {self.growth}")
        if not self.resolution > 0:
            raise ValueError(f"resolution must be > 0, got {self.resolution}")
        if not 0 <= self.max_error_rate < 1:
            raise ValueError(f"max_error_rate must be in [0, 1), got {self.max_error_rate}")
        if min(self.warmup_s, self.settle_s, self.retry_margin) < 0 or not self.min_rate > 0:
            raise ValueError("warmup_s, settle_s and retry_margin must be >= 0, min_rate > 0")


@dataclass(frozen=True)
class StepRun:
    """What one fixed-rate run measured."""

    report: ProbeReport
    response_bytes: float  # mean body size of measured ok answers
    tally: Mapping[str, int]  # values of the target's tally header, over every answer
    timeline: Timeline | None = None  # per second, for the percentiles-over-time picture


@dataclass(frozen=True)
class Step:
    """One step of the search, judged. ``failure`` is None when the step passed."""

    rate: float
    p99_ms: float  # the worst judged endpoint type's P99; NaN when nothing succeeded
    error_rate: float
    held: bool
    samples: int
    run: StepRun
    failure: str | None

    @property
    def passed(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN stays NaN: callers writing strict JSON map it to null)."""
        return {"rate": self.rate, "passed": self.passed, "failure": self.failure,
                "p99_ms": self.p99_ms, "error_rate": self.error_rate, "held": self.held,
                "samples": self.samples, "response_bytes": self.run.response_bytes,
                "tally": dict(self.run.tally)}


@dataclass(frozen=True)
class CapacityResult:
    """Every step of one search, and what they add up to."""

    slo_p99_ms: float
    steps: tuple[Step, ...]
    stopped_by: StopReason

    @property
    def best(self) -> Step | None:
        """The highest passing step, or None when no step passed."""
        return max((s for s in self.steps if s.passed), key=lambda s: s.rate, default=None)

    @property
    def capacity_rps(self) -> float:
        """The highest rate that met the SLO (0 when none did)."""
        return self.best.rate if self.best else 0.0

    @property
    def ceiling_rps(self) -> float | None:
        """The lowest failing rate above the capacity: the truth lies in between."""
        return bracket([(s.rate, s.passed) for s in self.steps])[1]

    @property
    def bytes_per_request(self) -> float:
        return self.best.run.response_bytes if self.best else 0.0

    def cost(self, model: CostModel) -> CostBreakdown:
        """Cost per 1,000 inferences at the capacity ("cost at SLO"); ValueError if none."""
        if self.best is None:
            raise ValueError(f"no step met the P99 SLO of {self.slo_p99_ms:g} ms: no capacity")
        return cost_per_1k(model, self.capacity_rps, self.bytes_per_request)

    def metrics(self, prefix: str = "capacity", cost_model: CostModel | None = None
                ) -> dict[str, float]:
        """MLflow metrics: ``<prefix>.rps``, ``.slo_p99_ms``, ``.steps``; once a capacity was
        found also ``.p99_ms`` and, given a cost model, ``.cost_per_1k`` (cost at SLO)."""
        found = {f"{prefix}.rps": self.capacity_rps, f"{prefix}.slo_p99_ms": self.slo_p99_ms,
                 f"{prefix}.steps": float(len(self.steps))}
        if self.best is not None:
            found[f"{prefix}.p99_ms"] = self.best.p99_ms
            if cost_model is not None:
                found[f"{prefix}.cost_per_1k"] = self.cost(cost_model).total
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"slo_p99_ms": self.slo_p99_ms, "capacity_rps": self.capacity_rps,
                "ceiling_rps": self.ceiling_rps, "stopped_by": self.stopped_by,
                "bytes_per_request": self.bytes_per_request,
                "steps": [s.to_dict() for s in self.steps]}


def find_capacity(target: ProbeTarget | str, mix: RequestMix, slo_p99_ms: float,
                  start_rate: float, max_rate: float, step_policy: StepPolicy | None = None,
                  step_duration: float = 2.0, max_steps: int = 8,
                  on_step: StepCallback | None = None) -> CapacityResult:
    """Search for the highest fixed rate (requests/s) whose P99 meets ``slo_p99_ms``.

    At most ``max_steps`` steps of ``step_duration`` seconds (warm-up included) are sent, so
    a search lasts about ``max_steps * (step_duration + timeout + settle)`` seconds at most.
    ``on_step`` sees each step as soon as it is judged (a retried step twice, in order).
    """
    policy = step_policy or StepPolicy()
    probe = ProbeTarget(target) if isinstance(target, str) else target
    schedule.check_positive(slo_p99_ms=slo_p99_ms, start_rate=start_rate, max_rate=max_rate,
                            step_duration=step_duration)
    if start_rate > max_rate or max_steps < 1 or step_duration <= policy.warmup_s:
        raise ValueError("need start_rate <= max_rate, max_steps >= 1 and a step longer "
                         "than the warm-up")

    def measure(rate: float) -> Step:
        return measure_step(probe, mix, rate, step_duration, slo_p99_ms, policy)

    return search_capacity(measure, slo_p99_ms, start_rate, max_rate, policy, max_steps,
                           on_step)


def search_capacity(measure: Callable[[float], Step], slo_p99_ms: float, start_rate: float,
                    max_rate: float, policy: StepPolicy, max_steps: int,
                    on_step: StepCallback | None = None) -> CapacityResult:
    """The search itself; ``measure(rate)`` runs and judges one step (a fake in tests)."""
    steps: list[Step] = []

    def take(step: Step) -> None:
        steps.append(step)
        if on_step is not None:
            on_step(step)

    rate: float | None = start_rate
    reason: StopReason = "max_steps"
    while rate is not None and len(steps) < max_steps:
        take(measure(rate))
        if worth_retry(steps[-1], slo_p99_ms, policy) and len(steps) < max_steps:
            take(measure(rate))
        rate, stop = next_rate([(s.rate, s.passed) for s in steps], max_rate, policy)
        reason = stop or reason
    return CapacityResult(slo_p99_ms, tuple(steps), reason)


def worth_retry(step: Step, slo_p99_ms: float, policy: StepPolicy) -> bool:
    """Whether ``step`` failed narrowly, on P99 alone (see ``StepPolicy.retry_margin``)."""
    return (not step.passed and step.held and step.error_rate <= policy.max_error_rate
            and step.p99_ms <= slo_p99_ms * (1 + policy.retry_margin))


def next_rate(outcomes: Sequence[tuple[float, bool]], max_rate: float, policy: StepPolicy
              ) -> tuple[float | None, StopReason | None]:
    """The next rate to try, or None and why the search is over.

    ``outcomes`` are ``(rate, passed)`` so far. A failure below a pass is noise the search
    does not revisit: capacity is the highest rate that passed.
    """
    low, high = bracket(outcomes)
    if low is None:
        assert high is not None
        lower = high / policy.growth
        return (lower, None) if lower >= policy.min_rate else (None, "min_rate")
    if high is None:
        return (min(low * policy.growth, max_rate), None) if low < max_rate else (None,
                                                                                  "max_rate")
    if high - low <= policy.resolution * low:
        return None, "resolution"
    return (low + high) / 2, None


def bracket(outcomes: Iterable[tuple[float, bool]]) -> tuple[float | None, float | None]:
    """(highest passing rate, lowest failing rate above it); either may be None.

    A rate that both failed and passed (a retried step) counts as passed."""
    pairs = list(outcomes)
    low = max((rate for rate, passed in pairs if passed), default=None)
    high = min((rate for rate, passed in pairs if not passed and (low is None or rate > low)),
               default=None)
    return low, high


def measure_step(target: ProbeTarget, mix: RequestMix, rate: float, duration_s: float,
                 slo_p99_ms: float, policy: StepPolicy) -> Step:
    """Run one fixed-rate step against ``target`` and judge it."""
    if target.before_step is not None:
        target.before_step()
    plan = step_plan(mix, rate, duration_s, policy.seed)
    run = run_step(target, plan, replace(target.limits, max_duration_s=duration_s),
                   HoldPolicy(warmup_s=policy.warmup_s))
    step = judge_step(rate, run, slo_p99_ms, policy)
    if not step.passed:
        time.sleep(policy.settle_s)
    return step


def judge_step(rate: float, run: StepRun, slo_p99_ms: float, policy: StepPolicy) -> Step:
    """Pass when the rate was held, errors stayed low and the judged P99 met the SLO."""
    report = run.report
    judged = [e for e in report.endpoints if policy.endpoint in (None, e.endpoint)]
    requests = sum(e.requests for e in report.endpoints)
    errors = sum(sum(e.errors.values()) for e in report.endpoints)
    error_rate = errors / requests if requests else 0.0
    p99_ms = max((e.latency.p99 * 1000 for e in judged), default=math.nan)
    held = bool(report.endpoints) and report.held_target_rate
    failure = None
    if not judged or math.isnan(p99_ms):
        failure = f"no successful answers of {policy.endpoint or 'any endpoint type'}"
    elif not held:
        failure = "the engine did not hold the rate"
    elif error_rate > policy.max_error_rate:
        failure = f"error rate {error_rate:.2%} > {policy.max_error_rate:.2%}"
    elif p99_ms > slo_p99_ms:
        failure = f"p99 {p99_ms:.1f} ms > SLO {slo_p99_ms:g} ms"
    samples = sum(e.samples for e in judged)
    return Step(rate, p99_ms, error_rate, held, samples, run, failure)


def step_plan(mix: RequestMix, rate: float, duration_s: float, seed: int) -> Iterator[Planned]:
    """A fixed-rate plan: a weighted mix sampled by weight, a recorded trace in its order."""
    offsets = schedule.fixed_rate(rate, duration_s)
    return trace_plan(mix, offsets) if mix.is_replay else mix.plan(offsets, seed)


def trace_plan(mix: RequestMix, offsets: Iterable[float]) -> Iterator[Planned]:
    """The trace's requests in timestamp order at ``offsets``, passing over it again as needed.

    The recorded spacing is replaced by the step's rate; the order, and so which requests
    repeat an earlier one, is kept. Pass ``n`` (from 1) adds ``?replay=n`` to each path, so no
    request of a later pass repeats one of an earlier pass: every pass holds exactly the
    trace's own share of repeated requests, however long the step (the target must ignore the
    parameter; MLflow's scoring server does).
    """
    ordered = sorted(mix.requests, key=lambda r: r.timestamp or 0.0)
    for number, offset in enumerate(offsets):
        replay, index = divmod(number, len(ordered))
        yield Planned(offset, replay_tagged(ordered[index], replay))


def replay_tagged(request: MixRequest, replay: int) -> MixRequest:
    """``request`` as sent in pass ``replay`` of a trace (pass 0 unchanged)."""
    if replay == 0:
        return request
    joiner = "&" if "?" in request.path else "?"
    return replace(request, path=f"{request.path}{joiner}{REPLAY_PARAM}={replay}")


def repeated_share(requests: Sequence[MixRequest]) -> float:
    """The share of ``requests`` identical (method, path, body) to an earlier one: the hit
    ratio of an unbounded cache that starts empty and sees them in this order."""
    seen: set[tuple[str, str, bytes | None]] = set()
    repeats = 0
    for r in requests:
        key = (r.method, r.path, r.body)
        repeats += key in seen
        seen.add(key)
    return repeats / len(requests) if requests else 0.0


def run_step(target: ProbeTarget, plan: Iterable[Planned], limits: Limits,
             policy: HoldPolicy) -> StepRun:
    """Send ``plan`` with the open-model engine (plus the target's headers and tally)."""
    tally: Counter[str] = Counter()
    name = target.tally_header

    def count(headers: Mapping[str, str]) -> None:
        tally[headers.get(name or "", "")] += 1

    record = run_plan(target.url, plan, limits, target.headers,
                      count if name is not None else None)
    return StepRun(build_report(record, policy), mean_ok_bytes(record, policy.warmup_s),
                   dict(tally), build_timeline(record.samples, policy.warmup_s))


def mean_ok_bytes(record: RunRecord, warmup_s: float) -> float:
    sizes = [s.response_bytes for s in record.samples
             if s.intended_s >= warmup_s and s.status is StatusClass.OK]
    return sum(sizes) / len(sizes) if sizes else 0.0
