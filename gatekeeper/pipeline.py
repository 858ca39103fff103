"""The pipeline of one ``gatekeeper check`` and one ``gatekeeper promote``:
load playbook (held to the policies) → collect evidence → evaluate → decide → record (audit
store) → act (promote). Rendering is the CLI's job.

Promotion is the last step and never half-done: the decision is recorded first; the alias is
read, moved and the promotion recorded under one hold of the audit store; if that record cannot
be written, the alias is moved back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gatekeeper import __version__
from gatekeeper.decide.approvals import (
    ApprovalFacts,
    Decided,
    Subject,
    approvals_result,
    promoter_problem,
)
from gatekeeper.decide.checks import Prior, decide_checks, record_where, short
from gatekeeper.decide.integrity import BaselineAlias, baseline_alias_result, lineage_result
from gatekeeper.decide.result import (
    AuditRef,
    BaselineRef,
    CheckResult,
    Decision,
    MilestoneHistory,
    MilestoneRef,
    ModelRef,
    PlaybookRef,
    Promotion,
    Result,
)
from gatekeeper.decide.waivers import Scope, apply_waivers
from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.evaluate.milestone import evaluate_milestone, evidence_request
from gatekeeper.evidence.attestations import (
    Attestation,
    VersionTags,
    read_attestations,
    refusals,
    with_attested,
)
from gatekeeper.evidence.digests import MODEL_COPY, evidence_digests
from gatekeeper.evidence.external import with_external
from gatekeeper.evidence.github_reviews import ReviewSource
from gatekeeper.evidence.gitinfo import playbook_commit
from gatekeeper.evidence.interface import (
    Evidence,
    EvidenceRequest,
    EvidenceSource,
    VersionEvidence,
)
from gatekeeper.evidence.lineage import GIT_COMMIT_TAG, lineage_facts
from gatekeeper.evidence.scans import with_scans
from gatekeeper.load.model import Milestone
from gatekeeper.load.playbook import LoadedPlaybook, find_milestone, load_playbook
from gatekeeper.load.policy import (
    LoadedPolicy,
    lineage_rules,
    load_policies,
    protected_aliases,
    required_approvals,
    retention_days,
    trusted_keys,
)
from gatekeeper.load.waivers import load_waivers
from gatekeeper.record import (
    AuditSession,
    AuditStore,
    AuditWriteError,
    Identity,
    promotion_entry,
    recorded_promotion_entry,
    refusal_entry,
    waiver_use_entries,
)
from gatekeeper.record.records import (
    APPROVAL,
    DECISION,
    checks_evidence,
    evidence_digest,
    sealed_decision_entry,
)
from gatekeeper.record.sealed import append_sealed
from gatekeeper.record.standing import latest_promotions, promoted_version

if TYPE_CHECKING:
    from gatekeeper.act.attest import Attestor

#: A decision stamped later than now by more than this is refused (clocks of CI runners
#: disagree a little; a record from the future is forged or from a broken clock).
CLOCK_SKEW = timedelta(minutes=5)


class Registry(Protocol):
    """Where aliases are read and set (the MLflow registry; a fake in unit tests)."""

    def alias_version(self, name: str, alias: str) -> str | None: ...

    def promote(self, name: str, version: str, alias: str,
                tags: Mapping[str, str]) -> str | None: ...

    def restore_alias(self, name: str, alias: str, version: str | None) -> None: ...


class RolledBackError(InfrastructureError):
    """The alias moved but its promotion record could not be written; it was moved back."""


@dataclass(frozen=True)
class Adapters:
    """The edges the pipeline talks to: where evidence comes from, where decisions are
    recorded, where aliases are set, and who is acting."""

    source: EvidenceSource
    audit: AuditStore
    registry: Registry
    identity: Identity
    #: The registry's web address for links in reports (no credentials), when it has one.
    registry_url: str | None = None
    #: Signs each recorded decision onto the version as an attestation (docs/attestations.md);
    #: None when no signing key is configured.
    attestor: Attestor | None = None


@dataclass(frozen=True)
class GateRequest:
    playbook: Path
    model: str
    version: str | None
    alias: str | None
    milestone: str
    promote: bool = False
    policies: Path | None = None
    #: A waiver file or folder (``--waivers``), and the instant expiry is judged at (``--now``;
    #: None: the clock).
    waivers: Path | None = None
    now: datetime | None = None
    #: Where pull request reviews count as approvals (``check --github-pr``), if anywhere.
    reviews: ReviewSource | None = None


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_for(request: GateRequest, policies: Sequence[LoadedPolicy] | None = None
             ) -> tuple[LoadedPlaybook, Milestone]:
    """Load the playbook held to the organisation's policies (``policies``, else those
    ``request`` names), and check that it gates this model and has this milestone."""
    if policies is None:
        policies = load_policies(request.policies)
    loaded = load_playbook(request.playbook, policies)
    if loaded.playbook.model != request.model:
        raise InvalidInputError(f"{loaded.path}: this playbook gates model "
                                f"'{loaded.playbook.model}', not '{request.model}'")
    return loaded, find_milestone(loaded, request.milestone)


def priors(loaded: LoadedPlaybook, milestone: Milestone,
           records: Mapping[str, Mapping[str, Any] | None],
           notes: Mapping[str, str] | None = None) -> dict[str, Prior]:
    """The earlier milestones' latest decisions, with the digest each must carry (and why an
    attestation tag did not stand in for a missing record, in ``notes``)."""
    return {m.id: Prior(records.get(m.id), loaded.milestone_digest(m.id),
                        (notes or {}).get(m.id))
            for m in loaded.playbook.earlier(milestone.id)}


def attestations(candidate: VersionEvidence, policies: Sequence[LoadedPolicy]
                 ) -> dict[str, Attestation]:
    """The version's attestation tags, verified against the keys the policies trust."""
    return read_attestations(VersionTags(candidate.name, candidate.version, candidate.run_id,
                                         candidate.version_tags), trusted_keys(policies))


