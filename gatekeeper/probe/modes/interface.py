"""What every mode of ``gatekeeper probe`` shares: the :class:`Mode` interface, the
:class:`Measured` result it returns, and the :class:`Sending` settings of the modes that send.

A mode takes its own frozen request type (a plain run, a capacity search, a cache proof, an
import) and returns a ``ProbeReport`` inside :class:`Measured`, so the result files, the
summary and the MLflow metrics are built the same way whatever measured it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from gatekeeper.probe.engine import Limits
from gatekeeper.probe.progress import Progress
from gatekeeper.probe.report import ProbeReport
from gatekeeper.probe.requests_mix import RequestMix
from gatekeeper.probe.schedule import ScheduleSpec
from gatekeeper.probe.timeline import Timeline

R_contra = TypeVar("R_contra", contravariant=True)
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
class Sending:
    """How load is shaped: the mix, the schedule, the warm-up, the bounds and the seed."""

    mix: RequestMix
    mix_source: str  # the mix file, or the --endpoint flags
    schedule: ScheduleSpec
    warmup_s: float
    limits: Limits
    seed: int

    @property
    def rate(self) -> float:
        """The schedule's (start) rate; 0 for schedules without one."""
        return self.schedule.rate or 0.0


class Mode(Protocol[R_contra]):
    """Measure what ``request`` asks for against ``url``; tell ``progress`` as it goes."""

    def __call__(self, request: R_contra, url: str, progress: Progress) -> Measured: ...
