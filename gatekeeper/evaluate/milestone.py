"""Evaluate one milestone's checks against collected evidence: pure, no I/O.

The caller gathers evidence first (see ``pipeline.py``), so a decision can be reproduced from
its audit record; what the outcomes mean for the verdict is the decide step's (``decide/``).
"""

from __future__ import annotations

from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.interface import CheckSpecBase, Outcome, Status
from gatekeeper.evidence.interface import Evidence, EvidenceRequest
from gatekeeper.load.model import Milestone


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


def evaluate_milestone(milestone: Milestone, evidence: Evidence
                       ) -> tuple[tuple[CheckSpecBase, Outcome], ...]:
    """Each check of ``milestone`` with its outcome, in the playbook's order."""
    return tuple((spec, evaluate_check(spec, evidence)) for spec in milestone.checks)
