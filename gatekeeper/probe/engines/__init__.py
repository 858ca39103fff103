"""Load engines: what sends a probe plan and measures it. One registry line per engine.

Every engine takes the same arguments and returns the same ``ProbeReport``, so whatever
consumes a report (checks, MLflow logging, the audit record) does not depend on the engine. The
report's ``percentile_method`` says how an engine measured (the Locust engine, for one, does not
correct for coordinated omission).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from gatekeeper.probe.engine import Limits
from gatekeeper.probe.engines.builtin import run_builtin
from gatekeeper.probe.engines.locust_engine import run_locust
from gatekeeper.probe.progress import Progress
from gatekeeper.probe.report import EngineReport, HoldPolicy
from gatekeeper.probe.requests_mix import Planned


class RunEngine(Protocol):
    """Send ``plan`` to ``url`` within ``limits``; summarise with ``policy`` (warm-up, hold).

    ``workers``: processes to spread the load over (engines that have them); ``progress``:
    told how far the run got, by engines that can see it."""

    def __call__(self, url: str, plan: Iterable[Planned], limits: Limits, policy: HoldPolicy, *,
                 workers: int = 1, progress: Progress | None = None) -> EngineReport: ...


ENGINES: dict[str, RunEngine] = {
    "builtin": run_builtin,
    "locust": run_locust,
}
