"""The pipeline of one ``gatekeeper check``: load playbook → collect evidence → evaluate →
decide → record (audit) → act (promote). Rendering is the CLI's job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from gatekeeper import __version__
from gatekeeper.decide.result import (
    AuditRef,
    BaselineRef,
    Decision,
    MilestoneRef,
    ModelRef,
    PlaybookRef,
    Promotion,
    Result,
)
from gatekeeper.errors import InvalidInputError
from gatekeeper.evaluate.milestone import evaluate_milestone, evidence_request
from gatekeeper.evidence.external import with_external
from gatekeeper.evidence.gitinfo import playbook_commit
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, EvidenceSource
from gatekeeper.load.model import Milestone
from gatekeeper.load.playbook import LoadedPlaybook, find_milestone, load_playbook
from gatekeeper.record import (
    AuditLog,
    Identity,
    decision_entry,
    promotion_entry,
    recorded_promotion_entry,
    refusal_entry,
)


class Registry(Protocol):
    """Where aliases are set (the MLflow registry in production, a fake in unit tests)."""

    def promote(self, name: str, version: str, alias: str,
                tags: Mapping[str, str]) -> str | None: ...


@dataclass(frozen=True)
class Adapters:
    """The edges the pipeline talks to: where evidence comes from, where decisions are
    recorded, where aliases are set, and who is acting."""

    source: EvidenceSource
    audit: AuditLog
    registry: Registry
    identity: Identity


@dataclass(frozen=True)
class GateRequest:
    playbook: Path
    model: str
    version: str | None
    alias: str | None
    milestone: str
    promote: bool = False
    policies: Path | None = None


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_for(request: GateRequest) -> tuple[LoadedPlaybook, Milestone]:
    """Load the playbook and check that it gates this model and has this milestone."""
    loaded = load_playbook(request.playbook)
    if loaded.playbook.model != request.model:
        raise InvalidInputError(f"{loaded.path}: this playbook gates model "
                                f"'{loaded.playbook.model}', not '{request.model}'")
    return loaded, find_milestone(loaded, request.milestone)


def run_gate(request: GateRequest, adapters: Adapters) -> Result:
    """Evaluate one milestone for one version, record the decision, promote on a pass."""
    source, audit, identity = adapters.source, adapters.audit, adapters.identity
    started = utcnow()
    loaded, milestone = load_for(request)
    version = source.resolve_version(request.model, request.version, request.alias)
    wanted = evidence_request(milestone)
    evidence = source.collect(request.model, version, wanted)
    evidence = with_external(evidence, wanted.external)  # Prometheus etc., before any check
    candidate = evidence.candidate
    earlier = audit.find_decisions(request.model, version, candidate.run_id,
                                   [m.id for m in loaded.playbook.earlier(milestone.id)])
    result = Result(
        model=ModelRef(candidate.name, candidate.version, candidate.run_id, candidate.source),
        milestone=MilestoneRef(milestone.id, milestone.title),
        playbook=PlaybookRef(loaded.path, loaded.digest, playbook_commit(request.playbook)),
        baseline=_baseline(evidence, loaded),
        checks=evaluate_milestone(loaded, milestone, evidence, earlier),
        actor=identity.actor, started_at=started, finished_at=utcnow(),
        gatekeeper_version=__version__,
    )
    result = result.with_audit(audit.append(decision_entry(result, identity)))
    if request.promote and result.decision is Decision.PASS:
        result = promote(result, milestone, adapters)
    return result


def promote(result: Result, milestone: Milestone, adapters: Adapters) -> Result:
    """Set the milestone's alias on a recorded pass, tag the version, record the promotion."""
    assert result.audit is not None and result.decision is Decision.PASS
    tags = promotion_tags(milestone.id, result.playbook.digest, result.audit.hash)
    previous = adapters.registry.promote(result.model.name, result.model.version,
                                         milestone.alias, tags)
    promotion = Promotion(milestone.alias, result.model.version, previous)
    promoted = result.with_promotion(promotion)
    adapters.audit.append(promotion_entry(promoted, promotion, adapters.identity))
    return promoted


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
    """Promote on a recorded, recent pass of the same playbook digest, after every earlier
    milestone passed; otherwise refuse and record the refusal."""
    source, audit, identity = adapters.source, adapters.audit, adapters.identity
    loaded, milestone = load_for(request)
    version = source.resolve_version(request.model, request.version, request.alias)
    candidate = source.collect(request.model, version, EvidenceRequest()).candidate
    model = ModelRef(candidate.name, candidate.version, candidate.run_id, candidate.source)
    playbook = PlaybookRef(loaded.path, loaded.digest, playbook_commit(request.playbook))
    decision = audit.find_decision(request.model, version, candidate.run_id, milestone.id,
                                   playbook_digest=loaded.digest)
    reason = _refusal(decision, max_age, now, milestone.id)
    earlier = audit.find_decisions(request.model, version, candidate.run_id,
                                   [m.id for m in loaded.playbook.earlier(milestone.id)])
    missing = [m for m, record in earlier.items() if record is None]
    if reason is None and missing:
        reason = f"earlier milestone '{missing[0]}' has not passed for version {version}"
    if reason is not None:
        audit.append(refusal_entry(model, milestone.id, playbook, reason, identity,
                                   alias=milestone.alias))
        return PromotionOutcome(None, reason)
    assert decision is not None
    decision_ref = AuditRef(str(audit.path), int(decision["seq"]), str(decision["hash"]))
    tags = promotion_tags(milestone.id, loaded.digest, decision_ref.hash)
    previous = adapters.registry.promote(request.model, version, milestone.alias, tags)
    promotion = Promotion(milestone.alias, version, previous)
    audit.append(recorded_promotion_entry(model, milestone.id, playbook, promotion,
                                          decision_ref, identity))
    return PromotionOutcome(promotion, "recorded pass", decision_ref.hash)


def _refusal(decision: Mapping[str, object] | None, max_age: timedelta, now: datetime,
             milestone: str) -> str | None:
    if decision is None:
        return (f"no passing decision for milestone '{milestone}' with this playbook digest "
                "in the audit log; run `gatekeeper check` first")
    recorded = datetime.fromisoformat(str(decision["recorded_at"]).replace("Z", "+00:00"))
    if now - recorded > max_age:
        return (f"the passing decision (record {decision['seq']}, {decision['recorded_at']}) "
                f"is older than {max_age}; run `gatekeeper check` again")
    return None


def promotion_tags(milestone_id: str, digest: str, audit_hash: str) -> dict[str, str]:
    prefix = f"gatekeeper.{milestone_id}"
    return {f"{prefix}.decision": "pass", f"{prefix}.playbook_digest": digest,
            f"{prefix}.audit_hash": audit_hash}
