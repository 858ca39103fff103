"""What a reviewer reads out of the audit records (`gatekeeper audit log | export | report`):
the records of one model version or alias, the outcome of verifying the store as plain lines,
and each decision as an in-toto Statement. Pure functions over records already read; the CLI
reads the store and a renderer (render/review.py, render/dossier.py) writes the text.

    scope = select_scope(records, "churn", alias="champion")     # Scope(versions, records)
    chain = chain_check(store.verify())                           # ChainCheck(ok, count, lines)
    statement = decision_statement(record, store.location)        # in-toto Statement v1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gatekeeper.record.query import nested
from gatekeeper.record.records import DECISION, PROMOTION, evidence_digest

APPROVALS_CHECK = "gatekeeper.approvals"


@dataclass(frozen=True)
class Scope:
    """The records a dossier covers, oldest first, and the versions they are about."""

    model: str
    alias: str | None
    versions: tuple[str, ...]
    records: tuple[Mapping[str, Any], ...]

    @property
    def title(self) -> str:
        """``churn version 3``, ``churn alias champion (versions 2, 3)``, ``churn``."""
        if self.alias is not None and not self.versions:
            return f"{self.model} alias {self.alias} (never moved by the gate)"
        if self.alias is not None:
            return (f"{self.model} alias {self.alias} "
                    f"(version{'s' if len(self.versions) != 1 else ''} "
                    f"{', '.join(self.versions)})")
        if len(self.versions) == 1:
            return f"{self.model} version {self.versions[0]}"
        return f"{self.model} (every version)"


def select_scope(records: Iterable[Mapping[str, Any]], model: str, *,
                 version: str | None = None, alias: str | None = None) -> Scope:
    """The records of ``model`` at ``version``; or of every version ``alias`` pointed to
    according to its gate promotions (before and after each move), with the refusals to move
    it; or, with neither, every record of ``model``."""
    own = [r for r in records if str(nested(r, "model", "name")) == model]
    if alias is not None:
        versions = alias_versions(own, alias)
        chosen = [r for r in own if _version(r) in versions
                  or nested(r, "promotion", "alias") == alias]
        return Scope(model, alias, versions, tuple(chosen))
    if version is not None:
        chosen = [r for r in own if _version(r) == str(version)]
        return Scope(model, None, (str(version),), tuple(chosen))
    return Scope(model, None, _unique(_version(r) for r in own), tuple(own))


def alias_versions(records: Iterable[Mapping[str, Any]], alias: str) -> tuple[str, ...]:
    """Every version ``alias`` pointed to, in the order the gate's promotions show them."""
    seen: list[str | None] = []
    for record in records:
        if record.get("action") == PROMOTION and nested(record, "promotion", "alias") == alias:
            seen += [nested(record, "promotion", "previous_version"),
                     nested(record, "promotion", "version")]
    return _unique(None if v is None else str(v) for v in seen)


def _version(record: Mapping[str, Any]) -> str | None:
    version = nested(record, "model", "version")
    return None if version is None else str(version)


def _unique(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v is not None))


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of the store's ``verify()`` as a reviewer reads it: intact or not, how
    many records, and one line per finding or note."""

    ok: bool
    count: int
    lines: tuple[str, ...]


def chain_check(verification: Any, *checked: str) -> ChainCheck:
    """``verify()``'s answer as lines: a ``Report`` (``inspect``: every finding with its code,
    then ``checked``, what was and was not checked, then its notes) or a ``Verification``
    (the first bad record, or whether signatures were checked)."""
    findings = getattr(verification, "findings", None)
    if findings is not None:
        lines = [f.text() if hasattr(f, "text") else str(f) for f in findings]
        lines += [*checked, *(str(n) for n in getattr(verification, "notes", ()))]
        return ChainCheck(bool(verification.ok), int(verification.count), tuple(lines))
    if not verification.ok:
        lines = [str(verification.reason)]
    elif getattr(verification, "key_id", None) is None:
        lines = ["signatures not checked (no key given)"]
    else:
        lines = [f"signatures valid (key_id {verification.key_id})"]
    return ChainCheck(bool(verification.ok), int(verification.count), tuple(lines))


def decision_statement(record: Mapping[str, Any], log: str) -> dict[str, Any]:
    """The in-toto Statement v1 of one decision record, exactly as its signed attestation
    states it (record/attestation.py): the subject is the model version (a digest of its name,
    number and run), the predicate the decision, its digests and the record (``log``: the
    store's location)."""
    # Imported here: the signing stack is not needed by the other `audit` commands.
    from gatekeeper.record.attestation import decision_statement as attested

    model = {"name": nested(record, "model", "name"),
             "version": _version(record), "run_id": nested(record, "model", "run_id")}
    return attested(decision_predicate(record, model, log))


def decision_predicate(record: Mapping[str, Any], model: Mapping[str, Any],
                       log: str) -> dict[str, Any]:
    """The fields an attestation signs (record/attestation.py), read back from a record."""
    criteria, evidence = _mapping(record.get("criteria")), _mapping(record.get("evidence"))
    policies = record.get("policies")
    return {
        "model": dict(model),
        "milestone": record.get("milestone"),
        "decision": record.get("decision"),
        "milestone_digest": nested(record, "playbook", "milestone_digest"),
        "playbook_digest": nested(record, "playbook", "digest"),
        "policies": [{"id": nested(p, "id"), "digest": nested(p, "digest")}
                     for p in (policies if isinstance(policies, list) else [])],
        "evidence_digest": evidence_digest(criteria, evidence),
        "decided_at": record.get("finished_at") or record.get("recorded_at"),
        "audit": {"log": log, "seq": record.get("seq"), "hash": record.get("hash")},
        "approvers": approvers(evidence),
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def approvers(evidence: Mapping[str, Any]) -> list[dict[str, str]]:
    """Who approved the decision ({approver, role}), as its approvals check observed."""
    observed = nested(evidence, APPROVALS_CHECK, "observed")
    if not isinstance(observed, list):
        return []
    return [{"approver": str(i.get("approver")), "role": str(i.get("role"))}
            for i in observed if isinstance(i, Mapping)]


def decisions(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The decision records among ``records``."""
    return [r for r in records if r.get("action") == DECISION]


@dataclass(frozen=True)
class Dossier:
    """What `gatekeeper audit report` hands an auditor: the records in scope, the outcome of
    verifying the whole store they come from, where it is and when this was made."""

    scope: Scope
    chain: ChainCheck
    location: str
    generated_at: str
