"""Audit entries built from a ``Result``: what was decided, on which evidence, by whom.

An entry is the part of a record that the caller supplies; ``AuditLog.append`` adds the integrity
fields. Every value is reduced to plain JSON here (see ``to_plain``) so that one odd observed value
can never stop a decision from being recorded.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import rfc8785

from gatekeeper.common.redact import redact_secrets
from gatekeeper.record.identity import Identity, is_sensitive
from gatekeeper.record.sealed import seal

if TYPE_CHECKING:
    # Type-only: keeps `import gatekeeper.record` light for the `audit` commands.
    from gatekeeper.decide.result import (
        AuditRef,
        CheckResult,
        ModelRef,
        PlaybookRef,
        Promotion,
        Result,
    )

DECISION = "decision"
PROMOTION = "promotion"
PROMOTION_REFUSED = "promotion_refused"
WAIVER_USE = "waiver_use"
APPROVAL = "approval"
REDACTION = "redaction"
#: Written by ``gatekeeper audit repair`` after it removed a torn last line.
REPAIR = "repair"
ACTIONS = (DECISION, PROMOTION, PROMOTION_REFUSED, WAIVER_USE, APPROVAL, REDACTION, REPAIR)
#: Results left out of an evidence digest: the approvals result itself changes as approvals
#: arrive, and must not void the approvals it counts (docs/approvals.md).
UNDIGESTED_KINDS = frozenset({"approvals"})

# RFC 8785 (I-JSON) numbers are IEEE doubles: larger integers would not survive a round trip.
_MAX_SAFE_INT = 2**53 - 1
#: The shortest time a record is kept (six months), whatever a policy says (``audit:
#: retention_days`` may only lengthen it).
MIN_RETENTION_DAYS = 183


def decision_entry(result: Result, identity: Identity, *,
                   retention_days: int = MIN_RETENTION_DAYS,
                   now: datetime | None = None) -> dict[str, Any]:
    """The record of one gate evaluation (see :func:`sealed_decision_entry`), its sealed
    values left out: only their digests are kept."""
    return sealed_decision_entry(result, identity, retention_days=retention_days, now=now)[0]


def sealed_decision_entry(result: Result, identity: Identity, *,
                          retention_days: int = MIN_RETENTION_DAYS,
                          now: datetime | None = None
                          ) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The record of one gate evaluation: criteria, evidence, verdict and reasons, what the
    checks read (``evidence_digests``), how long it is kept (``retain_until``, from ``now``,
    default the clock); and the sealed values the record's digests stand for, to keep beside
    it (record/sealed.py ``append_sealed``)."""
    checks = _unique_checks(result.checks)
    held, sealed = _evidence_digests(result.evidence_digests)
    return _plain_entry({
        "action": DECISION,
        **_who(identity),
        **_subject(result.model, result.milestone.id, result.playbook),
        "criteria": {c.id: _criterion(c) for c in checks},
        "evidence": {c.id: _evidence(c) for c in checks},
        "decision": result.decision.value,
        "reasons": _reasons(checks),
        "waivers": _waivers(checks),
        **_waiver_report(result),
        "baseline": asdict(result.baseline) if result.baseline else None,
        "policies": [asdict(p) for p in result.policies],
        "summary": result.summary,
        **_timing(result),
        "evidence_digests": held,
        "retain_until": retain_until(now or datetime.now(UTC), retention_days),
    }), _plain_entry(sealed)


def retain_until(at: datetime, days: int) -> str:
    """The end of the UTC day after ``at`` + ``days`` (at least MIN_RETENTION_DAYS): never
    earlier than the record's own ``recorded_at`` + ``days``, which the store stamps a moment
    after the entry is built."""
    last = (at.astimezone(UTC) + timedelta(days=max(days, MIN_RETENTION_DAYS) + 1)).date()
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return end.isoformat().replace("+00:00", "Z")


