"""The serving SLA, declared once in a playbook: per endpoint type, the P95/P99 limits and the
rate they must hold at, and the bounds of a capacity search.

Declared at the top level (``sla:``) and, where a milestone needs something else, on the
milestone: the milestone's endpoints replace the top level's of the same name, and its
``capacity`` replaces the top level's. ``latency`` checks name an endpoint with ``sla: NAME``
and ``gatekeeper probe --playbook P [--milestone M]`` takes its rate, SLO and search bounds
from the same place.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, model_validator

from gatekeeper.load.strict import Strict

#: Endpoint types become part of metric names (``latency.<endpoint>.p99_ms``).
EndpointName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$")]


def _limit(what: str) -> Any:
    return Field(default=None, gt=0, description=what)


class EndpointSla(Strict):
    """What one endpoint type must do: its latency limits, at a rate."""

    p95_ms: float | None = _limit("P95 latency limit, ms.")
    p99_ms: float | None = _limit("P99 latency limit, ms (also the SLO of a capacity search).")
    at_rps: float = Field(gt=0, description="The rate, requests/s, the limits must hold at.")

    @model_validator(mode="after")
    def _check_limits(self) -> Self:
        if self.p95_ms is None and self.p99_ms is None:
            raise ValueError("set at least one of 'p95_ms' or 'p99_ms'")
        return self


class CapacitySla(Strict):
    """Bounds of ``gatekeeper probe --find-capacity`` (and ``--cache-proof``)."""

    from_rps: float | None = Field(default=None, gt=0, description="First step's rate, "
                                   "requests/s. Left out: the endpoints' at_rps.")
    max_rps: float | None = Field(default=None, gt=0, description="Never step above this.")
    max_steps: int | None = Field(default=None, ge=1, description="At most this many steps.")

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if (self.from_rps is not None and self.max_rps is not None
                and self.max_rps < self.from_rps):
            raise ValueError("'max_rps' must be at least 'from_rps'")
        return self


class Sla(Strict):
    endpoints: dict[EndpointName, EndpointSla] = Field(
        min_length=1, description="Per endpoint type, e.g. predict: {p99_ms: 80, at_rps: 200}.")
    capacity: CapacitySla | None = Field(default=None, description="Capacity search bounds.")


def merged(top: Sla | None, milestone: Sla | None) -> Sla | None:
    """The SLA a milestone holds: its own endpoints and capacity over the top level's."""
    if top is None or milestone is None:
        return milestone or top
    return Sla(endpoints={**top.endpoints, **milestone.endpoints},
               capacity=milestone.capacity or top.capacity)
