"""What the probe's pictures and page measure against: latency SLOs per endpoint type, the cost
budget, and the verdict. Plain frozen data, built by whoever knows them (``--slo-p95-ms`` and
``--slo-p99-ms``, a playbook's SLA, a gate's result) and handed to the renderers.

Nothing here decides a gate: :func:`slo_verdict` only says whether the measured percentiles
meet the objectives given, for the picture, when no verdict was handed over.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from gatekeeper.decide.remedy import plain_number
from gatekeeper.probe.report import EndpointReport, ProbeReport, format_ms

#: The key of ``Objectives.slos`` that applies to every endpoint type without its own.
EVERY_ENDPOINT = "*"


@dataclass(frozen=True)
class Slo:
    """Latency objectives of one endpoint type, in ms, and the rate they must hold at."""

    p95_ms: float | None = None
    p99_ms: float | None = None
    at_rps: float | None = None

    def limits(self) -> dict[str, float]:
        """``{"p95": 40.0, "p99": 80.0}``: the percentiles that have an objective."""
        pairs = {"p95": self.p95_ms, "p99": self.p99_ms}
        return {name: value for name, value in pairs.items() if value is not None}


@dataclass(frozen=True)
class Budget:
    """The cost budget per 1,000 requests and, when known, the cost it was judged against."""

    per_1k: float
    cost_per_1k: float | None = None
    currency: str = ""

    @property
    def within(self) -> bool | None:
        """Whether the cost is within budget; None when the cost is not known."""
        return None if self.cost_per_1k is None else self.cost_per_1k <= self.per_1k

    def text(self) -> str:
        """``cost per 1,000: 0.000098 USD, budget 0.002 USD (within)``."""
        unit = f" {self.currency}" if self.currency else ""
        budget = f"budget {plain_number(self.per_1k)}{unit}"
        if self.cost_per_1k is None:
            return f"cost per 1,000: not measured, {budget}"
        word = "within" if self.within else "OVER budget"
        return f"cost per 1,000: {plain_number(self.cost_per_1k)}{unit}, {budget} ({word})"


@dataclass(frozen=True)
class Verdict:
    """Pass or fail, and the words to show (``serve gate: PASSED``)."""

    passed: bool
    text: str


@dataclass(frozen=True)
class Objectives:
    """SLOs by endpoint type (:data:`EVERY_ENDPOINT` for all), the budget, the verdict."""

    slos: Mapping[str, Slo] = field(default_factory=dict)
    budget: Budget | None = None
    verdict: Verdict | None = None

    def slo(self, endpoint: str) -> Slo | None:
        """The objectives of ``endpoint``: its own, else those of every endpoint type."""
        return self.slos.get(endpoint, self.slos.get(EVERY_ENDPOINT))

    @property
    def empty(self) -> bool:
        return not self.slos and self.budget is None and self.verdict is None


NONE = Objectives()


def slo_objectives(p95_ms: float | None = None, p99_ms: float | None = None,
                   at_rps: float | None = None, endpoint: str = EVERY_ENDPOINT,
                   budget: Budget | None = None, verdict: Verdict | None = None
                   ) -> Objectives:
    """Objectives from plain values (probe flags, one SLA entry); none given: :data:`NONE`."""
    slo = Slo(p95_ms, p99_ms, at_rps)
    slos = {endpoint: slo} if slo != Slo() else {}
    return Objectives(slos, budget, verdict)


@dataclass(frozen=True)
class Reading:
    """One objective of one endpoint type beside what was measured."""

    endpoint: str
    objective: str  # "p99 <= 80 ms", "rate >= 200/s", "cost per 1,000 <= 0.002 USD"
    measured: str
    met: bool


def readings(report: ProbeReport, objectives: Objectives) -> list[Reading]:
    """Every objective of every measured endpoint type, then the budget, judged."""
    found = [reading for e in report.endpoints
             for reading in endpoint_readings(e, objectives.slo(e.endpoint))]
    budget = objectives.budget
    if budget is not None and budget.cost_per_1k is not None:
        unit = f" {budget.currency}" if budget.currency else ""
        found.append(Reading("all", f"cost per 1,000 <= {plain_number(budget.per_1k)}{unit}",
                             f"{plain_number(budget.cost_per_1k)}{unit}", bool(budget.within)))
    return found


def endpoint_readings(e: EndpointReport, slo: Slo | None) -> list[Reading]:
    if slo is None:
        return []
    found = []
    for name, limit in slo.limits().items():
        value = getattr(e.latency, name) * 1000
        met = math.isfinite(value) and value <= limit
        found.append(Reading(e.endpoint, f"{name} <= {plain_number(limit)} ms",
                             f"{format_ms(value)} ms", met))
    if slo.at_rps is not None:
        # Held at (at least) the SLO's rate: a run at a lower rate proves nothing about it.
        met = e.held_target_rate and e.target_rps >= slo.at_rps
        found.append(Reading(e.endpoint, f"held at >= {slo.at_rps:g}/s",
                             f"{e.achieved_rps:,.1f}/s of {e.target_rps:,.1f}/s"
                             + ("" if e.held_target_rate else " (NOT held)"), met))
    return found


def slo_verdict(report: ProbeReport, objectives: Objectives) -> Verdict | None:
    """The verdict handed over, else whether every objective was met; None with none."""
    if objectives.verdict is not None:
        return objectives.verdict
    found = readings(report, objectives)
    if not found:
        return None
    missed = [r for r in found if not r.met]
    if not missed:
        return Verdict(True, "objectives met")
    worst = missed[0]
    more = f" (+{len(missed) - 1} more)" if len(missed) > 1 else ""
    return Verdict(False, f"objectives NOT met: {worst.endpoint} {worst.objective}, "
                          f"measured {worst.measured}{more}")
