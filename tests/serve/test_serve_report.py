"""The serve gate's pictures (``examples/serve/report.py``): the objectives are the ones the
gate's result judged (latency thresholds by endpoint, the cost check's budget and cost, the
decision), and both pictures are written with them drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from examples.serve.report import gate_objectives, write_pictures
from gatekeeper.probe.capacity import StepRun
from gatekeeper.render.probe import Budget, Slo, Verdict
from gatekeeper.render.probe.plots import SLO_COLOURS
from tests.render.test_probe_objectives import pixels_of, run

ENDPOINTS = {"latency-predict": "predict", "latency-batch": "batch"}


def result(decision: str = "block") -> dict[str, Any]:
    """A gate result as ``gatekeeper check -o json`` writes it (the keys read here)."""
    return {
        "decision": decision, "milestone": {"id": "serve", "title": "Serve"},
        "checks": [
            {"id": "latency-predict", "kind": "latency", "status": "pass", "blocking": True,
             "threshold": {"p95_ms": 40.0, "p99_ms": 80.0, "warn_p99_ms": 60.0}},
            {"id": "latency-batch", "kind": "latency", "status": "fail", "blocking": True,
             "threshold": {"p95_ms": 400.0, "p99_ms": 800.0, "at_rps": 20.0}},
            {"id": "cost-per-1k", "kind": "cost", "status": "pass", "blocking": True,
             "threshold": {"budget_per_1k": 0.002, "price_at": "capacity"},
             "observed": {"total": 0.000098, "currency": "USD", "per_1k": {}}},
            {"id": "probe-errors", "kind": "metric_threshold", "status": "error",
             "blocking": True, "threshold": {"max": 0.01}},
        ]}


def test_objectives_are_what_the_gate_judged() -> None:
    objectives = gate_objectives(result(), ENDPOINTS)
    assert dict(objectives.slos) == {"predict": Slo(40.0, 80.0), "batch": Slo(400.0, 800.0,
                                                                             20.0)}
    assert objectives.budget == Budget(0.002, 0.000098, "USD")
    assert objectives.verdict == Verdict(False, "serve gate blocked: 2 of 4 checks fail or "
                                                "error")
    assert gate_objectives(result("pass"), ENDPOINTS).verdict == Verdict(True,
                                                                         "serve gate passed")


def test_a_cost_check_without_a_measured_cost_keeps_its_budget() -> None:
    errored = result()
    errored["checks"][2] = {"id": "cost-per-1k", "kind": "cost", "status": "error",
                            "threshold": {"budget_per_1k": 0.002}, "observed": None}
    assert gate_objectives(errored, ENDPOINTS).budget == Budget(0.002, None, "")


def test_both_pictures_are_written_with_the_gates_slo_lines(tmp_path: Path) -> None:
    report, timeline = run()  # predict only
    written = write_pictures(tmp_path, StepRun(report, 100.0, {}, timeline),
                             gate_objectives(result(), ENDPOINTS))
    assert written == [tmp_path / "latency.png", tmp_path / "percentiles.png"]
    for path in written:
        png = path.read_bytes()
        assert all(pixels_of(png, colour) > 100 for colour in SLO_COLOURS.values()), path
    without_timeline = write_pictures(tmp_path / "other", StepRun(report, 100.0, {}),
                                      gate_objectives(result(), ENDPOINTS))
    assert without_timeline == [tmp_path / "other" / "latency.png"]
