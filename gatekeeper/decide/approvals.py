"""The approvals a milestone needs, judged (docs/approvals.md): ``gatekeeper.approvals``.

Pure: the pipeline gathers the facts first (the approval and decision records from the audit
store, the pull request's reviews from GitHub) and passes them in, so a decision can be
reproduced from its records.

A signed approval counts when its Ed25519 signature verifies with the public key the policy
lists for its approver in its role; it is bound to this model version, its source run and the
milestone's digest; the decision it names is one of this milestone's recorded decisions and
the check outcomes it saw (its evidence digest) are what every decision since and this run
found; it is issued, unexpired at ``now`` and within the policies' ``max_days``; and the
approver did not request this gate. Each person counts once. An approving review of the pull
request, at its head commit, by a member's GitHub login counts for that member (authenticated
by GitHub, not signed). The result blocks until every requirement has its distinct roles;
approvals that do not count never block by themselves (the audit store keeps them forever) and
are listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gatekeeper.decide.result import CheckResult, Location
from gatekeeper.evaluate.interface import Category, Status
from gatekeeper.load.approvals import ApprovalRequirement, Member, Role
from gatekeeper.load.policy import RequiredApprovals
from gatekeeper.record.approval import BadKeyError, open_envelope, parse_public_key

APPROVALS_ID = "gatekeeper.approvals"
APPROVALS_KIND = "approvals"
#: An approval issued later than now by more than this is refused (clocks disagree a little).
CLOCK_SKEW = timedelta(minutes=5)
GITHUB_NOTE = "GitHub review: authenticated by GitHub, not signed"


@dataclass(frozen=True)
class Subject:
    """What an approval must be bound to: this gate run's version and milestone definition."""

    model: str
    version: str
    run_id: str | None
    milestone: str
    milestone_digest: str
    #: The evidence digest of this run's checks (record/records.py ``evidence_digest``).
    evidence_digest: str


@dataclass(frozen=True)
class Decided:
    """One recorded decision of this milestone for this version and run, oldest first."""

    seq: int
    hash: str
    evidence_digest: str


@dataclass(frozen=True)
class Review:
    """One pull request review as GitHub lists it."""

    id: int
    login: str
    state: str
    commit_id: str | None


@dataclass(frozen=True)
class Reviews:
    """The pull request's reviews, or why they could not be read."""

    pull: int
    head_sha: str
    reviews: tuple[Review, ...] = ()
    problem: str | None = None


@dataclass(frozen=True)
class ApprovalFacts:
    """Everything the approvals result is judged on."""

    subject: Subject
    decisions: tuple[Decided, ...]
    #: Stored approval records (action ``approval``) about this model, oldest first.
    records: tuple[Mapping[str, Any], ...]
    requester: str
    now: datetime
    reviews: Reviews | None = None


@dataclass(frozen=True)
class Counted:
    role: str
    approver: str
    via: str
    expires_at: str | None
    ref: str


@dataclass
class _Tally:
    counted: list[Counted] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def holds(self, approver: str) -> Counted | None:
        key = approver.strip().casefold()
        return next((c for c in self.counted if c.approver.strip().casefold() == key), None)


def approvals_result(required: RequiredApprovals, facts: ApprovalFacts,
                     location: Location | None) -> CheckResult | None:
    """The approvals result of a milestone that needs approvals; None when none is needed."""
    if not required:
        return None
    undefined = sorted({r for _, q in required.requirements for r in q.roles
                        if r not in required.roles})
    tally = _Tally()
    for record in facts.records:
        _count_signed(record, required, facts, tally)
    if facts.reviews is not None:
        _count_reviews(facts.reviews, required, facts.requester, tally)
    return _result(required, facts, tally, undefined, location)


# -- signed approvals ----------------------------------------------------------------------

def _count_signed(record: Mapping[str, Any], required: RequiredApprovals, facts: ApprovalFacts,
                  tally: _Tally) -> None:
    try:
        sealed = open_envelope(record.get("envelope"))
    except ValueError as exc:
        tally.ignored.append(f"approval record {record.get('seq')}: {exc}")
        return
    subject = facts.subject
    if (sealed.field("model") != subject.model or sealed.field("version") != subject.version
            or sealed.field("milestone") != subject.milestone):
        return  # about another version or milestone: not this gate's concern
    role, approver = sealed.field("role"), sealed.field("approver")
    name = f"{role} by {approver} (record {record.get('seq')})"
    reason = _signed_refusal(sealed.payload, role, approver, required, facts)
    if reason is None:
        member = _member(required.roles.get(role), approver)
        assert member is not None
        reason = _verify(sealed, member, approver)
    if reason is None:
        reason = _self_approval(member_names(required.roles.get(role), approver),
                                facts.requester, approver)
    if reason is None:
        earlier = tally.holds(approver)
        if earlier is not None:
            tally.counted.remove(earlier)
            tally.ignored.append(f"{earlier.role} by {earlier.approver}: superseded by their "
                                 "later approval (each person counts once)")
        tally.counted.append(Counted(role, approver, "signed", sealed.field("expires_at"),
                                     f"audit:{record.get('hash')}"))
        return
    tally.ignored.append(f"{name}: {reason}")


