"""What the machine-read CI formats (``junit``, ``sarif``, ``github``) share: which check is
the prerequisite, the order from most to least severe, one-line values, the detail lines a
reader needs to act (owner, remedy, playbook line) and a fingerprint that is stable across runs.

Pure helpers; each format escapes what they return for its own medium.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from gatekeeper.decide.remedy import plain_number
from gatekeeper.decide.result import CheckResult, Result
from gatekeeper.evaluate.interface import Status

PREREQUISITE_KIND = "prerequisite"


def is_prerequisite(check: CheckResult) -> bool:
    """The check gatekeeper adds itself (every earlier milestone passed), not the playbook's."""
    return check.kind == PREREQUISITE_KIND


def severity(check: CheckResult) -> int:
    """0 most severe: a blocking fail/error, then an advisory fail/error, a warn, a waived
    failure, a skip, a pass."""
    if check.blocks:
        return 0
    if check.status.blocks:
        return 1
    return {Status.WARN: 2, Status.WAIVED: 3, Status.SKIP: 4}.get(check.status, 5)


def most_severe_first(checks: tuple[CheckResult, ...]) -> list[CheckResult]:
    """``checks`` by :func:`severity`; the prerequisite, then the playbook's order, within one
    severity (a stable sort keeps the order the result lists them in)."""
    return sorted(checks, key=lambda c: (severity(c), not is_prerequisite(c)))


def one_line(value: Any) -> str:
    """An observed value or threshold on one line: numbers without scientific notation,
    mappings as ``key value, ...``, lists comma-separated; None as an empty string."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {one_line(v)}".rstrip() for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(one_line(v) for v in value) or "none"
    return " ".join(plain_number(value).split())


def waiver_line(waiver: Mapping[str, Any] | None) -> str:
    """``W-7: synthetic test data (approved by ciso@..., expires 2027-01-01)``, or ``""``."""
    if not waiver:
        return ""
    approver = waiver.get("approver") or waiver.get("approved_by")
    notes = [f"approved by {approver}" if approver else "",
             f"expires {waiver['expires']}" if waiver.get("expires") else ""]
    extra = ", ".join(n for n in notes if n)
    reason = f": {waiver['reason']}" if waiver.get("reason") else ""
    return f"{waiver.get('id', 'waiver')}{reason}" + (f" ({extra})" if extra else "")


def where(check: CheckResult) -> str:
    """``playbooks/churn.yaml:44``, or ``""`` for a check without a playbook line."""
    return f"{check.location.file}:{check.location.line}" if check.location else ""


def details(check: CheckResult) -> dict[str, str]:
    """The non-empty facts about a check, in reading order: observed, threshold, owner,
    waiver, remedy, location."""
    facts = {"observed": one_line(check.observed), "threshold": one_line(check.threshold),
             "owner": check.owner or "", "waiver": waiver_line(check.waiver),
             "remedy": check.remedy or "", "location": where(check)}
    return {name: text for name, text in facts.items() if text}


def state(check: CheckResult) -> str:
    """``fail``, or ``fail (advisory)`` for a check that does not block."""
    return check.status.value + ("" if check.blocking else " (advisory)")


def fingerprint(result: Result, check: CheckResult) -> str:
    """sha256 hex of model name, milestone id and check id: the same check of the same model
    at the same milestone keeps it across runs and versions, whatever its message says."""
    key = "\0".join((result.model.name, result.milestone.id, check.id))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
