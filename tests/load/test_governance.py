"""A policy's data_governance section: loaded strictly, written into every required_evidence
check that asks for data-governance facts (the policy's list wins, a playbook only narrows),
and part of the milestone digest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gatekeeper.errors import ValidationError
from gatekeeper.load.governance import DataGovernance, GovernanceRules, held_to
from gatekeeper.load.playbook import load_playbook
from gatekeeper.load.policy import load_policies

PLAYBOOK = Path(__file__).parents[1] / "assets" / "playbooks" / "valid-minimal.yaml"
GOVERNED_CHECK = ("      - {id: data, kind: required_evidence, category: governance, owner: ds,"
                  " data_governance: {classification: true, retention: true, "
                  "privacy_review: true%s}}\n")


def playbook(tmp_path: Path, extra: str = "") -> Path:
    text = PLAYBOOK.read_text()
    marker = "      - {id: acc,"
    path = tmp_path / "p.yaml"
    path.write_text(text.replace(marker, GOVERNED_CHECK % extra + marker, 1))
    return path


def policy(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_the_policy_lists_are_written_into_the_check(tmp_path: Path) -> None:
    folder = policy(tmp_path, "org.yaml", "id: org\ndata_governance:\n"
                    "  classifications: [public, internal, confidential]\n"
                    "  max_retention: 365d\n  privacy_review_pattern: 'DPIA-[0-9]+'\n")
    policy(tmp_path, "eu.yaml", "id: eu\ndata_governance:\n  max_retention: 180d\n"
           "  privacy_review_pattern: '[A-Z-]+2026.*'\n")
    path = playbook(tmp_path, ", classifications: [internal, restricted]")
    without = load_playbook(path)
    loaded = load_playbook(path, load_policies(folder))
    [check] = [c for c in loaded.playbook.milestones[0].checks if c.id == "data"]
    held = check.data_governance  # type: ignore[attr-defined]
    assert held.classifications == ("internal",)  # narrowed by the playbook, never widened
    assert held.max_retention == "180d"  # the shortest wins
    pattern = held.privacy_review_pattern
    assert re.fullmatch(pattern, "DPIA-2026") is not None  # both policies' forms
    assert re.fullmatch(pattern, "DPIA-2026-7") is None  # only the second's
    assert re.fullmatch(pattern, "DPIA-7") is None  # only the first's
    assert loaded.milestone_digest("poc") != without.milestone_digest("poc")


def test_several_patterns_each_must_match_the_whole_reference() -> None:
    asked = DataGovernance(privacy_review=True)
    held = held_to(asked, [GovernanceRules(privacy_review_pattern="DPIA-[0-9-]+"),
                           GovernanceRules(privacy_review_pattern=".*-2026-.*")])
    pattern = held.privacy_review_pattern
    assert pattern is not None
    assert re.fullmatch(pattern, "DPIA-2026-7")
    assert not re.fullmatch(pattern, "DPIA-2025-7")
    assert not re.fullmatch(pattern, "XDPIA-2026-7")


def test_a_bad_policy_section_is_refused_with_its_line(tmp_path: Path) -> None:
    folder = policy(tmp_path, "org.yaml", "id: org\ndata_governance:\n"
                    "  max_retention: forever\n  privacy_review_pattern: 'DPIA-('\n")
    with pytest.raises(ValidationError) as caught:
        load_policies(folder)
    lines = sorted((p.line, p.path) for p in caught.value.problems)
    assert lines == [(3, "data_governance.max_retention"),
                     (4, "data_governance.privacy_review_pattern")]
