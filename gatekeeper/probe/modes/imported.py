"""``--import-k6`` / ``--import-locust``: send nothing, read another tool's results through the
``IMPORTERS`` registry into a report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from gatekeeper.probe.engine import Limits
from gatekeeper.probe.importers import IMPORTERS, ImportKind
from gatekeeper.probe.modes.interface import Measured, Sending
from gatekeeper.probe.progress import Progress
from gatekeeper.probe.requests_mix import RequestMix
from gatekeeper.probe.schedule import ScheduleSpec
from gatekeeper.probe.timeline import no_timeline

WHAT: dict[ImportKind, str] = {"k6": "k6 summary", "locust": "Locust CSV statistics",
                               "aiperf": "AIPerf/GenAI-Perf export", "guidellm": "GuideLLM report",
                               "vllm-bench": "vLLM bench serve result",
                               "inference-perf": "inference-perf report"}


def no_sending(path: Path) -> Sending:
    """An import's settings: the mix source is the file; the rest are the defaults."""
    return Sending(RequestMix(()), str(path), ScheduleSpec("fixed", 0.0), 0.0, Limits(), 0)


@dataclass(frozen=True)
class ImportRun:
    """``--import-k6 FILE`` or ``--import-locust PREFIX``, at a stated ``--target-rps``."""

    mode: ClassVar[str] = "import"
    sends: ClassVar[bool] = False
    engine: ClassVar[str] = "builtin"
    workers: ClassVar[int] = 1
    kind: ImportKind
    path: Path
    target_rps: float | None

    @property
    def sending(self) -> Sending:
        """Nothing is sent: the defaults stand (result.json and MLflow params keep them)."""
        return no_sending(self.path)

    def describe(self) -> str:
        rate = "no target rate" if self.target_rps is None else f"target {self.target_rps:g}/s"
        return f"import of {WHAT[self.kind]} {self.path} ({rate})"


def measure_import(request: ImportRun, url: str, progress: Progress) -> Measured:
    """The file as a report; ``url`` labels the target in it (the URL, else the file)."""
    report = IMPORTERS[request.kind](request.path, target_rps=request.target_rps, url=url)
    from gatekeeper.probe.llm_import.common import llm_metrics

    return Measured(report, no_timeline(0.0), metrics=llm_metrics(report))
