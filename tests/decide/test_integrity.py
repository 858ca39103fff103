"""The results policies add, judged purely from gathered facts: a protected baseline alias
moved outside the gate (warn, or fail where the policy blocks), and the training commit's
lineage (missing tag, not found, not reachable, reachable)."""

from __future__ import annotations

from gatekeeper.decide.integrity import (
    BASELINE_ALIAS_ID,
    LINEAGE_ID,
    BaselineAlias,
    baseline_alias_result,
    lineage_result,
)
from gatekeeper.evaluate.interface import Status
from gatekeeper.evidence.lineage import LineageFacts

RULES = {"org": ("main", "release/*")}
SHA = "a" * 40


def test_a_baseline_alias_set_by_the_gate_passes() -> None:
    result = baseline_alias_result([BaselineAlias("champion", "2", "2", True, "audit:h")], None)
    assert result is not None
    assert (result.id, result.kind, result.status, result.blocking) == (
        BASELINE_ALIAS_ID, "alias_integrity", Status.PASS, True)
    assert result.message == "'champion' -> v2 was set by the gate"
    assert result.evidence == {"champion": "audit:h"}


def test_a_baseline_alias_moved_by_hand_warns_unless_the_policy_blocks() -> None:
    moved = BaselineAlias("champion", "1", "2", False)
    result = baseline_alias_result([moved], None)
    assert result is not None
    assert (result.status, result.blocking, result.blocks) == (Status.WARN, False, False)
    assert result.message == ("'champion' -> v1 was moved outside the gate (the gate last "
                              "moved it to v2); the comparison is against a version no gate "
                              "promoted")
    blocking = baseline_alias_result([BaselineAlias("champion", "1", None, True)], None)
    assert blocking is not None
    assert (blocking.status, blocking.blocks) == (Status.FAIL, True)
    assert "the gate never moved it" in blocking.message


def test_no_protected_baseline_means_no_result() -> None:
    assert baseline_alias_result([], None) is None
    assert lineage_result(LineageFacts(None, None), {}, "r1", None) is None


def test_lineage_reachable_from_a_named_branch_passes() -> None:
    facts = LineageFacts(SHA, "/repo", True, ("main", "release/1"), ("release/1",))
    result = lineage_result(facts, RULES, "r1", None)
    assert result is not None
    assert (result.id, result.kind, result.status) == (LINEAGE_ID, "lineage", Status.PASS)
    assert result.message == f"training commit {SHA} is on release/1"
    assert result.evidence["run_tag"] == "mlflow:runs/r1/tags/mlflow.source.git.commit"


def test_lineage_failures_say_why() -> None:
    missing = lineage_result(LineageFacts(None, "/repo"), RULES, "r1", None)
    assert missing is not None and missing.status is Status.FAIL and missing.blocks
    assert missing.message == ("run r1 has no tag mlflow.source.git.commit: the training "
                               "commit is unknown")
    unknown = lineage_result(LineageFacts(SHA, "/repo"), RULES, "r1", None)
    assert unknown is not None and unknown.status is Status.FAIL
    assert unknown.message == f"training commit {SHA} is not in the repository /repo"
    elsewhere = lineage_result(LineageFacts(SHA, "/repo", True, ("main",), ()), RULES, "r1",
                               None)
    assert elsewhere is not None and elsewhere.status is Status.FAIL
    assert elsewhere.message == (f"training commit {SHA} is reachable from no branch the "
                                 "policy names (policy org: main, release/*; matching "
                                 "branches: main)")
    no_repo = lineage_result(LineageFacts(SHA, None, problem="not in git"), RULES, "r1", None)
    assert no_repo is not None and (no_repo.status, no_repo.message) == (Status.ERROR,
                                                                          "not in git")


def test_every_policy_with_lineage_must_hold() -> None:
    facts = LineageFacts(SHA, "/repo", True, ("main",), ("main",))
    result = lineage_result(facts, {"org": ("main",), "risk": ("release/*",)}, "r1", None)
    assert result is not None and result.status is Status.FAIL
    assert "policy risk: release/*" in result.message and "policy org" not in result.message
