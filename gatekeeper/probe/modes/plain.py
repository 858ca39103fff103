"""A plain run: the plan on one engine of ``ENGINES`` (the built-in one, or Locust)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gatekeeper.probe.engines import ENGINES
from gatekeeper.probe.modes.interface import Measured, Sending
from gatekeeper.probe.progress import Progress
from gatekeeper.probe.report import HoldPolicy


@dataclass(frozen=True)
class PlainRun:
    """Send the schedule's plan once on ``engine`` (a name of ``ENGINES``)."""

    mode: ClassVar[str] = "run"
    sends: ClassVar[bool] = True
    sending: Sending
    engine: str = "builtin"
    workers: int = 1  # engine processes (Locust's workers)

    def describe(self) -> str:
        engine = "" if self.engine == "builtin" else f" on {self.engine} ({self.workers} workers)"
        return self.sending.schedule.describe() + engine


def measure_run(request: PlainRun, url: str, progress: Progress) -> Measured:
    """The plan on the request's engine."""
    s = request.sending
    report = ENGINES[request.engine](url, s.schedule.plan(s.mix, s.seed), s.limits,
                                     HoldPolicy(warmup_s=s.warmup_s), workers=request.workers,
                                     progress=progress)
    return Measured(report, report.timeline, report.response_bytes)
