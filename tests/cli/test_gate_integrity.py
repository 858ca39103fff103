"""The gate cannot be walked around: policies apply at check and promote, a pass counts only
under the same definition of its milestone, and promote takes the latest decision."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from tests.cli.test_check import GOOD, PLAYBOOK, seed

POLICY = "id: org\nstages:\n  poc:\n    require_categories: [quality, security]\n"


def gate(uri: str, playbook: Path, milestone: str, *args: str) -> int:
    return run(["check", str(playbook), "--model", "fraud", "--version", "1", "--milestone",
                milestone, "--tracking-uri", uri, "--audit-log", "audit.jsonl", *args])


def promote(uri: str, playbook: Path, milestone: str, *args: str) -> int:
    return run(["promote", str(playbook), "--model", "fraud", "--version", "1", "--milestone",
                milestone, "--tracking-uri", uri, "--audit-log", "audit.jsonl", *args])


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path("audit.jsonl").read_text().splitlines()]


@pytest.fixture
def playbook() -> Path:
    """A copy of the fraud playbook in the test's own working folder."""
    copy = Path("fraud.yaml")
    copy.write_text(PLAYBOOK.read_text())
    return copy


def test_a_playbook_that_breaks_a_policy_is_refused_at_check(
        tracking_uri: str, playbook: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri)
    Path("policies").mkdir()
    Path("policies/org.yaml").write_text(POLICY)
    assert gate(tracking_uri, playbook, "poc", "--promote") == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "fraud.yaml:5:5: milestones[0]: policy org (policies/org.yaml:4): milestone 'poc' "
        "needs a blocking security check")
    assert not Path("audit.jsonl").exists()  # nothing evaluated, nothing recorded
    assert mlflow_client(tracking_uri).get_registered_model("fraud").aliases == {}
    assert promote(tracking_uri, playbook, "poc") == 2


def test_policies_from_the_flag_and_the_environment(
        tracking_uri: str, playbook: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seed(tracking_uri)
    elsewhere = tmp_path / "org-policies"
    elsewhere.mkdir()
    (elsewhere / "org.yaml").write_text(POLICY)
    assert gate(tracking_uri, playbook, "poc") == 0  # no policies/ here: none apply
    assert gate(tracking_uri, playbook, "poc", "--policies", str(elsewhere)) == 2
    monkeypatch.setenv("GATEKEEPER_POLICIES", str(elsewhere / "org.yaml"))
    assert gate(tracking_uri, playbook, "poc") == 2
    assert gate(tracking_uri, playbook, "poc", "--policies", "no/such") == 2


def test_policy_digests_go_into_the_result_and_the_audit_record(
        tracking_uri: str, playbook: Path) -> None:
    seed(tracking_uri)
    Path("policies").mkdir()
    Path("policies/org.yaml").write_text(POLICY.replace(", security", ""))
    assert gate(tracking_uri, playbook, "poc", "-o", "json=result.json") == 0
    result = json.loads(Path("result.json").read_text())
    assert [(p["id"], p["path"]) for p in result["policies"]] == [("org", "policies/org.yaml")]
    assert result["policies"][0]["digest"].startswith("sha256:")
    assert records()[0]["policies"] == result["policies"]
    assert records()[0]["playbook"]["milestone_digest"] == result["playbook"]["milestone_digest"]


def test_a_comment_elsewhere_keeps_a_pass_a_looser_copy_never_counts(
        tracking_uri: str, playbook: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri)
    assert gate(tracking_uri, playbook, "poc") == 0
    edited = playbook.read_text().replace("milestones:", "# reviewed\nmilestones:")
    playbook.write_text(edited.replace("p99_ms: 100}", "p99_ms: 90}"))
    capsys.readouterr()
    assert gate(tracking_uri, playbook, "serve") == 0  # poc's definition did not change

    looser = Path("looser.yaml")
    looser.write_text(PLAYBOOK.read_text().replace("min: 0.8,", "min: 0.5,"))
    capsys.readouterr()
    assert gate(tracking_uri, looser, "serve") == 1
    out = capsys.readouterr().out
    assert "'poc' passed (record 1) under milestone digest sha256:" in out
    assert promote(tracking_uri, looser, "poc") == 1
    refusal = capsys.readouterr().out
    assert refusal.startswith("refused: the recorded pass (record ")
    assert "is for milestone digest sha256:" in refusal
    assert "run `gatekeeper check` again" in refusal


def test_a_newer_block_overrides_an_older_pass(tracking_uri: str, playbook: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri)
    assert gate(tracking_uri, playbook, "poc") == 0
    client = mlflow_client(tracking_uri)
    client.log_metric(client.get_model_version("fraud", "1").run_id, "auc", 0.5)
    assert gate(tracking_uri, playbook, "poc") == 1
    capsys.readouterr()
    assert promote(tracking_uri, playbook, "poc") == 1
    assert capsys.readouterr().out.startswith(
        "refused: the latest decision for milestone 'poc' is block (record 2, ")
    assert client.get_registered_model("fraud").aliases == {}
    assert gate(tracking_uri, playbook, "serve") == 1  # nor does it count as a prerequisite


def test_now_before_the_decision_is_refused_and_now_and_max_age_are_recorded(
        tracking_uri: str, playbook: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri, GOOD)
    assert gate(tracking_uri, playbook, "poc") == 0
    capsys.readouterr()
    assert promote(tracking_uri, playbook, "poc", "--now", "2000-01-01T00:00:00Z") == 1
    assert "--now 2000-01-01T00:00:00+00:00 is earlier than the decision" in (
        capsys.readouterr().out)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert promote(tracking_uri, playbook, "poc", "--now", later, "--max-age", "2h") == 0
    moved = records()[-1]
    assert moved["action"] == "promotion" and moved["max_age_s"] == 7200.0
    assert moved["judged_at"].startswith(later[:16])
    assert mlflow_client(tracking_uri).get_registered_model("fraud").aliases == {"poc-ok": 1}
