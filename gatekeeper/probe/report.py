"""Per-endpoint results of a probe run: percentiles, throughput vs target, errors by class.

The result owns the verdict: evidence from a run that could not hold its target rate, or that
saw too few samples, is ``error`` — never a pass (``verdict_ok``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.probe.engine import RunRecord, Sample, StatusClass
from gatekeeper.probe.histogram import PERCENTILE_METHOD, Histogram
from gatekeeper.probe.timeline import Timeline, no_timeline

QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p99_9": 0.999}


@dataclass(frozen=True)
class HoldPolicy:
    """When a run counts as having held its target rate.

    Held means: at most ``max_lagging_share`` of the measured requests were sent more than
    ``lag_tolerance_s`` after their intended time, and the achieved send rate is at least
    ``min_rate_ratio`` of the target.
    """

    warmup_s: float = 0.0
    lag_tolerance_s: float = 0.010
    max_lagging_share: float = 0.05
    min_rate_ratio: float = 0.95


@dataclass(frozen=True)
class Percentiles:
    """Latency percentiles in seconds (NaN when there were no samples)."""

    p50: float
    p90: float
    p95: float
    p99: float
    p99_9: float
    max: float

    @classmethod
    def of(cls, histogram: Histogram) -> Percentiles:
        """The percentiles of ``histogram``; see ``PERCENTILE_METHOD``."""
        values = {name: histogram.percentile(q) for name, q in QUANTILES.items()}
        return cls(**values, max=histogram.maximum if histogram.count else float("nan"))

    def to_dict(self) -> dict[str, float]:
        """Milliseconds, keyed ``p50_ms`` ... ``max_ms``."""
        return {f"{name}_ms": value * 1000 for name, value in vars(self).items()}


@dataclass(frozen=True)
class EndpointReport:
    """What one endpoint type saw after the warm-up. Latency covers ``ok`` answers only;
    failures count in ``errors`` instead."""

    endpoint: str
    latency: Percentiles
    service: Percentiles
    latency_histogram: Histogram  # raw buckets, kept so runs can be merged; never mutated
    samples: int
    requests: int
    warmup_excluded: int
    errors: dict[str, int]
    target_rps: float
    achieved_rps: float
    lagging_share: float
    held_target_rate: bool

    @property
    def error_rate(self) -> float:
        """Failed requests over measured requests (0 when there were none)."""
        return sum(self.errors.values()) / self.requests if self.requests else 0.0

    def verdict_ok(self, min_samples: int) -> bool:
        """Whether this evidence may be judged at all: the rate held and enough samples."""
        return self.held_target_rate and self.samples >= min_samples

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; latencies in milliseconds, histogram as raw buckets."""
        return {"endpoint": self.endpoint, "latency": self.latency.to_dict(),
                "service_time": self.service.to_dict(), "samples": self.samples,
                "requests": self.requests, "warmup_excluded": self.warmup_excluded,
                "errors": dict(self.errors), "error_rate": self.error_rate,
                "target_rps": self.target_rps, "achieved_rps": self.achieved_rps,
                "lagging_share": self.lagging_share,
                "held_target_rate": self.held_target_rate,
                "percentile_method": PERCENTILE_METHOD,
                "latency_histogram": self.latency_histogram.to_dict()}


@dataclass(frozen=True)
class ProbeReport:
    """A whole run: one report per endpoint type, in name order."""

    url: str
    endpoints: tuple[EndpointReport, ...]
    percentile_method: str = PERCENTILE_METHOD

    @property
    def held_target_rate(self) -> bool:
        """True only when every endpoint type held its rate."""
        return all(e.held_target_rate for e in self.endpoints)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"url": self.url, "held_target_rate": self.held_target_rate,
                "percentile_method": self.percentile_method,
                "endpoints": [e.to_dict() for e in self.endpoints]}


@dataclass(frozen=True)
class EngineReport(ProbeReport):
    """What an engine returns: the report, plus what only per-request samples give (the
    per-second timeline and the mean body size); engines that keep none leave them empty."""

    timeline: Timeline = field(default_factory=lambda: no_timeline(0.0))
    response_bytes: float = 0.0


@dataclass(frozen=True)
class Window:
    """The measured span of the whole run: intended and actual send times after warm-up."""

    intended_s: float
    sent_s: float

    @classmethod
    def of(cls, measured: Sequence[Sample]) -> Window:
        """Spans of ``measured``; zero when fewer than two requests were measured."""
        if len(measured) < 2:
            return cls(0.0, 0.0)
        intended = [s.intended_s for s in measured]
        sent = [s.sent_s for s in measured]
        return cls(max(intended) - min(intended), max(sent) - min(sent))


def build_report(run: RunRecord, policy: HoldPolicy) -> ProbeReport:
    """Group the run's samples by endpoint type and summarise each after the warm-up."""
    measured = [s for s in run.samples if s.intended_s >= policy.warmup_s]
    window = Window.of(measured)
    names = sorted({s.endpoint for s in run.samples})
    reports = tuple(
        endpoint_report(name, [s for s in run.samples if s.endpoint == name], window, policy)
        for name in names
    )
    return ProbeReport(run.url, reports)


def endpoint_report(name: str, samples: Sequence[Sample], window: Window, policy: HoldPolicy
                    ) -> EndpointReport:
    """The report of one endpoint type from all of its samples (warm-up included)."""
    measured = [s for s in samples if s.intended_s >= policy.warmup_s]
    ok = [s for s in measured if s.status is StatusClass.OK]
    latency = Histogram.of(s.latency_s for s in ok)
    service = Histogram.of(s.service_s for s in ok)
    target = rate(len(measured), window.intended_s)
    achieved = rate(len(measured), window.sent_s)
    lagging = lagging_share(measured, policy.lag_tolerance_s)
    held = (bool(measured) and lagging <= policy.max_lagging_share
            and achieved >= policy.min_rate_ratio * target)
    return EndpointReport(name, Percentiles.of(latency), Percentiles.of(service), latency,
                          len(ok), len(measured), len(samples) - len(measured),
                          count_errors(measured), target, achieved, lagging, held)


def rate(count: int, span_s: float) -> float:
    """Requests per second over a span (0 for an empty span)."""
    return count / span_s if span_s > 0 else 0.0


def lagging_share(samples: Sequence[Sample], tolerance_s: float) -> float:
    """The share of ``samples`` sent more than ``tolerance_s`` late."""
    if not samples:
        return 0.0
    return sum(1 for s in samples if s.lag_s > tolerance_s) / len(samples)


def count_errors(samples: Sequence[Sample]) -> dict[str, int]:
    """Failed requests by class, every class present (zero included) so reports line up."""
    classes = [c for c in StatusClass if c is not StatusClass.OK]
    return {c.value: sum(1 for s in samples if s.status is c) for c in classes}


def format_ms(value: float) -> str:
    """Milliseconds at a precision that reads well from 0.05 ms to minutes."""
    if math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
