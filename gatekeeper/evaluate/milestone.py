"""Evaluate one milestone's checks against collected evidence: pure, no I/O.

The caller gathers evidence first (see ``gate.py``), so a decision can be reproduced from its
audit record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gatekeeper.decide.result import CheckResult
from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.interface import Category, CheckSpecBase, Outcome, Status
from gatekeeper.evidence.interface import Evidence, EvidenceRequest
from gatekeeper.load.model import Milestone
from gatekeeper.load.playbook import LoadedPlaybook

PREREQUISITE_ID = "gatekeeper.earlier-milestones"


def evidence_request(milestone: Milestone) -> EvidenceRequest:
    """The union of what every check of ``milestone`` needs."""
    request = EvidenceRequest()
    for spec in milestone.checks:
        request = request.merge(CHECK_KINDS[spec.kind].needs(spec))
    return request


def evaluate_check(spec: CheckSpecBase, evidence: Evidence) -> Outcome:
    """Run one check; a check that raises is an ``error`` (fail closed), never a pass."""
    try:
        return CHECK_KINDS[spec.kind].evaluate(spec, evidence)
    except Exception as exc:
        return Outcome(Status.ERROR, f"check could not be evaluated: {type(exc).__name__}: {exc}")


def evaluate_milestone(loaded: LoadedPlaybook, milestone: Milestone, evidence: Evidence,
                       earlier_passes: Mapping[str, Mapping[str, Any] | None]
                       ) -> tuple[CheckResult, ...]:
    """The prerequisite result (when the milestone has earlier ones), then one per check."""
    results = [_result(spec, evaluate_check(spec, evidence), loaded, milestone)
               for spec in milestone.checks]
    if earlier_passes:
        results.insert(0, prerequisite_result(earlier_passes))
    return tuple(results)


def _result(spec: CheckSpecBase, outcome: Outcome, loaded: LoadedPlaybook,
            milestone: Milestone) -> CheckResult:
    status = outcome.status
    if status is Status.FAIL and not spec.blocking:
        status = Status.WARN  # advisory checks report, never block
    return CheckResult(
        id=spec.id, kind=spec.kind, category=spec.category, status=status,
        blocking=spec.blocking, message=outcome.message, observed=outcome.observed,
        threshold=outcome.threshold, evidence=dict(outcome.evidence),
        location=loaded.location(milestone.id, spec.id),
    )


def prerequisite_result(earlier_passes: Mapping[str, Mapping[str, Any] | None]) -> CheckResult:
    """A milestone can only pass for a version that passed every earlier milestone."""
    missing = [m for m, record in earlier_passes.items() if record is None]
    found = {m: str(r.get("hash")) for m, r in earlier_passes.items() if r is not None}
    if missing:
        status = Status.FAIL
        message = (f"earlier milestone{'s' if len(missing) > 1 else ''} "
                   f"{', '.join(missing)} not passed for this version (no passing decision "
                   "in the audit log)")
    else:
        status, message = Status.PASS, f"earlier milestones passed: {', '.join(found)}"
    return CheckResult(
        id=PREREQUISITE_ID, kind="prerequisite", category=Category.GOVERNANCE, status=status,
        blocking=True, message=message, observed=found, threshold=list(earlier_passes),
        evidence={m: f"audit:{h}" for m, h in found.items()},
    )
