"""The built-in engine behind the engine interface: asyncio open-model sending, corrected for
coordinated omission (``gatekeeper.probe.engine``), summarised by ``build_report``."""

from __future__ import annotations

from collections.abc import Iterable

from gatekeeper.errors import InvalidInputError
from gatekeeper.probe.engine import Limits, run_plan
from gatekeeper.probe.report import HoldPolicy, ProbeReport, build_report
from gatekeeper.probe.requests_mix import Planned


def run_builtin(url: str, plan: Iterable[Planned], limits: Limits, policy: HoldPolicy, *,
                workers: int = 1) -> ProbeReport:
    """Send the plan from this process and report on it; it has no workers to spread over."""
    if workers != 1:
        raise InvalidInputError("workers apply to --engine locust only; the built-in engine "
                                "runs in one process")
    return build_report(run_plan(url, plan, limits), policy)
