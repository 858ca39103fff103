"""gatekeeper.approvals judged purely: real Ed25519 keys and envelopes, hand-built facts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.decide.approvals import (
    ApprovalFacts,
    Decided,
    Review,
    Reviews,
    Subject,
    approvals_result,
    promoter_problem,
)
from gatekeeper.decide.result import CheckResult, Location
from gatekeeper.evaluate.interface import Category, Status
from gatekeeper.load.approvals import ApprovalRequirement, Member, Role
from gatekeeper.load.policy import RequiredApprovals
from gatekeeper.record.approval import SCHEMA, key_id, public_key_text, seal

NOW = datetime(2026, 12, 5, tzinfo=UTC)
HEAD = "a" * 40
KEYS = {name: Ed25519PrivateKey.generate() for name in ("alice", "bob", "carol", "mallory")}
SUBJECT = Subject("fraud", "3", "run-3", "pilot", "sha256:milestone", "sha256:evidence")
DECISIONS = (Decided(7, "sha256:decision-7", "sha256:evidence"),)
WHERE = Location("fraud.yaml", 30)


def member(name: str, github: str | None = None) -> Member:
    return Member(identity=f"{name}@example.com",
                  public_key=public_key_text(KEYS[name].public_key()), github=github)


ROLES = {"ml_lead": Role(members=(member("alice", "alice-gh"),)),
         "security": Role(members=(member("bob", "bob-gh"), member("carol")))}
TWO = ApprovalRequirement(count=2, roles=("ml_lead", "security"))


def required(*requirements: ApprovalRequirement, roles: Mapping[str, Role] = ROLES,
             max_days: float | None = 14) -> RequiredApprovals:
    return RequiredApprovals(tuple(("policy org", r) for r in requirements or (TWO,)),
                             roles, max_days)


def approval(seq: int, name: str, role: str, *, signer: str | None = None,
             **changes: Any) -> dict[str, Any]:
    """An approval record as `gatekeeper approve` stores it, signed by ``signer``'s key
    (default: the approver's own)."""
    payload = {"schema": SCHEMA, "model": "fraud", "version": "3", "run_id": "run-3",
               "milestone": "pilot", "milestone_digest": "sha256:milestone",
               "decision": "sha256:decision-7", "evidence_digest": "sha256:evidence",
               "role": role, "approver": f"{name}@example.com",
               "key_id": key_id(KEYS[signer or name].public_key()),
               "issued_at": "2026-12-03T00:00:00Z", "expires_at": "2026-12-10T00:00:00Z",
               **changes}
    return {"seq": seq, "hash": f"sha256:record-{seq}", "action": "approval",
            "envelope": seal(payload, KEYS[signer or name])}


def judge(*records: Mapping[str, Any], need: RequiredApprovals | None = None,
          requester: str = "dave", reviews: Reviews | None = None,
          decisions: tuple[Decided, ...] = DECISIONS, subject: Subject = SUBJECT,
          now: datetime = NOW) -> CheckResult:
    facts = ApprovalFacts(subject, decisions, tuple(records), requester, now, reviews)
    result = approvals_result(need or required(), facts, WHERE)
    assert result is not None
    return result


def test_two_valid_approvals_pass() -> None:
    result = judge(approval(8, "alice", "ml_lead"), approval(9, "bob", "security"))
    assert (result.id, result.kind, result.category) == (
        "gatekeeper.approvals", "approvals", Category.GOVERNANCE)
    assert result.status is Status.PASS and result.blocking
    assert result.message == (
        "needs 2 approvals (ml_lead, security); have 2: ml_lead by alice@example.com "
        "(expires 2026-12-10T00:00:00Z), security by bob@example.com (expires "
        "2026-12-10T00:00:00Z)")
    assert result.evidence == {"ml_lead": "audit:sha256:record-8",
                               "security": "audit:sha256:record-9"}
    assert result.location == WHERE and result.remedy is None


def test_a_missing_role_blocks_and_says_who_must_approve() -> None:
    result = judge(approval(8, "alice", "ml_lead"))
    assert result.status is Status.FAIL
    assert result.message == (
        "needs 2 approvals (ml_lead, security); have 1: ml_lead by alice@example.com "
        "(expires 2026-12-10T00:00:00Z); missing: security (one of bob@example.com, "
        "carol@example.com)")
    assert result.remedy == (
        "a member of security runs `gatekeeper approve PLAYBOOK --model fraud --version 3 "
        "--milestone pilot --role security --key KEY` after this decision is recorded, then "
        "gate again")
    assert judge().message.startswith("needs 2 approvals (ml_lead, security); have 0; missing")


def test_no_requirement_no_result() -> None:
    facts = ApprovalFacts(SUBJECT, DECISIONS, (), "dave", NOW)
    assert approvals_result(RequiredApprovals((), ROLES, None), facts, WHERE) is None


@pytest.mark.parametrize(("record", "reason"), [
    (approval(9, "bob", "security", expires_at="2026-12-05T00:00:00Z"),
     "expired 2026-12-05T00:00:00Z"),
    (approval(9, "bob", "security", issued_at="2026-12-06T00:00:00Z"),
     "issued in the future (2026-12-06T00:00:00Z)"),
    (approval(9, "bob", "security", expires_at="2026-12-31T00:00:00Z"),
     "runs 28 days; the policies cap approvals at 14"),
    (approval(9, "bob", "security", signer="mallory"),
     "the signature does not verify with the key the policy lists for bob@example.com "
     "(forged, altered or signed with another key)"),
    (approval(9, "mallory", "security"), "mallory@example.com is not a member of role "
                                         "'security'"),
    (approval(9, "bob", "ml_lead"), "bob@example.com is not a member of role 'ml_lead'"),
    (approval(9, "bob", "security", run_id="run-1"),
     "bound to run run-1, not this version's run run-3"),
    (approval(9, "bob", "security", milestone_digest="sha256:looser"),
     "bound to milestone digest sha256:looser; the playbook and policies now give "
     "sha256:milestone"),
    (approval(9, "bob", "security", decision="sha256:elsewhere"),
     "bound to decision sha256:elsewhere, which is no recorded decision of this version "
     "and milestone"),
    (approval(9, "bob", "security", evidence_digest="sha256:other"),
     "the checks' outcomes changed after it was approved (decision record 7): approve again"),
])
def test_an_approval_that_does_not_hold_is_not_counted(record: dict[str, Any],
                                                       reason: str) -> None:
    result = judge(approval(8, "alice", "ml_lead"), record)
    assert result.status is Status.FAIL
    who = record["envelope"]["payload"]
    assert result.message.endswith(
        f"not counted: {who['role']} by {who['approver']} (record 9): {reason}")
    assert [o["approver"] for o in result.observed] == ["alice@example.com"]


def test_an_altered_payload_breaks_the_signature() -> None:
    forged = approval(9, "bob", "security", expires_at="2026-12-06T00:00:00Z")
    forged["envelope"]["payload"]["expires_at"] = "2026-12-09T00:00:00Z"
    result = judge(approval(8, "alice", "ml_lead"), forged)
    assert result.status is Status.FAIL
    assert "security by bob@example.com (record 9): the signature does not verify" in (
        result.message)


def test_an_unreadable_envelope_is_reported() -> None:
    broken = {"seq": 9, "hash": "sha256:x", "action": "approval",
              "envelope": {"payload": {"role": "security"}, "signature": "ed25519:AA=="}}
    result = judge(approval(8, "alice", "ml_lead"), broken)
    assert "approval record 9: the payload does not hold exactly the approval fields" in (
        result.message)


def test_approvals_of_another_version_or_milestone_are_silent() -> None:
    result = judge(approval(8, "alice", "ml_lead"),
                   approval(9, "bob", "security", version="4"),
                   approval(10, "bob", "security", milestone="serve"))
    assert result.status is Status.FAIL and "not counted" not in result.message


def test_evidence_newer_than_the_approval_voids_it() -> None:
    changed = (*DECISIONS, Decided(8, "sha256:decision-8", "sha256:changed"))
    result = judge(approval(9, "alice", "ml_lead"), approval(10, "bob", "security"),
                   decisions=changed)
    assert result.status is Status.FAIL
    assert ("(record 9): the checks' outcomes changed after it was approved (decision record "
            "8)") in result.message
    # the same evidence recorded again (a re-run of check) keeps the approvals
    same = (*DECISIONS, Decided(8, "sha256:decision-8", "sha256:evidence"))
    assert judge(approval(9, "alice", "ml_lead"), approval(10, "bob", "security"),
                 decisions=same).status is Status.PASS
    moved = Subject(**{**SUBJECT.__dict__, "evidence_digest": "sha256:now-other"})
    result = judge(approval(9, "alice", "ml_lead"), approval(10, "bob", "security"),
                   subject=moved)
    assert "this run's check outcomes differ from what was approved" in result.message


@pytest.mark.parametrize("requester", ["alice@example.com", "ALICE", "alice-gh"])
def test_the_requester_cannot_approve_their_own_gate(requester: str) -> None:
    result = judge(approval(8, "alice", "ml_lead"), approval(9, "bob", "security"),
                   requester=requester)
    assert result.status is Status.FAIL
    assert (f"ml_lead by alice@example.com (record 8): alice@example.com requested this gate "
            f"(actor {requester}): an approver must be someone else") in result.message


def test_one_person_counts_once() -> None:
    both = Role(members=(member("alice", "alice-gh"), member("bob")))
    roles = {"ml_lead": both, "security": both}
    result = judge(approval(8, "alice", "ml_lead"), approval(9, "alice", "security"),
                   need=required(roles=roles))
    assert result.status is Status.FAIL
    assert [o["role"] for o in result.observed] == ["security"]
    assert ("not counted: ml_lead by alice@example.com: superseded by their later approval "
            "(each person counts once)") in result.message


def test_n_of_m_roles_and_every_requirement_must_hold() -> None:
    roles = {**ROLES, "legal": Role(members=(member("carol"),))}
    two_of_three = ApprovalRequirement(count=2, roles=("ml_lead", "security", "legal"))
    result = judge(approval(8, "alice", "ml_lead"), approval(9, "carol", "legal"),
                   need=required(two_of_three, roles=roles))
    assert result.status is Status.PASS
    assert result.message.startswith("needs 2 of 3 approvals (ml_lead, security, legal); "
                                     "have 2: ml_lead by alice")
    # a milestone's own requirement comes on top of the policy's: both must hold
    also_security = ApprovalRequirement(count=1, roles=("security",))
    result = judge(approval(8, "alice", "ml_lead"), approval(9, "carol", "legal"),
                   need=required(two_of_three, also_security, roles=roles))
    assert result.status is Status.FAIL
    assert "needs 1 approval (security); have 0; missing: security" in result.message


def test_a_role_no_policy_defines_is_an_error() -> None:
    result = judge(need=required(ApprovalRequirement(count=1, roles=("auditor",))))
    assert result.status is Status.ERROR
    assert result.message.startswith("roles defined by no policy: auditor; needs 1 approval "
                                     "(auditor); have 0; missing: auditor (no policy defines "
                                     "it)")


def reviews(*items: Review, problem: str | None = None) -> Reviews:
    return Reviews(12, HEAD, tuple(items), problem)


def test_an_approving_review_at_the_head_counts_for_the_member() -> None:
    result = judge(approval(8, "alice", "ml_lead"),
                   reviews=reviews(Review(1, "bob-gh", "APPROVED", HEAD),
                                   Review(2, "bob-gh", "COMMENTED", HEAD)))
    assert result.status is Status.PASS
    assert ("security by bob@example.com (GitHub review: authenticated by GitHub, not signed)"
            in result.message)
    assert result.evidence["security"] == "github:pulls/12/reviews/1"
    assert result.evidence["github"] == f"pulls/12/reviews@{HEAD}"


@pytest.mark.parametrize(("items", "reason"), [
    ((Review(1, "bob-gh", "APPROVED", HEAD), Review(2, "bob-gh", "CHANGES_REQUESTED", HEAD)),
     None),
    ((Review(1, "bob-gh", "APPROVED", "b" * 40),),
     "GitHub review by bob-gh on pull request #12: approved commit bbbbbbbbbbbb, not the "
     "head aaaaaaaaaaaa"),
    ((Review(1, "eve", "APPROVED", HEAD),),
     "GitHub review by eve on pull request #12: eve is in no approval role"),
    ((Review(1, "bob-gh", "APPROVED", HEAD),),
     "GitHub review by bob-gh on pull request #12: bob@example.com requested this gate "
     "(actor bob): an approver must be someone else"),
])
def test_reviews_that_do_not_count(items: tuple[Review, ...], reason: str | None) -> None:
    requester = "bob" if reason and "requested" in reason else "dave"
    result = judge(approval(8, "alice", "ml_lead"), reviews=reviews(*items),
                   requester=requester)
    assert result.status is Status.FAIL
    if reason:
        assert result.message.endswith(reason)


def test_a_signed_approver_reviewing_too_counts_once() -> None:
    result = judge(approval(8, "alice", "ml_lead"),
                   reviews=reviews(Review(1, "alice-gh", "APPROVED", HEAD)))
    assert result.status is Status.FAIL
    assert result.message.endswith("alice@example.com already approved (each person counts "
                                   "once)")


def test_unreadable_reviews_are_an_error_only_when_they_were_needed() -> None:
    down = reviews(problem="GitHub GET /repos/o/r/pulls/12/reviews: HTTP 401")
    result = judge(approval(8, "alice", "ml_lead"), reviews=down)
    assert result.status is Status.ERROR
    assert result.message.endswith("pull request #12 reviews unread: GitHub GET "
                                   "/repos/o/r/pulls/12/reviews: HTTP 401")
    assert judge(approval(8, "alice", "ml_lead"), approval(9, "bob", "security"),
                 reviews=down).status is Status.PASS


def test_an_approver_may_not_promote_the_decision_they_approved() -> None:
    result = judge(approval(8, "alice", "ml_lead"), approval(9, "bob", "security"))
    decision = {"evidence": {result.id: {"observed": result.observed}}}
    assert promoter_problem(decision, "Bob") == (
        "Bob approved this decision (security): whoever promotes must not be one of its "
        "approvers")
    assert promoter_problem(decision, "alice@example.com") is not None
    assert promoter_problem(decision, "dave") is None
    assert promoter_problem({"evidence": {}}, "bob") is None
