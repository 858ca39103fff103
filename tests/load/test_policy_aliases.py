"""Policies' protected_aliases, block_on_moved_baseline and lineage: loaded strictly, merged
over several policies, and left out of the digest when not written (passes bound to a policy
written before these keys existed stay valid)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.errors import ValidationError
from gatekeeper.load.policy import lineage_rules, load_policies, protected_aliases

BASE = "id: org\nstages:\n  poc: {require_categories: [quality]}\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_digest_is_unchanged_for_a_policy_without_the_new_keys(tmp_path: Path) -> None:
    import hashlib

    import rfc8785

    (plain,) = load_policies(write(tmp_path, "a.yaml", BASE))
    # the digest as it was computed before these keys (and waivers) existed
    before = {"id": "org", "description": "", "stages": {"poc": {
        "require_categories": ["quality"], "require_kinds": []}},
        "limits": {"latency_p99_ms": None, "latency_p95_ms": None, "cost_budget_per_1k": None}}
    assert plain.digest == "sha256:" + hashlib.sha256(rfc8785.dumps(before)).hexdigest()
    (guarded,) = load_policies(write(tmp_path, "b.yaml", BASE + "protected_aliases: [champion]\n"))
    (lineage,) = load_policies(write(tmp_path, "c.yaml", BASE + "lineage: {branches: [main]}\n"))
    assert len({plain.digest, guarded.digest, lineage.digest}) == 3


def test_protected_aliases_and_lineage_merge_over_policies(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "id: a\nprotected_aliases: [champion, poc-ok]\n"
          "lineage: {branches: [main, release/*]}\n")
    write(tmp_path, "b.yaml", "id: b\nprotected_aliases: [champion]\n"
          "block_on_moved_baseline: true\n")
    policies = load_policies(tmp_path)
    assert protected_aliases(policies) == {"champion": True, "poc-ok": False}
    assert lineage_rules(policies) == {"a": ("main", "release/*")}


def test_a_typo_or_an_empty_branch_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        load_policies(write(tmp_path, "a.yaml", "id: a\nprotected_alias: [champion]\n"
                            "lineage: {branches: []}\n"))
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "protected_alias" in text and "lineage.branches" in text
