"""The pure scaffold behind `gatekeeper init`: from hand-made evidence to YAML text that the
real loader accepts, whatever the logged names look like."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.evidence.interface import VersionEvidence
from gatekeeper.load.playbook import load_playbook
from gatekeeper.load.scaffold import (
    endpoints,
    quality_metrics,
    round_down,
    round_up,
    scaffold_playbook,
    scalar,
    unique_id,
)
from gatekeeper.load.yamlsrc import read_document


def version(**kw: object) -> VersionEvidence:
    fields: dict[str, object] = {"name": "fraud", "version": "3", "run_id": "r1",
                                 "source": "models:/m-1", "tracking_uri": "sqlite:///x.db", **kw}
    return VersionEvidence(**fields)  # type: ignore[arg-type]


def load(tmp_path: Path, text: str) -> list[tuple[str, list[str]]]:
    path = tmp_path / "pb.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_playbook(path)
    return [(m.id, [c.id for c in m.checks]) for m in loaded.playbook.milestones]


@pytest.mark.parametrize("text", ["accuracy", "val/acc", "yes", "on", "null", "12", "a: b",
                                  "# x", "- y", "'q'", 'say "hi"', "tab\there", "émoji ✓", ""])
def test_scalar_reads_back_as_the_same_string(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"key: {scalar(text)}\n", encoding="utf-8")
    doc, problems = read_document(path)
    assert problems == []
    assert doc is not None and doc.data == {"key": text}


def test_odd_metric_names_still_make_a_valid_playbook(tmp_path: Path) -> None:
    evidence = version(metrics={"val: accuracy": 0.91, "Test F1 #2": 0.8, "yes_loss": 1.5,
                                "latency.pilot.predict.p99_ms": 120.0,
                                "pilot.error_rate": 0.002},
                       run_tags={"owner": "team: fraud"})
    assert load(tmp_path, scaffold_playbook(evidence, champion=None)) == [
        ("poc", ["test-f1-2-floor", "val-accuracy-floor", "yes_loss-cap",
                 "governance-evidence"]),
        ("serve", ["latency-predict"]),
        ("pilot", ["latency-pilot.predict", "pilot-error-rate", "pilot-approval"]),
    ]


def test_probe_latencies_are_used_when_the_run_has_none(tmp_path: Path) -> None:
    evidence = version(metrics={"auc": 0.8}, probe_run_id="p1",
                       probe_metrics={"latency.batch.p95_ms": 300.0})
    text = scaffold_playbook(evidence, champion=None)
    assert ("        endpoint: batch\n        p95_ms: 375\n        source: probe\n" in text)
    assert load(tmp_path, text)[1] == ("serve", ["latency-batch"])


def test_a_champion_adds_the_baseline_and_a_comparison(tmp_path: Path) -> None:
    champion = version(version="2", metrics={"rmse": 4.0})
    text = scaffold_playbook(version(metrics={"rmse": 3.5}), champion)
    assert "baseline: champion\n" in text
    assert "        metric: rmse\n        greater_is_better: false\n" in text
    assert load(tmp_path, text)[0] == ("poc", ["rmse-cap", "rmse-vs-champion",
                                               "governance-evidence"])


def test_helpers() -> None:
    assert quality_metrics({"accuracy": 0.9, "train_loss": 0.1, "latency.x.p95_ms": 3.0,
                            "epochs": 3.0}) == {"accuracy": (0.9, True),
                                                "train_loss": (0.1, False)}
    assert endpoints({"latency.predict.p95_ms": 1.0, "latency.predict.p99_ms": 2.0,
                      "latency.predict.samples": 9.0}) == {"predict": {"95": 1.0, "99": 2.0}}
    ids: set[str] = set()
    assert [unique_id(t, ids) for t in ("Acc", "acc", "__x", "!!")] == [
        "acc", "acc-2", "x", "check"]
    assert (round_down(0.95), round_down(0.931), round_up(0.0123401), round_up(88.75)) == (
        0.95, 0.931, 0.0124, 88.8)
