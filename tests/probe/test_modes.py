"""The mode registry: every mode has a request type and one registry line, a plain run goes
through the engine registry, and imports go through the importer registry."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.probe.engine import Limits
from gatekeeper.probe.importers import IMPORTERS
from gatekeeper.probe.llm.cache_proof import LlmCacheProof
from gatekeeper.probe.llm.capacity import LlmCapacitySearch
from gatekeeper.probe.modes import (
    MODES,
    CacheProof,
    CapacitySearch,
    ImportRun,
    LlmRun,
    PlainRun,
    SearchBounds,
    Sending,
    measure,
)
from gatekeeper.probe.progress import Snapshot
from gatekeeper.probe.report import EngineReport
from gatekeeper.probe.requests_mix import parse_mix
from gatekeeper.probe.schedule import ScheduleSpec
from tests.probe.target import Reply, Target, always
from tests.probe.test_importers import K6

MIX = parse_mix(['{"endpoint": "root", "method": "GET", "path": "/"}'], "mix.jsonl")


class Recorded:
    """A hand-written Progress that keeps what it was told."""

    def __init__(self) -> None:
        self.updates: list[Snapshot] = []
        self.finished: list[Snapshot] = []
        self.steps: list[str] = []

    def update(self, snapshot: Snapshot) -> None:
        self.updates.append(snapshot)

    def finish(self, snapshot: Snapshot) -> None:
        self.finished.append(snapshot)

    def step(self, text: str) -> None:
        self.steps.append(text)


def sending(rate: float = 50, duration_s: float = 1.5) -> Sending:
    return Sending(MIX, "mix.jsonl", ScheduleSpec("fixed", duration_s, rate), 0.5,
                   Limits(max_duration_s=duration_s, timeout_s=2.0, connections=16), 0)


def test_every_request_type_names_a_registry_entry() -> None:
    assert sorted(MODES) == ["cache_proof", "capacity", "import", "llm", "llm_cache_proof",
                             "llm_capacity", "run"]
    types = (PlainRun, CapacitySearch, CacheProof, ImportRun, LlmRun, LlmCacheProof,
             LlmCapacitySearch)
    assert sorted(t.mode for t in types) == sorted(MODES)
    assert [t.sends for t in types] == [True, True, True, False, True, True, True]
    assert sorted(IMPORTERS) == ["aiperf", "guidellm", "inference-perf", "k6", "locust",
                                 "vllm-bench"]


def test_requests_describe_what_is_done() -> None:
    bounds = SearchBounds(50.0)
    assert PlainRun(sending()).describe() == "fixed 50/s for 1.5 s"
    assert PlainRun(sending(), "locust", 2).describe() == (
        "fixed 50/s for 1.5 s on locust (2 workers)")
    assert CapacitySearch(sending(), bounds).describe() == (
        "capacity search from 50/s, steps of 1.5 s, p99 SLO 50 ms")
    assert ImportRun("k6", Path("s.json"), None).describe() == (
        "import of k6 summary s.json (no target rate)")
    assert ImportRun("locust", Path("run"), 20.0).describe() == (
        "import of Locust CSV statistics run (target 20/s)")


def test_a_plain_run_goes_through_the_engine_registry_with_progress() -> None:
    progress = Recorded()
    with Target(always(Reply())) as url:
        measured = measure(PlainRun(sending()), url, progress)
    assert isinstance(measured.report, EngineReport)
    assert [e.endpoint for e in measured.report.endpoints] == ["root"]
    assert measured.timeline.seconds and measured.timeline.warmup_s == 0.5
    assert measured.response_bytes == 2.0  # the target answers "{}"
    assert len(progress.finished) == 1 and progress.finished[0].done == 75


def test_an_import_goes_through_the_importer_registry() -> None:
    measured = measure(ImportRun("k6", K6, 10.0), "http://label", Recorded())
    assert measured.report.url == "http://label"
    assert measured.report.endpoints and not measured.timeline.seconds
