"""Attestations read back (docs/attestations.md): the ``gatekeeper.attestation.<milestone>``
tags of a model version, each verified and turned into the decision record it stands for, so
a job without the audit store that recorded a decision can still count it.

No I/O here: the tags were read with the version (``VersionEvidence.version_tags``). A tag
counts only when a key the policies trust signed it and it names this very version and
source run; anything else (unsigned, altered, signed by another key, about another version,
run or milestone) is reported, never counted. Whether its milestone digest is the current one
is judged with every other recorded decision (``decide.checks.Prior``, ``pipeline.refusal``).

    attested = read_attestations(candidate, trusted_keys(policies))
    found = with_attested(store.latest_decisions(...), attested)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gatekeeper.load.policy import TrustedKey
from gatekeeper.record.approval import key_id, parse_public_key
from gatekeeper.record.attestation import (
    APPROVALS_CHECK,
    AttestationRefused,
    Opened,
    milestone_of,
    open_attestation,
    subject_digest,
    subject_name,
)
from gatekeeper.record.signing import TrustedKeys

#: The ``source`` of a decision record that stands for a verified attestation.
ATTESTATION_SOURCE = "attestation"


@dataclass(frozen=True)
class VersionTags:
    """What attestations are read from: one version, its source run and its tags."""

    name: str
    version: str
    run_id: str | None
    tags: Mapping[str, str]

    def ref(self, tag: str) -> str:
        return f"mlflow:models/{self.name}/{self.version}/version_tags/{tag}"


@dataclass(frozen=True)
class Attestation:
    """One milestone's attestation tag: the decision record it stands for when it verified,
    else ``refused`` (why it does not count)."""

    milestone: str
    tag: str
    record: Mapping[str, Any] | None
    refused: str | None = None


def read_attestations(version: VersionTags, trusted: Sequence[TrustedKey]
                      ) -> dict[str, Attestation]:
    """Every attestation tag of ``version`` by milestone, verified against ``trusted``."""
    keys = TrustedKeys.parse(k.public_key for k in trusted)
    names = {key_id(parse_public_key(k.public_key)): k.id for k in trusted}
    found = {}
    for tag, text in sorted(version.tags.items()):
        milestone = milestone_of(tag)
        if milestone is not None:
            found[milestone] = _attestation(version, milestone, tag, text, keys, names)
    return found


def _attestation(version: VersionTags, milestone: str, tag: str, text: str,
                 keys: TrustedKeys, names: Mapping[str, str]) -> Attestation:
    try:
        opened = open_attestation(text, keys)
        _same_subject(opened, version, milestone)
    except AttestationRefused as exc:
        return Attestation(milestone, tag, None, str(exc))
    return Attestation(milestone, tag, decision_record(opened, version, tag,
                                                       names.get(opened.key_id, opened.key_id)))


def _same_subject(opened: Opened, version: VersionTags, milestone: str) -> None:
    """AttestationRefused unless the Statement is about this version, run and milestone (a
    tag copied from another version, or from another milestone's tag, never counts)."""
    name = subject_name(version.name, version.version)
    digest = subject_digest(version.name, version.version, version.run_id)
    subjects = opened.statement.get("subject")
    named = [s for s in subjects if isinstance(s, Mapping) and s.get("name") == name] \
        if isinstance(subjects, list) else []
    if not named:
        raise AttestationRefused(f"its subject is not {name}")
    if not any((s.get("digest") or {}).get("sha256") == digest for s in named):
        raise AttestationRefused(f"its subject digest is not this version's (source run "
                                 f"{version.run_id}): made for a version registered anew")
    model = opened.predicate.get("model")
    expected = {"name": version.name, "version": version.version, "run_id": version.run_id}
    if model != expected:
        raise AttestationRefused(f"its predicate names {model}, not {expected}")
    if opened.predicate.get("milestone") != milestone:
        raise AttestationRefused(f"it is about milestone {opened.predicate.get('milestone')!r}"
                                 f", not {milestone!r}")


def decision_record(opened: Opened, version: VersionTags, tag: str,
                    signer: str) -> dict[str, Any]:
    """The decision record a verified attestation stands for: the fields every reader of
    decision records uses (decision, milestone digest, time, hash, approvers), and where it
    came from."""
    p = opened.predicate
    found = p.get("audit")
    audit: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    return {
        "action": "decision",
        "source": ATTESTATION_SOURCE,
        "seq": None,
        "hash": audit.get("hash"),
        "recorded_at": p.get("decided_at"),
        "model": dict(p["model"]),
        "milestone": p.get("milestone"),
        "decision": p.get("decision"),
        "playbook": {"digest": p.get("playbook_digest"),
                     "milestone_digest": p.get("milestone_digest")},
        "policies": p.get("policies"),
        "evidence": {APPROVALS_CHECK: {"observed": p.get("approvers") or []}},
        "attestation": {"tag": tag, "ref": version.ref(tag), "key_id": opened.key_id,
                        "signer": signer, "audit": dict(audit),
                        "evidence_digest": p.get("evidence_digest")},
    }


def with_attested(found: Mapping[str, Mapping[str, Any] | None],
                  attested: Mapping[str, Attestation]) -> dict[str, Mapping[str, Any] | None]:
    """The audit store's latest decisions, each milestone it has none for filled in from a
    verified attestation (the store wins: it holds the full record, and a newer block)."""
    return {m: record if record is not None else
            (attested[m].record if m in attested else None)
            for m, record in found.items()}


def refusals(attested: Mapping[str, Attestation]) -> dict[str, str]:
    """Milestone → why its attestation tag did not count (for the prerequisite's message)."""
    return {m: f"attestation {a.tag} not counted: {a.refused}"
            for m, a in attested.items() if a.refused is not None}
