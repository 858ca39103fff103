"""Data-governance facts through the real CLI on a real SQLite registry: a policy's allowed
values reach the check, a value outside them blocks, `validate` refuses a bad policy section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.cli import run
from tests.support.registry import seed_version

PLAYBOOK = """\
model: governed
owners: {product: p@example.com, platform: o@example.com, data_science: d@example.com}
milestones:
  - id: poc
    title: POC
    stage: poc
    alias: poc-ok
    checks:
      - id: data
        kind: required_evidence
        category: governance
        owner: data_science
        data_governance: {classification: true, retention: true, privacy_review: true}
  - {id: serve, title: Serve, stage: serve, alias: serve-ok, checks: [
      {id: acc, kind: metric_threshold, category: quality, owner: ds, key: acc, min: 0.1}]}
  - {id: pilot, title: Pilot, stage: pilot, alias: champion, checks: [
      {id: acc, kind: metric_threshold, category: quality, owner: ds, key: acc, min: 0.1}]}
"""
POLICY = """\
id: org
data_governance:
  classifications: [public, internal]
  max_retention: 365d
  privacy_review_pattern: 'DPIA-[0-9]{4}-[0-9]+'
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "policies").mkdir()
    playbook = tmp_path / "playbooks" / "governed.yaml"
    playbook.write_text(PLAYBOOK)
    (tmp_path / "policies" / "org.yaml").write_text(POLICY)
    return playbook, tmp_path / "policies"


def gate(uri: str, playbook: Path, policies: Path, version: str, tmp_path: Path) -> int:
    return run(["check", str(playbook), "--model", "governed", "--version", version,
                "--milestone", "poc", "--tracking-uri", uri, "--policies", str(policies),
                "--audit-log", str(tmp_path / "audit.jsonl"), "-o", "json"])


def test_allowed_values_pass_and_others_block(tracking_uri: str, files: tuple[Path, Path],
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    playbook, policies = files
    good = seed_version(tracking_uri, "governed", metrics={"acc": 1.0}, log_model=False,
                        version_tags={"data.classification": "internal",
                                      "data.retention": "90d",
                                      "privacy.dpia_ref": "DPIA-2026-12"})
    bad = seed_version(tracking_uri, "governed", metrics={"acc": 1.0}, log_model=False,
                       run_tags={"data.classification": "restricted",
                                 "data.retention": "3650d", "privacy.dpia_ref": "DPIA-2026-12"})
    assert gate(tracking_uri, playbook, policies, good, tmp_path) == 0
    capsys.readouterr()
    assert gate(tracking_uri, playbook, policies, bad, tmp_path) == 1
    [check] = json.loads(capsys.readouterr().out)["checks"]
    assert check["status"] == "fail"
    assert check["observed"]["not_allowed"] == [
        "data classification 'restricted' is not one of public, internal",
        "retention 3650d is longer than the 365d allowed"]


def test_validate_refuses_a_bad_policy_section(files: tuple[Path, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    playbook, policies = files
    (policies / "org.yaml").write_text(POLICY.replace("365d", "one year"))
    assert run(["validate", str(playbook.parent), str(policies)]) == 2
    err = capsys.readouterr().err
    assert "org.yaml:4" in err and "data_governance.max_retention" in err
    assert "Traceback" not in err
