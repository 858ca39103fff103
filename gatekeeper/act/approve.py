"""``gatekeeper approve``: sign an approval of a milestone's latest decision for one version,
record it in the audit store and tag the version with it (docs/approvals.md).

The approver is not a name typed on the command line: it is the member of the role whose
public key (in the policies) matches the private key given, so only the holder of that key
can approve as that person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.decide.result import AuditRef
from gatekeeper.errors import InvalidInputError
from gatekeeper.evidence.interface import EvidenceRequest
from gatekeeper.load.approvals import Member
from gatekeeper.load.policy import RequiredApprovals, load_policies, required_approvals
from gatekeeper.pipeline import Adapters, GateRequest, load_for
from gatekeeper.record.approval import (
    SCHEMA,
    compact,
    key_id,
    parse_public_key,
    public_key_text,
    seal,
    tag_key,
)
from gatekeeper.record.records import approval_entry, evidence_digest

#: How long an approval runs when neither --expires-in nor a policy's max_days says.
DEFAULT_DAYS = 7.0

#: Writes version tags: (model, version, tags). The MLflow registry in production.
Tagger = Callable[[str, str, Mapping[str, str]], None]


@dataclass(frozen=True)
class ApprovalOutcome:
    """What ``gatekeeper approve`` wrote."""

    payload: Mapping[str, Any]
    record: AuditRef
    decision_seq: int
    tag: str
    #: Why this approval will not count when the same person gates, if they did.
    warning: str | None = None

    def describe(self) -> str:
        p = self.payload
        return (f"approved: {p['model']} version {p['version']}, milestone {p['milestone']}, "
                f"as {p['role']} by {p['approver']}; bound to decision record "
                f"{self.decision_seq} ({p['decision']}); expires {p['expires_at']}; "
                f"audit record {self.record.seq}; tag {self.tag}")


def run_approve(request: GateRequest, role: str, key: Ed25519PrivateKey,
                expires_in: timedelta | None, adapters: Adapters, tag: Tagger,
                now: datetime) -> ApprovalOutcome:
    """Sign and store one approval of the latest decision of ``request``'s milestone."""
    policies = load_policies(request.policies)
    loaded, milestone = load_for(request, policies)
    required = required_approvals(policies, milestone)
    member = approver(required, role, key, milestone.id)
    lifetime = approval_lifetime(expires_in, required.max_days)
    version = adapters.source.resolve_version(request.model, request.version, request.alias)
    candidate = adapters.source.collect(request.model, version, EvidenceRequest()).candidate
    digest = loaded.milestone_digest(milestone.id)
    wanted = (request.model, version, candidate.run_id, [milestone.id])
    # Read once before taking the store (a missing log is not created for a refusal), and
    # again under its hold: the decision signed is the latest when the record is appended.
    approvable(adapters.audit.latest_decisions(*wanted)[milestone.id], digest, milestone.id)
    with adapters.audit.session() as session:
        decision = approvable(session.latest_decisions(*wanted)[milestone.id], digest,
                              milestone.id)
        payload = {
            "schema": SCHEMA, "model": request.model, "version": version,
            "run_id": candidate.run_id, "milestone": milestone.id, "milestone_digest": digest,
            "decision": decision["hash"], "evidence_digest": evidence_digest(
                decision.get("criteria") or {}, decision.get("evidence") or {}),
            "role": role, "approver": member.identity,
            "key_id": key_id(key.public_key()), "issued_at": _stamp(now),
            "expires_at": _stamp(now + lifetime),
        }
        envelope = seal(payload, key)
        ref = AuditRef(adapters.audit.location, int(decision["seq"]), str(decision["hash"]))
        record = session.append(approval_entry(envelope, adapters.identity, ref))
    name = tag_key(milestone.id, role, member.identity)
    tag(request.model, version, {name: compact(envelope)})
    return ApprovalOutcome(payload, record, ref.seq, name,
                           _requester_warning(decision, member))