def history(loaded: LoadedPlaybook,
            records: Mapping[str, Mapping[str, Any] | None]) -> tuple[MilestoneHistory, ...]:
    """Every milestone of the playbook with the latest decision recorded for this version."""
    out = []
    for m in loaded.playbook.milestones:
        record = records.get(m.id) or {}
        seq = record.get("seq")
        out.append(MilestoneHistory(
            m.id, m.stage.value, m.alias, record.get("decision"), record.get("recorded_at"),
            int(seq) if seq is not None else None, record.get("hash")))
    return tuple(out)


def run_gate(request: GateRequest, adapters: Adapters) -> Result:
    """Evaluate one milestone for one version, record the decision, promote on a pass."""
    source, audit = adapters.source, adapters.audit
    started = utcnow()
    policies = load_policies(request.policies)
    loaded, milestone = load_for(request, policies)
    waivers = load_waivers(request.waivers)  # a bad waiver file is refused before evaluating
    version = source.resolve_version(request.model, request.version, request.alias)
    wanted = evidence_request(milestone)
    evidence = with_external(source.collect(request.model, version, wanted), wanted.external)
    evidence = with_scans(evidence, wanted.scans, source)
    candidate = evidence.candidate
    digests = evidence_digests(candidate, wanted, source, copied=evidence.extra.get(MODEL_COPY))
    every = [m.id for m in loaded.playbook.milestones]
    attested = attestations(candidate, policies)
    found = with_attested(audit.latest_decisions(request.model, version, candidate.run_id,
                                                 every), attested)
    checks = decide_checks(loaded, milestone, evaluate_milestone(milestone, evidence),
                           priors(loaded, milestone, found, refusals(attested)))
    checks += policy_results(request.playbook, loaded, milestone, evidence, policies, audit)
    waived = None
    if request.waivers is not None:
        checks, waived = apply_waivers(checks, waivers, Scope(request.model, version,
                                                              milestone.id),
                                       policies, request.now or datetime.now(UTC))
    checks += approval_results(request, loaded, milestone, candidate, checks, policies,
                               adapters)
    result = Result(
        model=ModelRef(candidate.name, candidate.version, candidate.run_id, candidate.source),
        milestone=MilestoneRef(milestone.id, milestone.title),
        playbook=playbook_ref(request, loaded, milestone),
        baseline=_baseline(evidence, loaded),
        checks=checks, actor=adapters.identity.actor, started_at=started,
        finished_at=utcnow(), gatekeeper_version=__version__, policies=loaded.policies,
        history=history(loaded, found), registry_url=adapters.registry_url,
        waivers=waived, evidence_digests=digests,
    )
    with audit.session() as session:
        entry, sealed = sealed_decision_entry(result, adapters.identity,
                                              retention_days=retention_days(policies))
        result = result.with_audit(append_sealed(session, entry, sealed, audit.location))
        for entry in waiver_use_entries(result, adapters.identity):
            session.append(entry)
        if adapters.attestor is not None:  # before the alias moves: never an unattested pass
            adapters.attestor.attest(result)
        if request.promote and result.decision is Decision.PASS:
            result = promote(result, milestone, adapters, session)
    return result