def _signed_refusal(payload: Mapping[str, Any], role: str, approver: str,
                    required: RequiredApprovals, facts: ApprovalFacts) -> str | None:
    """Why a signed approval's claims do not hold for this gate run (before its signature)."""
    subject = facts.subject
    if payload.get("run_id") != subject.run_id:
        return f"bound to run {payload.get('run_id')}, not this version's run {subject.run_id}"
    if payload.get("milestone_digest") != subject.milestone_digest:
        return (f"bound to milestone digest {_short(payload.get('milestone_digest'))}; the "
                f"playbook and policies now give {_short(subject.milestone_digest)}")
    if role not in required.roles:
        return f"role '{role}' is defined by no policy"
    if _member(required.roles[role], approver) is None:
        return f"{approver} is not a member of role '{role}'"
    return _time_refusal(payload, required.max_days, facts.now) or _evidence_refusal(
        payload, facts)


def _time_refusal(payload: Mapping[str, Any], max_days: float | None,
                  now: datetime) -> str | None:
    try:
        issued = _instant(payload.get("issued_at"))
        expires = _instant(payload.get("expires_at"))
    except ValueError:
        return "issued_at or expires_at is not an ISO 8601 instant"
    if issued - now > CLOCK_SKEW:
        return f"issued in the future ({payload.get('issued_at')})"
    if now >= expires:
        return f"expired {payload.get('expires_at')}"
    if max_days is not None and expires - issued > timedelta(days=max_days):
        return (f"runs {(expires - issued) / timedelta(days=1):g} days; the policies cap "
                f"approvals at {max_days:g}")
    return None


def _evidence_refusal(payload: Mapping[str, Any], facts: ApprovalFacts) -> str | None:
    """The approval saw decision D; it stands while D, every decision since and this run all
    found the check outcomes it approved (record/records.py ``evidence_digest``)."""
    digest = payload.get("evidence_digest")
    index = next((i for i, d in enumerate(facts.decisions)
                  if d.hash == payload.get("decision")), None)
    if index is None:
        return (f"bound to decision {_short(payload.get('decision'))}, which is no recorded "
                "decision of this version and milestone")
    for decided in facts.decisions[index:]:
        if decided.evidence_digest != digest:
            return (f"the checks' outcomes changed after it was approved (decision record "
                    f"{decided.seq}): approve again")
    if facts.subject.evidence_digest != digest:
        return "this run's check outcomes differ from what was approved: approve again"
    return None


def _verify(sealed: Any, member: Member, approver: str) -> str | None:
    if member.public_key is None:
        return f"the policy lists no public_key for {approver}"
    try:
        key = parse_public_key(member.public_key)
    except BadKeyError as exc:  # validated at load; kept for a hand-built policy
        return f"the policy's key for {approver} is unusable: {exc}"
    if not sealed.verified_by(key):
        return (f"the signature does not verify with the key the policy lists for "
                f"{approver} (forged, altered or signed with another key)")
    return None


# -- GitHub reviews ------------------------------------------------------------------------

def _count_reviews(reviews: Reviews, required: RequiredApprovals, requester: str,
                   tally: _Tally) -> None:
    if reviews.problem is not None:
        return
    for login, review in latest_reviews(reviews.reviews).items():
        if review.state != "APPROVED":
            continue
        name = f"GitHub review by {login} on pull request #{reviews.pull}"
        found = [(role, m) for role, r in required.roles.items() for m in r.members
                 if m.github and m.github.casefold() == login.casefold()]
        if not found:
            tally.ignored.append(f"{name}: {login} is in no approval role")
            continue
        if review.commit_id != reviews.head_sha:
            tally.ignored.append(f"{name}: approved commit {str(review.commit_id)[:12]}, not "
                                 f"the head {reviews.head_sha[:12]}")
            continue
        member = found[0][1]
        reason = _self_approval(member.names(), requester, member.identity)
        if reason is not None:
            tally.ignored.append(f"{name}: {reason}")
            continue
        if tally.holds(member.identity) is not None:
            tally.ignored.append(f"{name}: {member.identity} already approved (each person "
                                 "counts once)")
            continue
        covered = {c.role for c in tally.counted}
        wanted = [r for _, q in required.requirements for r in q.roles]
        roles = [role for role, _ in found]
        role = next((r for r in wanted if r in roles and r not in covered), roles[0])
        tally.counted.append(Counted(role, member.identity, "github", None,
                                     f"github:pulls/{reviews.pull}/reviews/{review.id}"))


def latest_reviews(reviews: Sequence[Review]) -> dict[str, Review]:
    """Each reviewer's standing review, as GitHub counts it: the latest that approved,
    requested changes or was dismissed (a comment or a pending review changes nothing).
    ``reviews`` is in GitHub's order (chronological)."""
    found: dict[str, Review] = {}
    for review in reviews:
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            found[review.login] = review
    return found


# -- separation of duties --------------------------------------------------------------------