def approver(required: RequiredApprovals, role: str, key: Ed25519PrivateKey,
             milestone: str) -> Member:
    """The member of ``role`` whose public key is ``key``'s; InvalidInputError otherwise."""
    if not required:
        raise InvalidInputError(f"milestone '{milestone}' needs no approvals (no policy stage "
                                "rule and no approvals key)")
    asked = pending_roles(required)
    if role not in asked:
        raise InvalidInputError(f"--role: milestone '{milestone}' asks for approvals by "
                                f"{', '.join(asked)}, not '{role}'")
    if role not in required.roles:
        raise InvalidInputError(f"--role: no policy defines role '{role}'")
    mine = public_key_text(key.public_key())
    for member in required.roles[role].members:
        if member.public_key and public_key_text(parse_public_key(member.public_key)) == mine:
            return member
    raise InvalidInputError(f"--key: this key ({key_id(key.public_key())}) belongs to no "
                            f"member of role '{role}' in the policies",
                            hint="add its public key (gatekeeper keys generate prints it) "
                                 "to the member in the policy")


def approval_lifetime(expires_in: timedelta | None, max_days: float | None) -> timedelta:
    """``--expires-in``, or the policies' ``max_days``, or a week; never past the cap."""
    cap = timedelta(days=max_days) if max_days is not None else None
    lifetime = expires_in or cap or timedelta(days=DEFAULT_DAYS)
    if lifetime <= timedelta(0):
        raise InvalidInputError("--expires-in: must be longer than 0")
    if cap is not None and lifetime > cap:
        raise InvalidInputError(f"--expires-in: {lifetime} is longer than the policies allow "
                                f"({max_days:g} days)")
    return lifetime


def approvable(decision: Mapping[str, Any] | None, digest: str,
               milestone: str) -> Mapping[str, Any]:
    """``decision`` when it can be approved; InvalidInputError saying why not."""
    problem = decision_problem(decision, digest, milestone)
    if problem is not None or decision is None:
        raise InvalidInputError(str(problem), hint="run `gatekeeper check` for this version "
                                "and milestone, then approve")
    return decision


def decision_problem(decision: Mapping[str, Any] | None, digest: str,
                     milestone: str) -> str | None:
    """Why the latest decision cannot be approved, or None when it can."""
    if decision is None:
        return f"no decision recorded for milestone '{milestone}' of this version to approve"
    recorded = (decision.get("playbook") or {}).get("milestone_digest")
    if recorded != digest:
        return (f"the latest decision (record {decision.get('seq')}) was made under milestone "
                f"digest {recorded}; this playbook and its policies give {digest}")
    return None


def pending_roles(required: RequiredApprovals) -> Sequence[str]:
    """Every role some requirement of the milestone names."""
    return sorted({r for _, q in required.requirements for r in q.roles})


def _requester_warning(decision: Mapping[str, Any], member: Member) -> str | None:
    actor = str(decision.get("actor") or "")
    if actor.strip().casefold() in member.names():
        return (f"{member.identity} requested the decision approved (actor {actor}): this "
                "approval will not count while they request the gate")
    return None


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def mlflow_tagger(tracking_uri: str) -> Tagger:
    """Writes version tags in the MLflow registry at ``tracking_uri``, within its deadline;
    a failure is exit 3 saying the approval is recorded but the tag not written."""
    from gatekeeper.act.mlflow_registry import PromotionError
    from gatekeeper.evidence.mlflow_env import (
        RegistryDeadline,
        call_registry,
        check_tracking_uri,
        mlflow_client,
        registry_errors,
        require_sqlite_file,
    )

    def tag(model: str, version: str, tags: Mapping[str, str]) -> None:
        context = (f"the approval is recorded in the audit store, but {model} version "
                   f"{version} could not be tagged")

        def write() -> None:
            with registry_errors(tracking_uri, PromotionError, context):
                check_tracking_uri(tracking_uri)
                require_sqlite_file(tracking_uri)
                client = mlflow_client(tracking_uri)
                for key, value in sorted(tags.items()):
                    client.set_model_version_tag(model, version, key, value)

        call_registry(tracking_uri, RegistryDeadline(), write, PromotionError, context)
    return tag