def policy_results(playbook: Path, loaded: LoadedPlaybook, milestone: Milestone,
                   evidence: Evidence, policies: Sequence[LoadedPolicy],
                   audit: AuditStore) -> tuple[CheckResult, ...]:
    """The results the policies add (docs/status.md): a protected baseline alias moved
    outside the gate, and the training commit's lineage. Their facts are gathered here, from
    the audit store and git, only when a policy asks; the judging is pure."""
    location = loaded.location(milestone.id, "")
    protected = protected_aliases(policies)
    baselines = {a: v.version for a, v in evidence.baselines.items()
                 if v is not None and a in protected}
    found = []
    if baselines:
        promotions = latest_promotions(audit.model_records(evidence.candidate.name))
        found.append(baseline_alias_result(
            [BaselineAlias(a, v, promoted_version(promotions, a), protected[a],
                           _audit_ref(promotions.get(a))) for a, v in sorted(baselines.items())],
            location))
    rules = lineage_rules(policies)
    if rules:
        candidate = evidence.candidate
        facts = lineage_facts(playbook, candidate.run_tags.get(GIT_COMMIT_TAG),
                              [p for branches in rules.values() for p in branches])
        found.append(lineage_result(facts, rules, candidate.run_id, location))
    return tuple(r for r in found if r is not None)


def approval_results(request: GateRequest, loaded: LoadedPlaybook, milestone: Milestone,
                     candidate: VersionEvidence, checks: Sequence[CheckResult],
                     policies: Sequence[LoadedPolicy], adapters: Adapters
                     ) -> tuple[CheckResult, ...]:
    """``gatekeeper.approvals`` when a policy or the milestone asks for approvals
    (docs/approvals.md): after waivers, so none can touch it and the evidence digest is the
    one this decision records. Facts from the audit store and GitHub, judged purely."""
    required = required_approvals(policies, milestone)
    if not required:
        return ()
    records = adapters.audit.model_records(request.model)
    subject = Subject(request.model, candidate.version, candidate.run_id, milestone.id,
                      loaded.milestone_digest(milestone.id), evidence_digest(
                          *checks_evidence(checks)))
    mine = [r for r in records if r.get("milestone") == milestone.id
            and str((r.get("model") or {}).get("version")) == candidate.version
            and (r.get("model") or {}).get("run_id") == candidate.run_id]
    decisions = tuple(Decided(int(r["seq"]), str(r["hash"]), evidence_digest(
        r.get("criteria") or {}, r.get("evidence") or {}))
        for r in mine if r.get("action") == DECISION)
    facts = ApprovalFacts(subject, decisions,
                          tuple(r for r in mine if r.get("action") == APPROVAL),
                          adapters.identity.actor, request.now or datetime.now(UTC),
                          request.reviews.reviews() if request.reviews else None)
    found = approvals_result(required, facts, loaded.location(milestone.id, ""))
    return (found,) if found is not None else ()


