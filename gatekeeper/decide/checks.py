"""From check outcomes to the results a verdict is taken on: advisory checks report but never
block, and a milestone counts only after every earlier milestone passed under the same
definition (see ``LoadedPlaybook.milestone_digest``). Waivers and approvals belong here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gatekeeper.decide.remedy import remedy
from gatekeeper.decide.result import CheckResult
from gatekeeper.evaluate.interface import Category, CheckSpecBase, Outcome, Status
from gatekeeper.load.model import Milestone
from gatekeeper.load.playbook import LoadedPlaybook

PREREQUISITE_ID = "gatekeeper.earlier-milestones"


@dataclass(frozen=True)
class Prior:
    """What the audit store holds for one earlier milestone: its latest decision record for
    this version (None: never gated; a verified attestation stands in for a record the store
    does not have, docs/attestations.md) and the digest a pass must carry to count now.
    ``note`` says why an attestation tag for it did not count, when one did not."""

    record: Mapping[str, Any] | None
    digest: str
    note: str | None = None

    def problem(self, milestone: str) -> str | None:
        """Why this milestone does not count as passed, or None when it does."""
        record = self.record
        if record is None:
            note = f"; {self.note}" if self.note else ""
            return f"'{milestone}' has no decision for this version in the audit log{note}"
        where = record_where(record)
        if record.get("decision") != "pass":
            return f"the latest decision for '{milestone}' is {record.get('decision')} ({where})"
        recorded = (record.get("playbook") or {}).get("milestone_digest")
        if recorded != self.digest:
            return (f"'{milestone}' passed ({where}) under milestone digest "
                    f"{short(recorded)}, not this playbook's {short(self.digest)} (its checks, "
                    "thresholds or policies differ)")
        return None

    @property
    def ref(self) -> str:
        """Where the decision is: ``audit:<hash>``, or the attestation tag it came from."""
        record = self.record or {}
        attestation = record.get("attestation")
        if isinstance(attestation, Mapping) and attestation.get("ref"):
            return f"attestation:{attestation['ref']}"
        return f"audit:{record.get('hash')}"


def record_where(record: Mapping[str, Any]) -> str:
    """``record 4``, or ``attestation gatekeeper.attestation.poc signed by ci-release`` for a
    decision known from a verified attestation."""
    attestation = record.get("attestation")
    if isinstance(attestation, Mapping):
        return f"attestation {attestation.get('tag')} signed by {attestation.get('signer')}"
    return f"record {record.get('seq')}"


def short(digest: object) -> str:
    """``sha256:1a2b3c4d5e6f`` (enough to tell digests apart in a message)."""
    return "none (recorded before milestone digests)" if digest is None else str(digest)[:19]


def decide_checks(loaded: LoadedPlaybook, milestone: Milestone,
                  outcomes: Sequence[tuple[CheckSpecBase, Outcome]],
                  priors: Mapping[str, Prior]) -> tuple[CheckResult, ...]:
    """The prerequisite result (when the milestone has earlier ones), then one per check."""
    results = [check_result(spec, outcome, loaded, milestone) for spec, outcome in outcomes]
    if priors:
        results.insert(0, prerequisite_result(priors, loaded, milestone))
    return tuple(results)


def check_result(spec: CheckSpecBase, outcome: Outcome, loaded: LoadedPlaybook,
                 milestone: Milestone) -> CheckResult:
    status = outcome.status
    if status is Status.FAIL and not spec.blocking:
        status = Status.WARN  # advisory checks report, never block
    return CheckResult(
        id=spec.id, kind=spec.kind, category=spec.category, status=status,
        blocking=spec.blocking, message=outcome.message, observed=outcome.observed,
        threshold=outcome.threshold, evidence=dict(outcome.evidence),
        location=loaded.location(milestone.id, spec.id), owner=spec.owner,
        remedy=remedy(status, outcome.observed, outcome.threshold, outcome.evidence, spec.kind),
    )


def prerequisite_result(priors: Mapping[str, Prior], loaded: LoadedPlaybook,
                        milestone: Milestone) -> CheckResult:
    """A milestone can only pass for a version that passed every earlier milestone, under the
    definition of that milestone the current playbook and policies give."""
    missing = [m for m, prior in priors.items() if prior.record is None]
    problems = [p for m, prior in priors.items()
                if prior.record is not None and (p := prior.problem(m)) is not None]
    found = {m: str(prior.record.get("hash")) for m, prior in priors.items()
             if prior.record is not None and prior.problem(m) is None}
    if missing:
        notes = [n for m in missing if (n := priors[m].note)]
        problems[:0] = [f"earlier milestone{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)} not passed for this version (no passing "
                        "decision in the audit log)", *notes]
    if problems:
        status, message = Status.FAIL, "; ".join(problems)
    else:
        status, message = Status.PASS, f"earlier milestones passed: {', '.join(found)}"
    return CheckResult(
        id=PREREQUISITE_ID, kind="prerequisite", category=Category.GOVERNANCE, status=status,
        blocking=True, message=message, observed=found,
        threshold={m: prior.digest for m, prior in priors.items()},
        evidence={m: priors[m].ref for m in found},
        location=loaded.location(milestone.id, ""),
        remedy=remedy(status, found, None, {}, "prerequisite"),
    )
