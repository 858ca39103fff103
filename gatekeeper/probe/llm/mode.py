"""The ``llm`` mode of ``gatekeeper probe`` (``--api openai-chat|openai-completions|kserve-v2``):
the plan sent by the built-in engine with every answer read as a stream, the usual E2E report
beside the token metrics (:mod:`.metrics`), and the workload fingerprint in the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from gatekeeper.probe.engine import RunRecord, run_engine_loop
from gatekeeper.probe.engines.builtin import mean_response_bytes, send_watched
from gatekeeper.probe.llm.engine import LlmEngine, LlmSample
from gatekeeper.probe.llm.metrics import (
    Slo,
    endpoint_details,
    fingerprint,
    llm_metrics,
    request_records,
    summarise,
    summary_lines,
)
from gatekeeper.probe.llm.protocols import APIS, ApiName
from gatekeeper.probe.progress import Progress, Watch
from gatekeeper.probe.report import EngineReport, HoldPolicy, build_report
from gatekeeper.probe.timeline import build_timeline

if TYPE_CHECKING:  # gatekeeper.probe.modes imports this module for its registry
    from gatekeeper.probe.modes.interface import Measured, Sending


@dataclass(frozen=True)
class LlmRun:
    """Send the schedule's plan of LLM prompts in ``api``, streamed; judge goodput by ``slo``."""

    mode: ClassVar[str] = "llm"
    sends: ClassVar[bool] = True
    sending: Sending
    api: ApiName
    slo: Slo = field(default_factory=Slo)
    engine: str = "builtin"
    workers: int = 1

    def describe(self) -> str:
        return f"{self.sending.schedule.describe()}, {self.api} streamed"


def measure_llm(request: LlmRun, url: str, progress: Progress) -> Measured:
    """The plan, streamed; the E2E report and the token metrics."""
    return measure_streams(request, url, progress)[0]


def measure_streams(request: LlmRun, url: str, progress: Progress
                    ) -> tuple[Measured, tuple[LlmSample, ...]]:
    """:func:`measure_llm`, and every streamed request (warm-up included) beside it."""
    from gatekeeper.probe.modes.interface import Measured

    s = request.sending
    engine = LlmEngine(url.rstrip("/"), s.limits, api=APIS[request.api])
    watch = Watch(progress, s.limits.max_duration_s)
    planned = run_engine_loop(
        send_watched(engine, watch.count(s.schedule.plan(s.mix, s.seed)), watch),
        s.limits.connections)
    watch.finish(engine.samples)
    record = RunRecord(engine.url, tuple(engine.samples), planned)
    report = build_report(record, HoldPolicy(warmup_s=s.warmup_s))
    timeline = build_timeline(record.samples, s.warmup_s)
    stats = summarise(engine.streams, s.warmup_s, request.slo)
    workload = fingerprint(request.api, s.mix, engine.streams)
    details = {"llm": {"api": request.api, "slo": request.slo.to_dict(),
                       "definitions": "docs/llm.md",
                       "endpoints": [endpoint_details(e) for e in stats],
                       "requests": request_records(engine.streams, s.warmup_s)},
               "workload": workload}
    return Measured(EngineReport(report.url, report.endpoints, report.percentile_method,
                                 timeline, mean_response_bytes(record, s.warmup_s)),
                    timeline, mean_response_bytes(record, s.warmup_s),
                    metrics=llm_metrics(stats), lines=summary_lines(stats, request.slo),
                    details=details), tuple(engine.streams)
