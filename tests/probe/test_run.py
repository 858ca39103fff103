"""run_probe: checks first, measures through the modes, and leaves writing to the caller's
sink, called once with the judged outcome (the probe itself writes nothing)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from gatekeeper.probe.modes import PlainRun
from gatekeeper.probe.run import ProbeOutcome, ProbeRequest, TargetUnreachableError, run_probe
from gatekeeper.render.probe import render_files, result_json, summary_lines
from tests.probe.target import Reply, Target, always
from tests.probe.test_modes import Recorded, sending
from tests.support.server import free_port


def test_the_sink_gets_the_judged_outcome_and_nothing_else_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    seen: list[ProbeOutcome] = []

    def sink(outcome: ProbeOutcome) -> tuple[Path, ...]:
        seen.append(outcome)
        return (Path("elsewhere/result.json"),)

    with Target(always(Reply())) as url:
        outcome = run_probe(ProbeRequest(url, PlainRun(sending()), min_samples=10),
                            Recorded(), sink)
    assert seen == [replace(outcome, files=())]
    assert outcome.files == (Path("elsewhere/result.json"),) and outcome.logged is None
    assert os.listdir(tmp_path) == []
    files = render_files(outcome)
    assert list(files) == ["result.json", "latency.png", "percentiles.png", "report.html"]
    assert files["result.json"] == result_json(outcome).encode()
    assert summary_lines(outcome)[-1] == "wrote elsewhere/: result.json"


def test_an_unreachable_target_fails_before_the_sink(tmp_path: Path) -> None:
    def sink(outcome: ProbeOutcome) -> tuple[Path, ...]:
        raise AssertionError("nothing was measured: nothing to write")

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TargetUnreachableError, match="connection refused"):
        run_probe(ProbeRequest(url, PlainRun(sending()), 10), Recorded(), sink)
