"""The built-in engine behind the engine interface: asyncio open-model sending, corrected for
coordinated omission (``gatekeeper.probe.engine``), summarised by ``build_report``, with the
per-second timeline and live progress that only per-request samples give."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

from gatekeeper.errors import InvalidInputError
from gatekeeper.probe.engine import Engine, Limits, RunRecord, StatusClass, run_engine_loop
from gatekeeper.probe.progress import Progress, Watch
from gatekeeper.probe.report import EngineReport, HoldPolicy, build_report
from gatekeeper.probe.requests_mix import Planned
from gatekeeper.probe.timeline import build_timeline


def run_builtin(url: str, plan: Iterable[Planned], limits: Limits, policy: HoldPolicy, *,
                workers: int = 1, progress: Progress | None = None) -> EngineReport:
    """Send the plan from this process and report on it; it has no workers to spread over.

    ``progress`` is told how far the run got while it runs."""
    if workers != 1:
        raise InvalidInputError("workers apply to --engine locust only; the built-in engine "
                                "runs in one process")
    record = drive(url, plan, limits, progress)
    report = build_report(record, policy)
    return EngineReport(report.url, report.endpoints, report.percentile_method,
                        build_timeline(record.samples, policy.warmup_s),
                        mean_response_bytes(record, policy.warmup_s))


def drive(url: str, plan: Iterable[Planned], limits: Limits, progress: Progress | None
          ) -> RunRecord:
    """Send the plan with the engine while ``progress`` (if any) shows how far it got."""
    engine = Engine(url.rstrip("/"), limits)
    if progress is None:
        planned = run_engine_loop(engine.run(plan), limits.connections)
        return RunRecord(engine.url, tuple(engine.samples), planned)
    watch = Watch(progress, limits.max_duration_s)
    planned = run_engine_loop(send_watched(engine, watch.count(plan), watch),
                              limits.connections)
    watch.finish(engine.samples)
    return RunRecord(engine.url, tuple(engine.samples), planned)


async def send_watched(engine: Engine, plan: Iterator[Planned], watch: Watch) -> int:
    ticker = asyncio.create_task(watch.tick(engine.samples))
    try:
        return await engine.run(plan)
    finally:
        ticker.cancel()


def mean_response_bytes(record: RunRecord, warmup_s: float) -> float:
    """Mean body size of the measured ``ok`` answers (0 when there were none)."""
    sizes = [s.response_bytes for s in record.samples
             if s.intended_s >= warmup_s and s.status is StatusClass.OK]
    return sum(sizes) / len(sizes) if sizes else 0.0
