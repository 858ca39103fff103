"""Writing attestations (docs/attestations.md): after a decision is recorded, its in-toto
Statement, signed into a DSSE envelope, goes onto the model version as the tag
``gatekeeper.attestation.<milestone>``, replacing the milestone's previous one (the latest
decision is the one that counts, as in the audit store).

Every decision is attested when a signing key is configured, blocks included: a block in one
workspace must override a pass attested in another, exactly as a newer record does in a shared
audit store. Without a key nothing is written and ``check`` says so once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gatekeeper.decide.result import Result
from gatekeeper.errors import InfrastructureError
from gatekeeper.record.attestation import (
    APPROVALS_CHECK,
    approvers,
    decision_statement,
    envelope_text,
    seal,
    tag_key,
)
from gatekeeper.record.records import checks_evidence, evidence_digest, to_plain
from gatekeeper.record.signing import SIGNING_KEY_VARIABLE, Signer

#: Writes version tags: (model, version, tags). The MLflow registry in production.
Tagger = Callable[[str, str, Mapping[str, str]], None]
#: What ``check`` says, once, when no signing key is configured.
NO_KEY_NOTE = (f"no attestation written ({SIGNING_KEY_VARIABLE} is not set): a job that does "
               "not share this audit store cannot count this decision")


class AttestationError(InfrastructureError):
    """The decision is recorded, but its attestation could not be written (exit 3)."""


@dataclass(frozen=True)
class Attestor:
    """Signs decisions with ``signer`` and tags the version through ``tag``."""

    signer: Signer = field(repr=False)
    tag: Tagger

    def attest(self, result: Result) -> str:
        """Sign ``result`` (already recorded: ``result.audit`` set) and write its tag; return
        the tag's name. Raises AttestationError when the envelope cannot be written."""
        if result.audit is None:
            raise ValueError("attest a recorded result only")
        name = tag_key(result.milestone.id)
        statement = decision_statement(predicate(result), model_files_digest(result))
        text = envelope_text(seal(statement, self.signer))
        try:
            self.tag(result.model.name, result.model.version, {name: text})
        except InfrastructureError as exc:
            raise AttestationError(
                f"the decision is recorded (record {result.audit.seq}) but its attestation "
                f"tag {name} could not be written: {exc}",
                hint="run `gatekeeper check` again once the registry answers") from exc
        return name


def predicate(result: Result) -> dict[str, Any]:
    """The signed facts of one recorded decision (record/attestation.py PREDICATE_FIELDS);
    ``record_predicate`` rebuilds the same from its audit record."""
    assert result.audit is not None
    model = result.model
    approvals = next((c for c in result.checks if c.id == APPROVALS_CHECK), None)
    plain: dict[str, Any] = to_plain({
        "model": {"name": model.name, "version": model.version, "run_id": model.run_id},
        "milestone": result.milestone.id,
        "decision": result.decision.value,
        "milestone_digest": result.playbook.milestone_digest,
        "playbook_digest": result.playbook.digest,
        "policies": [{"id": p.id, "digest": p.digest} for p in result.policies],
        "evidence_digest": evidence_digest(*checks_evidence(result.checks)),
        # The gate's finish: the audit record is stamped a few milliseconds later.
        "decided_at": result.finished_at,
        "audit": asdict(result.audit),
        "approvers": approvers(approvals.observed if approvals is not None else None),
    })
    return plain


def model_files_digest(result: Result) -> str | None:
    """The manifest digest of the version's model files when the gate took it
    (``evidence/digests.py``: ``Result.evidence_digests`` by reference), else None."""
    model = result.model
    entry = result.evidence_digests.get(f"mlflow:models/{model.name}/{model.version}/model_files")
    found = entry.get("sha256") if isinstance(entry, Mapping) else None
    return found if isinstance(found, str) else None
