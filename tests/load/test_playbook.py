"""Playbook loading and validation: every problem at once, located, with exact messages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gatekeeper.errors import ValidationError
from gatekeeper.load.playbook import load_playbook
from gatekeeper.load.validate import validate_paths

ASSETS = Path(__file__).parent.parent / "assets"
REPO = Path(__file__).parents[2]
INVALID = sorted((ASSETS / "playbooks" / "invalid").glob("*.yaml")) + sorted(
    (ASSETS / "policies" / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_asset_reports_exact_problems(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(path.parent)
    with pytest.raises(ValidationError) as caught:
        validate_paths([Path(path.name)])
    expected = path.with_suffix(".expected").read_text().rstrip("\n")
    assert str(caught.value) == expected


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = (ASSETS / "playbooks" / "valid-minimal.yaml").read_text()
    broken = (text.replace("min: 0.8", "min: high").replace("max: 100", "max: 100, maxx: 1")
              .replace("alias: champion", "alias: serve-ok"))
    (tmp_path / "pb.yaml").write_text(broken)
    with pytest.raises(ValidationError) as caught:
        validate_paths([tmp_path / "pb.yaml"])
    messages = [p.message for p in caught.value.problems]
    assert messages == [
        "Input should be a valid number, unable to parse string as a number, got 'high'",
        "unknown key 'maxx'; did you mean 'max'?",
        "duplicate alias 'serve-ok' (first at line 14)",
    ]


def test_repository_playbooks_and_policies_are_valid() -> None:
    report = validate_paths([REPO / "playbooks", REPO / "policies"])
    assert (report.playbooks, report.policies) == (1, 1)


def test_load_fills_inherited_baseline_and_records_locations(tmp_path: Path) -> None:
    text = (ASSETS / "playbooks" / "valid-minimal.yaml").read_text().replace(
        "key: accuracy, min: 0.8}",
        "key: accuracy, min: 0.8}\n      - {id: vs, kind: baseline_comparison, category: quality,"
        " owner: ds, metric: accuracy, max_regression: 0.01}")
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    loaded = load_playbook(path)
    check = loaded.playbook.milestones[0].checks[1]
    assert check.kind == "baseline_comparison"
    assert check.baseline == "champion"
    assert loaded.location("poc", "vs") is not None
    assert loaded.location("poc", "vs").line == 11  # type: ignore[union-attr]
    assert loaded.location("serve", "p99").line == 17  # type: ignore[union-attr]
    assert loaded.digest == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_policy_guardrails_are_applied_to_playbooks(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "org.yaml").write_text(
        "id: org\nstages:\n  serve: {require_categories: [latency, cost]}\n"
        "limits: {latency_p99_ms: 50}\n")
    playbook = tmp_path / "pb.yaml"
    playbook.write_text((ASSETS / "playbooks" / "valid-minimal.yaml").read_text().replace(
        "key: p99_ms, max: 100}",
        "key: p99_ms, max: 100}\n      - {id: lat, kind: latency, category: latency, owner: p,"
        " endpoint: predict, p99_ms: 120}"))
    with pytest.raises(ValidationError) as caught:
        validate_paths([playbook, tmp_path / "policies"])
    assert [str(p).replace(str(tmp_path), "T") for p in caught.value.problems] == [
        "T/pb.yaml:11:5: milestones[1]: policy org (T/policies/org.yaml:3): milestone 'serve' "
        "needs a blocking cost check",
        "T/pb.yaml:17:82: milestones[1].checks[1].p99_ms: policy org (T/policies/org.yaml:4): "
        "p99_ms 120 is looser than the limit 50",
    ]


def test_advisory_checks_do_not_satisfy_a_required_category(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "org.yaml").write_text(
        "id: org\nstages:\n  poc: {require_categories: [quality]}\n")
    playbook = tmp_path / "pb.yaml"
    playbook.write_text((ASSETS / "playbooks" / "valid-minimal.yaml").read_text().replace(
        "key: accuracy, min: 0.8}", "key: accuracy, min: 0.8, blocking: false}"))
    with pytest.raises(ValidationError) as caught:
        validate_paths([playbook, tmp_path / "policies"])
    assert [p.message for p in caught.value.problems] == [
        f"policy org ({tmp_path}/policies/org.yaml:3): milestone 'poc' needs a blocking quality "
        "check"]