def _audit_ref(record: Mapping[str, Any] | None) -> str | None:
    return f"audit:{record.get('hash')}" if record is not None else None


def playbook_ref(request: GateRequest, loaded: LoadedPlaybook,
                 milestone: Milestone) -> PlaybookRef:
    return PlaybookRef(loaded.path, loaded.digest, playbook_commit(request.playbook),
                       loaded.milestone_digest(milestone.id))


def promote(result: Result, milestone: Milestone, adapters: Adapters,
            session: AuditSession) -> Result:
    """Set the milestone's alias on the pass just recorded, tag the version, record it."""
    assert result.audit is not None and result.decision is Decision.PASS
    tags = promotion_tags(milestone.id, result.playbook, result.audit.hash)
    with moved_alias(adapters.registry, result.model.name, result.model.version,
                     milestone.alias, tags) as promotion:
        promoted = result.with_promotion(promotion)
        session.append(promotion_entry(promoted, promotion, adapters.identity))
    return promoted


@contextmanager
def moved_alias(registry: Registry, name: str, version: str, alias: str,
                tags: Mapping[str, str]) -> Iterator[Promotion]:
    """Move ``alias`` to ``version`` (reading where it pointed first); if the body cannot
    record the move, move the alias back and raise RolledBackError (exit 3)."""
    previous = registry.alias_version(name, alias)
    registry.promote(name, version, alias, tags)
    try:
        yield Promotion(alias, version, previous)
    except AuditWriteError as exc:
        back = f"version {previous}" if previous else "unset"
        try:
            registry.restore_alias(name, alias, previous)
        except InfrastructureError as undo:
            raise RolledBackError(
                f"{exc}; the promotion could not be recorded and alias '{alias}' could NOT be "
                f"moved back to {back}: {undo}",
                hint=f"set alias '{alias}' of {name} back by hand") from exc
        raise RolledBackError(f"{exc}; the promotion could not be recorded, so alias "
                              f"'{alias}' was moved back ({back}): nothing was promoted") from exc


def _baseline(evidence: Evidence, loaded: LoadedPlaybook) -> BaselineRef | None:
    alias = loaded.playbook.baseline
    found = evidence.baseline(alias) if alias else None
    return BaselineRef(alias, found.version, found.run_id) if alias and found else None


@dataclass(frozen=True)
class PromotionOutcome:
    """What ``gatekeeper promote`` did: promoted (with the alias move) or refused (why)."""

    promoted: Promotion | None
    reason: str
    decision_hash: str | None = None

    def describe(self) -> str:
        """One line for the person who ran ``gatekeeper promote``."""
        p = self.promoted
        if p is None:
            return f"refused: {self.reason}"
        before = f" (was version {p.previous_version})" if p.previous_version else ""
        return (f"promoted: alias '{p.alias}' -> version {p.version}{before}; "
                f"decision {self.decision_hash}")


def run_promote(request: GateRequest, adapters: Adapters, max_age: timedelta,
                now: datetime) -> PromotionOutcome:
    """Promote on the latest decision for this version and milestone when it is a recent pass
    under the same milestone definition, after every earlier milestone passed; otherwise
    refuse and record the refusal. All of it under one hold of the audit store."""
    source, identity = adapters.source, adapters.identity
    policies = load_policies(request.policies)
    loaded, milestone = load_for(request, policies)
    version = source.resolve_version(request.model, request.version, request.alias)
    candidate = source.collect(request.model, version, EvidenceRequest()).candidate
    attested = attestations(candidate, policies)
    model = ModelRef(candidate.name, candidate.version, candidate.run_id, candidate.source)
    playbook = playbook_ref(request, loaded, milestone)
    wanted = [milestone.id, *(m.id for m in loaded.playbook.earlier(milestone.id))]
    with adapters.audit.session() as session:
        found = with_attested(session.latest_decisions(request.model, version,
                                                       candidate.run_id, wanted), attested)
        notes = refusals(attested)
        decision = found[milestone.id]
        reason = refusal(decision, playbook.milestone_digest, max_age, now, milestone.id,
                         notes.get(milestone.id))
        if reason is None and decision is not None:
            reason = promoter_problem(decision, identity.actor)
        if reason is None:
            reason = next((p for m, prior in priors(loaded, milestone, found, notes).items()
                           if (p := prior.problem(m)) is not None), None)
        if reason is not None:
            session.append(refusal_entry(model, milestone.id, playbook, reason, identity,
                                         alias=milestone.alias))
            return PromotionOutcome(None, reason)
        assert decision is not None
        ref = decision_ref(decision, adapters.audit.location)
        tags = promotion_tags(milestone.id, playbook, ref.hash)
        with moved_alias(adapters.registry, request.model, version, milestone.alias,
                         tags) as promotion:
            entry = recorded_promotion_entry(model, milestone.id, playbook, promotion, ref,
                                             identity, now=now, max_age=max_age)
            session.append({**entry, **attested_by(decision)})
    return PromotionOutcome(promotion, "recorded pass", ref.hash)