def member_names(role: Role | None, approver: str) -> frozenset[str]:
    member = _member(role, approver)
    base = {approver.strip().casefold(), approver.split("@", 1)[0].strip().casefold()}
    return frozenset(base | (member.names() if member else set()))


def _self_approval(names: frozenset[str], requester: str, approver: str) -> str | None:
    if requester.strip().casefold() in names:
        return (f"{approver} requested this gate (actor {requester}): an approver must be "
                "someone else")
    return None


def _member(role: Role | None, approver: str) -> Member | None:
    key = approver.strip().casefold()
    return next((m for m in (role.members if role else ())
                 if m.identity.strip().casefold() == key), None)


def promoter_problem(decision: Mapping[str, Any], actor: str) -> str | None:
    """Why ``actor`` may not promote on ``decision`` (a decision record): they approved it.
    Compared with each counted approver's identity and its part before ``@``."""
    evidence = (decision.get("evidence") or {}).get(APPROVALS_ID) or {}
    observed = evidence.get("observed") if isinstance(evidence, Mapping) else None
    wanted = actor.strip().casefold()
    for item in observed if isinstance(observed, list) else ():
        approver = str(item.get("approver") or "") if isinstance(item, Mapping) else ""
        if wanted in {approver.strip().casefold(), approver.split("@", 1)[0].casefold()}:
            return (f"{actor} approved this decision ({item.get('role')}): whoever promotes "
                    "must not be one of its approvers")
    return None


# -- the result ------------------------------------------------------------------------------

def _result(required: RequiredApprovals, facts: ApprovalFacts, tally: _Tally,
            undefined: Sequence[str], location: Location | None) -> CheckResult:
    covered = {c.role: c for c in tally.counted}
    unmet = [(source, q) for source, q in required.requirements
             if sum(r in covered for r in q.roles) < q.count]
    parts = [_describe(q, covered, required.roles) for _, q in required.requirements]
    if tally.ignored:
        parts.append("not counted: " + "; ".join(tally.ignored))
    reviews = facts.reviews
    if undefined:
        status = Status.ERROR
        parts.insert(0, f"roles defined by no policy: {', '.join(undefined)}")
    elif not unmet:
        status = Status.PASS
    elif reviews is not None and reviews.problem is not None:
        status = Status.ERROR
        parts.append(f"pull request #{reviews.pull} reviews unread: {reviews.problem}")
    else:
        status = Status.FAIL
    evidence: dict[str, Any] = {c.role: c.ref for c in tally.counted}
    if reviews is not None:
        evidence["github"] = f"pulls/{reviews.pull}/reviews@{reviews.head_sha}"
    return CheckResult(
        id=APPROVALS_ID, kind=APPROVALS_KIND, category=Category.GOVERNANCE, status=status,
        blocking=True, message="; ".join(parts),
        observed=[{"role": c.role, "approver": c.approver, "via": c.via,
                   "expires_at": c.expires_at} for c in tally.counted],
        threshold=[{"source": s, "count": q.count, "roles": list(q.roles)}
                   for s, q in required.requirements],
        evidence=evidence, location=location,
        remedy=None if status is Status.PASS else _remedy(unmet, covered, facts),
    )


def _describe(requirement: ApprovalRequirement, covered: Mapping[str, Counted],
              roles: Mapping[str, Role]) -> str:
    have = [covered[r] for r in requirement.roles if r in covered]
    plural = "approval" if requirement.count == 1 else "approvals"
    wanted = (f"{requirement.count} {plural}" if requirement.count == len(requirement.roles)
              else f"{requirement.count} of {len(requirement.roles)} {plural}")
    text = f"needs {wanted} ({', '.join(requirement.roles)}); have {len(have)}"
    if have:
        text += ": " + ", ".join(_counted(c) for c in have)
    missing = [r for r in requirement.roles if r not in covered]
    if len(have) < requirement.count and missing:
        text += "; missing: " + ", ".join(
            f"{r} (one of {', '.join(m.identity for m in roles[r].members)})" if r in roles
            else f"{r} (no policy defines it)" for r in missing)
    return text


def _counted(c: Counted) -> str:
    if c.via == "github":
        return f"{c.role} by {c.approver} ({GITHUB_NOTE})"
    return f"{c.role} by {c.approver} (expires {c.expires_at})"


def _remedy(unmet: Sequence[tuple[str, ApprovalRequirement]], covered: Mapping[str, Counted],
            facts: ApprovalFacts) -> str:
    s = facts.subject
    roles = sorted({r for _, q in unmet for r in q.roles if r not in covered})
    role = roles[0] if len(roles) == 1 else "ROLE"
    return (f"a member of {' or '.join(roles) or 'each role'} runs `gatekeeper approve PLAYBOOK "
            f"--model {s.model} --version {s.version} --milestone {s.milestone} --role {role} "
            "--key KEY` after this decision is recorded, then gate again")


def _instant(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed


def _short(digest: Any) -> str:
    text = str(digest)
    return text[:19] if text.startswith("sha256:") else text[:12]
