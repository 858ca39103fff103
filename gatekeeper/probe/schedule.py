"""Arrival schedules for open-model load: intended send offsets, in seconds from the start.

Every function yields offsets in ascending order, lazily, so a long run never materialises its
whole schedule. None of them looks at responses: that is what makes the load open-model.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from gatekeeper.probe.requests_mix import Planned, RequestMix

ScheduleKind = Literal["fixed", "poisson", "ramp", "steps", "replay"]


def fixed_rate(rate: float, duration_s: float) -> Iterator[float]:
    """Evenly spaced arrivals at ``rate`` per second over ``[0, duration_s)``."""
    check_positive(rate=rate, duration_s=duration_s)
    count = math.ceil(rate * duration_s)
    for i in range(count):
        yield i / rate


def poisson(rate: float, duration_s: float, seed: int) -> Iterator[float]:
    """Poisson arrivals (exponential gaps) averaging ``rate`` per second; same seed, same run."""
    check_positive(rate=rate, duration_s=duration_s)
    rng = random.Random(seed)
    offset = rng.expovariate(rate)
    while offset < duration_s:
        yield offset
        offset += rng.expovariate(rate)


def ramp(start_rate: float, end_rate: float, duration_s: float) -> Iterator[float]:
    """Arrivals whose rate grows (or falls) linearly from ``start_rate`` to ``end_rate``.

    The k-th arrival is where the integrated rate reaches k, so the count over the run equals
    the area under the rate line: ``(start_rate + end_rate) / 2 * duration_s``.
    """
    check_positive(duration_s=duration_s)
    if start_rate < 0 or end_rate < 0 or start_rate + end_rate == 0:
        raise ValueError("ramp rates must be >= 0 and not both 0")
    slope = (end_rate - start_rate) / duration_s
    k = 0
    while (offset := ramp_offset(start_rate, slope, k)) < duration_s:
        yield offset
        k += 1


def ramp_offset(start_rate: float, slope: float, k: int) -> float:
    """The time at which ``start_rate*t + slope*t**2/2`` reaches ``k``."""
    if k == 0:
        return 0.0
    if slope == 0:
        return k / start_rate
    # The numerically stable root of the quadratic: no cancellation when slope is tiny.
    return 2 * k / (start_rate + math.sqrt(start_rate * start_rate + 2 * slope * k))


def steps(phases: Sequence[tuple[float, float]]) -> Iterator[float]:
    """Back-to-back phases of ``(duration_s, rate)`` at fixed rate; a short fast phase is a burst.

    A phase with rate 0 is a pause.
    """
    phase_start = 0.0
    for duration_s, rate in phases:
        check_positive(duration_s=duration_s)
        if rate < 0:
            raise ValueError(f"phase rate must be >= 0, got {rate}")
        if rate > 0:
            yield from (phase_start + offset for offset in fixed_rate(rate, duration_s))
        phase_start += duration_s


def replay(arrival_times: Iterable[float]) -> Iterator[float]:
    """Recorded arrival times (any epoch, any order), shifted so the first one is at 0."""
    ordered = sorted(arrival_times)
    if not ordered:
        return
    first = ordered[0]
    yield from (t - first for t in ordered)


def recorded_rate(arrival_times: Sequence[float]) -> float | None:
    """A trace's mean rate: one over its mean gap, ``(n - 1) / (last - first)``; None when
    there is no gap to measure (fewer than two arrivals, or all at one instant)."""
    if len(arrival_times) < 2:
        return None
    span = max(arrival_times) - min(arrival_times)
    return (len(arrival_times) - 1) / span if span > 0 else None


def time_scaled(planned: Iterable[Planned], rate: float) -> Iterator[Planned]:
    """A replay plan stretched or squeezed in time so its mean rate is ``rate``.

    Every offset is multiplied by one factor (recorded rate / ``rate``): the order of the
    requests and the shape of the gaps (bursts, pauses, their ratios) are kept; only the
    clock runs faster or slower."""
    check_positive(rate=rate)
    ordered = list(planned)
    recorded = recorded_rate([p.offset_s for p in ordered])
    if recorded is None:
        raise ValueError("a trace whose arrivals share one instant has no rate to scale")
    factor = recorded / rate
    yield from (Planned(p.offset_s * factor, p.request) for p in ordered)


def check_positive(**values: float) -> None:
    """Raise ValueError naming the first value that is not a positive finite number."""
    for name, value in values.items():
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a positive number, got {value}")


@dataclass(frozen=True)
class ScheduleSpec:
    """When requests are meant to be sent. ``phases`` are ``(duration_s, rate)`` for steps;
    a replay's ``rate``, when given, time-scales the trace to that mean rate."""

    kind: ScheduleKind
    duration_s: float
    rate: float | None = None
    rate_to: float | None = None
    phases: tuple[tuple[float, float], ...] = ()

    def plan(self, mix: RequestMix, seed: int) -> Iterator[Planned]:
        """The requests of the run paired with their intended send offsets."""
        if self.kind == "replay":
            plan = mix.replay_plan()
            return plan if self.rate is None else time_scaled(plan, self.rate)
        return mix.plan(self.offsets(seed), seed)

    def offsets(self, seed: int) -> Iterator[float]:
        rate = self.rate or 0.0
        match self.kind:
            case "fixed":
                return fixed_rate(rate, self.duration_s)
            case "poisson":
                return poisson(rate, self.duration_s, seed)
            case "ramp":
                return ramp(rate, self.rate_to or 0.0, self.duration_s)
            case "steps":
                return steps(self.phases)
            case "replay":
                raise ValueError("replay takes its offsets from the mix")

    def describe(self) -> str:
        """``fixed 200/s for 10 s``, ``ramp 100/s to 800/s for 30 s``, ..."""
        span = f"for {self.duration_s:g} s"
        match self.kind:
            case "ramp":
                return f"ramp {self.rate:g}/s to {self.rate_to:g}/s {span}"
            case "steps":
                return "steps " + ", ".join(f"{d:g} s at {r:g}/s" for d, r in self.phases)
            case "replay" if self.rate is not None:
                return f"replay of recorded arrivals time-scaled to {self.rate:g}/s ({span})"
            case "replay":
                return f"replay of recorded arrivals ({span})"
            case _:
                return f"{self.kind} {self.rate:g}/s {span}"
