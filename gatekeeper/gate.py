"""The pipeline of one ``gatekeeper check``: load playbook → collect evidence → evaluate →
decide → record (audit) → act (promote). Rendering is the CLI's job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from gatekeeper import __version__
from gatekeeper.audit import AuditLog, Identity, decision_entry, promotion_entry
from gatekeeper.errors import InvalidInputError
from gatekeeper.evaluate import evaluate_milestone, evidence_request
from gatekeeper.evidence.interface import Evidence, EvidenceSource
from gatekeeper.gitinfo import playbook_commit
from gatekeeper.playbook.loader import LoadedPlaybook, find_milestone, load_playbook
from gatekeeper.playbook.model import Milestone
from gatekeeper.result import (
    BaselineRef,
    Decision,
    MilestoneRef,
    ModelRef,
    PlaybookRef,
    Promotion,
    Result,
)


class Registry(Protocol):
    """Where aliases are set (the MLflow registry in production, a fake in unit tests)."""

    def promote(self, name: str, version: str, alias: str,
                tags: Mapping[str, str]) -> str | None: ...


@dataclass(frozen=True)
class GateRequest:
    playbook: Path
    model: str
    version: str | None
    alias: str | None
    milestone: str
    promote: bool = False


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_for(request: GateRequest) -> tuple[LoadedPlaybook, Milestone]:
    """Load the playbook and check that it gates this model and has this milestone."""
    loaded = load_playbook(request.playbook)
    if loaded.playbook.model != request.model:
        raise InvalidInputError(f"{loaded.path}: this playbook gates model "
                                f"'{loaded.playbook.model}', not '{request.model}'")
    return loaded, find_milestone(loaded, request.milestone)


def run_gate(request: GateRequest, source: EvidenceSource, audit: AuditLog,
             registry: Registry, identity: Identity) -> Result:
    """Evaluate one milestone for one version, record the decision, promote on a pass."""
    started = utcnow()
    loaded, milestone = load_for(request)
    version = source.resolve_version(request.model, request.version, request.alias)
    evidence = source.collect(request.model, version, evidence_request(milestone))
    candidate = evidence.candidate
    earlier = {m.id: audit.find_decision(request.model, version, candidate.run_id, m.id)
               for m in loaded.playbook.earlier(milestone.id)}
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
        result = promote(result, milestone, registry, audit, identity)
    return result


def promote(result: Result, milestone: Milestone, registry: Registry, audit: AuditLog,
            identity: Identity) -> Result:
    """Set the milestone's alias on a recorded pass, tag the version, record the promotion."""
    assert result.audit is not None and result.decision is Decision.PASS
    prefix = f"gatekeeper.{milestone.id}"
    tags = {f"{prefix}.decision": result.decision.value,
            f"{prefix}.playbook_digest": result.playbook.digest,
            f"{prefix}.audit_hash": result.audit.hash}
    previous = registry.promote(result.model.name, result.model.version, milestone.alias, tags)
    promoted = result.with_promotion(Promotion(milestone.alias, result.model.version, previous))
    audit.append(promotion_entry(promoted, identity))
    return promoted


def _baseline(evidence: Evidence, loaded: LoadedPlaybook) -> BaselineRef | None:
    alias = loaded.playbook.baseline
    found = evidence.baseline(alias) if alias else None
    return BaselineRef(alias, found.version, found.run_id) if alias and found else None

