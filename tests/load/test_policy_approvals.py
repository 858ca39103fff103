"""Approval rules in policies and milestones: strict and located, roles resolved over every
policy, a milestone asking for fewer approvals than its stage's rule refused, and the digests
of policies and milestones without approvals unchanged."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gatekeeper.errors import ValidationError
from gatekeeper.load.playbook import load_playbook
from gatekeeper.load.policy import load_policies, required_approvals

RAW = Ed25519PrivateKey.generate().public_key()
KEY = base64.b64encode(RAW.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
PEM = RAW.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
PLAYBOOK = (Path(__file__).parents[1] / "assets" / "playbooks" / "fraud.yaml").read_text()
POLICY = f"""id: org
approvals:
  max_days: 14
  roles:
    ml_lead:
      members:
        - {{identity: alice@example.com, public_key: "{KEY}"}}
    security:
      members:
        - {{identity: bob@example.com, github: bob-gh}}
  stages:
    pilot: {{count: 2, roles: [ml_lead, security]}}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(caught: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [str(p) for p in caught.value.problems]


def with_approvals(milestone: str, text: str) -> str:
    """The fraud playbook with ``text`` as the approvals key of ``milestone``."""
    marker = f"  - id: {milestone}\n"
    return PLAYBOOK.replace(marker, f"{marker}    approvals: {text}\n")


def test_requirements_come_from_the_stage_and_the_milestone(tmp_path: Path) -> None:
    policies = load_policies(write(tmp_path, "org.yaml", POLICY))
    playbook = write(tmp_path, "fraud.yaml",
                     with_approvals("pilot", "{count: 2, roles: [ml_lead, security]}"))
    loaded = load_playbook(playbook, policies)
    pilot = loaded.playbook.milestones[2]
    need = required_approvals(policies, pilot)
    assert [(source, q.describe()) for source, q in need.requirements] == [
        ("policy org", "2 of ml_lead, security"), ("milestone", "2 of ml_lead, security")]
    assert need.max_days == 14 and set(need.roles) == {"ml_lead", "security"}
    assert not required_approvals(policies, loaded.playbook.milestones[0])


def test_a_milestone_cannot_ask_for_fewer_or_unknown_roles(tmp_path: Path) -> None:
    policies = load_policies(write(tmp_path, "org.yaml", POLICY))
    playbook = write(tmp_path, "fraud.yaml",
                     with_approvals("pilot", "{count: 1, roles: [ml_lead, legal]}"))
    with pytest.raises(ValidationError) as caught:
        load_playbook(playbook, policies)
    assert problems(caught) == [
        f"{playbook}:27:17: milestones[2].approvals.count: policy org "
        f"({tmp_path}/org.yaml:12): stage pilot needs 2 approvals; the milestone asks for 1",
        f"{playbook}:27:44: milestones[2].approvals.roles[1]: no policy defines approval "
        "role 'legal' (defined: ml_lead, security)",
    ]


def test_bad_rules_are_located(tmp_path: Path) -> None:
    bad = POLICY.replace(f'public_key: "{KEY}"', 'public_key: "bm90IGEga2V5"').replace(
        "github: bob-gh", "githb: bob-gh").replace("count: 2", "count: 3")
    with pytest.raises(ValidationError) as caught:
        load_policies(write(tmp_path, "org.yaml", bad))
    text = "\n".join(problems(caught))
    assert "approvals.roles.ml_lead.members[0].public_key" in text
    assert "the base64 holds 9 bytes; an Ed25519 public key has 32" in text
    assert "approvals.roles.security.members[0].githb" in text
    assert "count 3 is more than the 2 roles listed" in text


def test_a_pem_key_and_an_undefined_stage_role(tmp_path: Path) -> None:
    block = "".join(f"\n            {line}" for line in PEM.strip().splitlines())
    pem = POLICY.replace(f'{{identity: alice@example.com, public_key: "{KEY}"}}',
                         f"identity: alice@example.com\n          public_key: |{block}")
    (policy,) = load_policies(write(tmp_path, "pem.yaml", pem))
    assert policy.policy.approvals is not None
    member = policy.policy.approvals.roles["ml_lead"].members[0]
    assert member.public_key is not None and member.public_key.startswith("-----BEGIN PUBLIC")
    with pytest.raises(ValidationError) as caught:
        load_policies(write(tmp_path, "bad.yaml", POLICY.replace("[ml_lead, security]",
                                                                 "[ml_lead, auditor]")))
    assert "stages.pilot names roles this section does not define: auditor" in (
        "\n".join(problems(caught)))


def test_a_role_defined_twice_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", POLICY)
    write(tmp_path, "b.yaml", POLICY.replace("id: org", "id: other"))
    with pytest.raises(ValidationError) as caught:
        load_policies(tmp_path)
    assert problems(caught)[0] == (
        f"{tmp_path}/b.yaml:5:5: approvals.roles.ml_lead: approval role 'ml_lead' is also "
        f"defined by policy org ({tmp_path}/a.yaml:5); define each role once")


def test_digests_without_approvals_are_unchanged(tmp_path: Path) -> None:
    plain = load_playbook(write(tmp_path, "fraud.yaml", PLAYBOOK))
    asked = load_playbook(write(tmp_path, "asked.yaml", with_approvals(
        "pilot", "{count: 1, roles: [ml_lead]}")))
    assert "approvals" not in plain.playbook.milestones[2].model_dump()
    assert plain.milestone_digest("pilot") != asked.milestone_digest("pilot")
    assert plain.milestone_digest("poc") == asked.milestone_digest("poc")
    (policy,) = load_policies(write(tmp_path, "p.yaml", "id: org\n"))
    (with_rules,) = load_policies(write(tmp_path, "q.yaml", POLICY))
    assert policy.digest != with_rules.digest


def test_validate_resolves_roles_over_every_policy_and_refuses_a_role_defined_twice(
        tmp_path: Path) -> None:
    from gatekeeper.load.validate import validate_paths

    folder = tmp_path / "policies"
    folder.mkdir()
    write(folder, "org.yaml", POLICY)
    playbook = write(tmp_path, "fraud.yaml",
                     with_approvals("serve", "{count: 1, roles: [ml_lead]}"))
    # the role comes from a policy other than the one whose rules are checked first
    write(folder, "extra.yaml", "id: aaa-extra\nstages:\n  poc: {require_categories: [quality]}\n")
    assert validate_paths([playbook, folder]).policies == 2
    write(tmp_path, "unknown.yaml", with_approvals("serve", "{count: 1, roles: [auditor]}"))
    with pytest.raises(ValidationError) as caught:
        validate_paths([tmp_path / "unknown.yaml", folder])
    assert any("auditor" in p for p in problems(caught))
    write(folder, "twice.yaml", "id: twice\napprovals:\n  roles:\n    ml_lead:\n      members:\n"
          "        - {identity: carol@example.com, github: carol-gh}\n")
    with pytest.raises(ValidationError) as caught:
        validate_paths([playbook, folder])
    assert any("approval role 'ml_lead' is also defined" in p for p in problems(caught))