def decision_ref(decision: Mapping[str, Any], location: str) -> AuditRef:
    """Where the decision a promotion relies on is recorded: this store, or for a verified
    attestation the store of the job that made it (as the attestation names it)."""
    attestation = decision.get("attestation")
    if isinstance(attestation, Mapping):
        audit = attestation.get("audit") or {}
        return AuditRef(str(audit.get("log")), int(audit.get("seq") or 0), str(audit.get("hash")))
    return AuditRef(location, int(decision["seq"]), str(decision["hash"]))


def attested_by(decision: Mapping[str, Any]) -> dict[str, Any]:
    """The promotion record's ``attestation`` (tag, signer's key id and name) when the
    decision it relies on came from a verified attestation; empty otherwise."""
    attestation = decision.get("attestation")
    if not isinstance(attestation, Mapping):
        return {}
    return {"attestation": {k: attestation.get(k) for k in ("tag", "ref", "key_id", "signer",
                                                            "evidence_digest")}}


def refusal(decision: Mapping[str, Any] | None, digest: str | None, max_age: timedelta,
            now: datetime, milestone: str, note: str | None = None) -> str | None:
    """Why the latest decision for the milestone cannot promote, or None when it can
    (``note``: why an attestation tag for it did not count, said when there is no record)."""
    if decision is None:
        why = f" ({note})" if note else ""
        return (f"no passing decision for milestone '{milestone}' of this version in the audit "
                f"log{why}; run `gatekeeper check` first")
    where = f"{record_where(decision)}, {decision.get('recorded_at')}"
    if decision.get("decision") != "pass":
        return (f"the latest decision for milestone '{milestone}' is "
                f"{decision.get('decision')} ({where}); a newer block overrides an older pass")
    recorded_digest = (decision.get("playbook") or {}).get("milestone_digest")
    if recorded_digest != digest:
        return (f"the recorded pass ({where}) is for milestone digest {short(recorded_digest)}; "
                f"this playbook and its policies give {short(digest)} (the milestone's checks, "
                "thresholds or policies changed): run `gatekeeper check` again")
    try:
        recorded = datetime.fromisoformat(str(decision["recorded_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return f"the passing decision ({where}) has no readable time"
    if recorded - datetime.now(UTC) > CLOCK_SKEW:
        return f"the passing decision ({where}) is stamped in the future"
    if now < recorded:
        return f"--now {now.isoformat()} is earlier than the decision it relies on ({where})"
    if now - recorded > max_age:
        return (f"the passing decision ({where}) is older than {max_age}; "
                "run `gatekeeper check` again")
    return None


def promotion_tags(milestone_id: str, playbook: PlaybookRef, audit_hash: str) -> dict[str, str]:
    prefix = f"gatekeeper.{milestone_id}"
    return {f"{prefix}.decision": "pass", f"{prefix}.playbook_digest": playbook.digest,
            f"{prefix}.milestone_digest": str(playbook.milestone_digest),
            f"{prefix}.audit_hash": audit_hash}