def _evidence_digests(found: Mapping[str, Mapping[str, Any]]
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the record's hashed body holds for each item read, and the sealed values: a tag's
    value becomes ``{"sealed": sha256(salt || value)}`` beside its sealed value and salt, so
    redacting it later keeps the chain whole (record/sealed.py)."""
    held: dict[str, Any] = {}
    sealed: dict[str, Any] = {}
    for ref in sorted(found):
        item = dict(found[ref])
        if "value" in item:
            item["sealed"], sealed[ref] = seal(str(item.pop("value")))
        held[ref] = item
    return held, sealed


def waiver_use_entries(result: Result, identity: Identity) -> list[dict[str, Any]]:
    """One record per waived check of ``result``, pointing at its decision record
    (``result.audit``): who owned and approved the waiver, why, its ticket and expiry."""
    return [_plain_entry({
        "action": WAIVER_USE,
        **_who(identity),
        **_subject(result.model, result.milestone.id, result.playbook),
        "check": c.id,
        "category": c.category,
        "observed": c.observed,
        "threshold": c.threshold,
        "waiver": dict(c.waiver or {}),
        "decision": result.decision.value,
        "decision_ref": asdict(result.audit) if result.audit else None,
        "retain_until": retain_until(datetime.now(UTC), MIN_RETENTION_DAYS),
    }) for c in result.checks if c.status.value == "waived"]


def promotion_entry(result: Result, promotion: Promotion, identity: Identity) -> dict[str, Any]:
    """The record of an alias move by `check --promote`, pointing at the decision record
    (``result.audit``) that allowed it.

    Criteria and evidence are not repeated: ``decision_ref`` names the record that holds them.
    Raises ValueError for a result that did not pass, since recording it would hide a bug.
    """
    if result.decision.value != "pass":
        raise ValueError(f"cannot record a promotion of a {result.decision.value!r} result")
    entry = _promotion(
        result.model, result.milestone.id, result.playbook, promotion, result.audit, identity
    )
    return _plain_entry({
        **entry,
        "baseline": asdict(result.baseline) if result.baseline else None,
        "summary": result.summary,
        **_timing(result),
    })


def recorded_promotion_entry(
    model: ModelRef,
    milestone: str,
    playbook: PlaybookRef | None,
    promotion: Promotion,
    decision_ref: AuditRef,
    identity: Identity,
    *,
    now: datetime,
    max_age: timedelta,
) -> dict[str, Any]:
    """The record of an alias move by `gatekeeper promote`, on the strength of the passing
    decision record ``decision_ref`` found in the log (there is no fresh Result). ``now``
    (the clock or ``--now``) and ``max_age`` are what the decision's age was judged by."""
    entry = _promotion(model, milestone, playbook, promotion, decision_ref, identity)
    at = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return _plain_entry({**entry, "judged_at": at, "max_age_s": max_age.total_seconds()})


def refusal_entry(
    model: ModelRef,
    milestone: str,
    playbook: PlaybookRef | None,
    reason: str,
    identity: Identity,
    *,
    alias: str | None = None,
    decision_ref: AuditRef | None = None,
) -> dict[str, Any]:
    """The record of a refused promotion. No result is needed: the usual reason for refusing
    is that no passing decision exists."""
    return _plain_entry({
        "action": PROMOTION_REFUSED,
        **_who(identity),
        **_subject(model, milestone, playbook),
        "reasons": [reason],
        "promotion": {"alias": alias},
        "decision_ref": asdict(decision_ref) if decision_ref else None,
        "retain_until": retain_until(datetime.now(UTC), MIN_RETENTION_DAYS),
    })


def approval_entry(envelope: Mapping[str, Any], identity: Identity,
                   decision_ref: AuditRef) -> dict[str, Any]:
    """The record of one signed approval (record/approval.py): the envelope as signed, who
    ran ``gatekeeper approve``, and the decision record it is bound to."""
    payload = envelope["payload"]
    return _plain_entry({
        "action": APPROVAL,
        **_who(identity),
        "model": {"name": payload["model"], "version": payload["version"],
                  "run_id": payload["run_id"]},
        "milestone": payload["milestone"],
        "role": payload["role"],
        "approver": payload["approver"],
        "expires_at": payload["expires_at"],
        "decision_ref": asdict(decision_ref),
        "envelope": dict(envelope),
        "retain_until": retain_until(datetime.now(UTC), MIN_RETENTION_DAYS),
    })


def redaction_entry(record: Mapping[str, Any], ref: str, digest: str, reason: str | None,
                    identity: Identity, *, now: datetime) -> dict[str, Any]:
    """The record of one redaction (record/sealed.py ``redact``): which record and value,
    the digest that stays in it, why, and who did it."""
    return _plain_entry({
        "action": REDACTION,
        **_who(identity),
        "model": record.get("model"),
        "milestone": record.get("milestone"),
        "redacted": {"seq": record.get("seq"), "hash": record.get("hash"), "ref": ref,
                     "digest": digest},
        "reason": reason,
        "retain_until": retain_until(now, MIN_RETENTION_DAYS),
    })


def checks_evidence(checks: Sequence[CheckResult]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``criteria`` and ``evidence`` a decision record holds for ``checks``, as a reader
    of the record parses them back."""
    unique = _unique_checks(tuple(checks))
    plain = _plain_entry({"criteria": {c.id: _criterion(c) for c in unique},
                          "evidence": {c.id: _evidence(c) for c in unique}})
    parsed = json.loads(json.dumps(plain, allow_nan=False))
    return parsed["criteria"], parsed["evidence"]


def evidence_digest(criteria: Mapping[str, Any], evidence: Mapping[str, Any]) -> str:
    """sha256 over what a decision found: each check's kind, category, blocking flag,
    threshold and status, without the approvals result (it changes as approvals arrive).

    Observed values and evidence references are left out on purpose: live sources are read at
    a new instant every run (a Prometheus reference names its query time, a pilot's P95 moves
    a little), so an approval bound to them would never survive the next ``check``. An
    approval approves outcomes under the milestone's thresholds; a check whose status changes
    voids it. Computed the same way from a decision record and from a gate run's checks."""
    content = {
        check: {**criterion, "status": dict(evidence.get(check) or {}).get("status")}
        for check, criterion in criteria.items()
        if isinstance(criterion, Mapping) and criterion.get("kind") not in UNDIGESTED_KINDS}
    return "sha256:" + hashlib.sha256(rfc8785.dumps(content)).hexdigest()


def _plain_entry(entry: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = to_plain(entry)
    return plain


def _promotion(
    model: ModelRef,
    milestone: str,
    playbook: PlaybookRef | None,
    promotion: Promotion,
    decision_ref: AuditRef | None,
    identity: Identity,
) -> dict[str, Any]:
    # Only a pass is ever promoted: both callers hold one (a Result or a found record).
    return {
        "action": PROMOTION,
        **_who(identity),
        **_subject(model, milestone, playbook),
        "decision": "pass",
        "reasons": [],
        "promotion": asdict(promotion),
        "decision_ref": asdict(decision_ref) if decision_ref else None,
        "retain_until": retain_until(datetime.now(UTC), MIN_RETENTION_DAYS),
    }


def to_plain(value: Any) -> Any:
    """``value`` as plain JSON that RFC 8785 accepts, with URL credentials masked.

    NaN and infinities become the strings "NaN", "Infinity" and "-Infinity"; integers beyond
    2**53 and unknown objects become strings. A metric can legitimately be NaN, and a lossy but
    visible value beats a decision that cannot be recorded.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if isinstance(value, str):
        return redact_secrets(value)  # a credential pasted into a URI must not reach the log
    if isinstance(value, int):
        return value if abs(value) <= _MAX_SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        return [to_plain(v) for v in value]
    return to_plain(str(value))


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _who(identity: Identity) -> dict[str, Any]:
    # Re-filtered here too: an Identity may be built by hand, not only by current_identity.
    ci = {k: v for k, v in identity.ci.items() if not is_sensitive(k)}
    return {"actor": identity.actor, "actor_source": identity.actor_source, "ci": ci}


def _subject(model: ModelRef, milestone: str, playbook: PlaybookRef | None) -> dict[str, Any]:
    return {
        "model": asdict(model),
        "milestone": milestone,
        "playbook": asdict(playbook) if playbook else None,
    }


def _timing(result: Result) -> dict[str, Any]:
    return {
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "gatekeeper_version": result.gatekeeper_version,
    }


def _unique_checks(checks: tuple[CheckResult, ...]) -> tuple[CheckResult, ...]:
    # Criteria and evidence are keyed by check id: a duplicate would silently drop evidence.
    seen: set[str] = set()
    for check in checks:
        if check.id in seen:
            raise ValueError(f"duplicate check id {check.id!r}: evidence would be lost")
        seen.add(check.id)
    return checks


def _criterion(check: CheckResult) -> dict[str, Any]:
    return {
        "kind": check.kind,
        "category": check.category,
        "blocking": check.blocking,
        "threshold": check.threshold,
    }


def _evidence(check: CheckResult) -> dict[str, Any]:
    return {
        "status": check.status,
        "observed": check.observed,
        "evidence": dict(check.evidence),
        "message": check.message,
    }


def _reasons(checks: tuple[CheckResult, ...]) -> list[str]:
    if not checks:
        return ["no checks: an empty gate never passes"]
    return [f"{c.id}: {c.message}" for c in checks if c.blocks]


def _waiver_report(result: Result) -> dict[str, Any]:
    """With ``--waivers``: the files read (and their digests), and the waivers in scope that
    did nothing, with why; a reviewer sees what was tried, not only what was used."""
    report = result.waivers
    if report is None:
        return {}
    return {"waiver_files": [asdict(f) for f in report.files],
            "waivers_ignored": [asdict(n) for n in report.ignored],
            "waivers_unmatched": [asdict(n) for n in report.unmatched]}


def _waivers(checks: tuple[CheckResult, ...]) -> list[dict[str, Any]]:
    used = (c for c in checks if c.status.value == "waived")
    return [{"check": c.id, "waiver": dict(c.waiver or {})} for c in used]
