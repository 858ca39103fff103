"""Waivers applied to a milestone's check results (docs/waivers.md).

A waiver in scope (same model and milestone, the version in its range) turns each blocking
``fail`` of the checks it names into ``waived``, when it is approved (approver not the owner),
granted, unexpired at ``now`` and within every policy's waiver rules. Anything else does
nothing and is said: ``ignored`` (with the reason) or ``unmatched`` (nothing to waive).

Only ``fail`` is waived. An ``error`` means the gate did not see the evidence, and a waiver
accepts a known shortfall, not an unknown one; the prerequisite stands for recorded passes of
earlier milestones, which no waiver can stand in for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from gatekeeper.decide.result import (
    CheckResult,
    WaiverFileRef,
    WaiverNote,
    WaiverReport,
)
from gatekeeper.evaluate.interface import Status
from gatekeeper.load.policy import LoadedPolicy
from gatekeeper.load.waivers import PREREQUISITE_ID, LoadedWaiver, LoadedWaivers

#: Results gatekeeper adds from the organisation's policies (decide/integrity.py): what no
#: playbook can get around, a waiver file cannot either.
GUARDRAIL_KINDS = frozenset({"alias_integrity", "lineage"})


@dataclass(frozen=True)
class Scope:
    """The gate run a waiver must name: model, version and milestone."""

    model: str
    version: str
    milestone: str

    def holds(self, item: LoadedWaiver) -> bool:
        w = item.waiver
        return w.model == self.model and w.milestone == self.milestone and w.covers(self.version)


def apply_waivers(checks: Sequence[CheckResult], waivers: LoadedWaivers, scope: Scope,
                  policies: Sequence[LoadedPolicy], now: datetime
                  ) -> tuple[tuple[CheckResult, ...], WaiverReport]:
    """``checks`` with every waivable failure a valid waiver covers made ``waived``, and what
    became of each waiver in scope. Waivers are tried in file order; the first one that covers
    a failure is the one used."""
    out = list(checks)
    used: list[WaiverNote] = []
    ignored: list[WaiverNote] = []
    unmatched: list[WaiverNote] = []
    for item in (w for w in waivers.waivers if scope.holds(w)):
        named = [i for i, c in enumerate(out) if fnmatchcase(c.id, item.waiver.check)]
        if not named:
            unmatched.append(_note(item, (), f"no check of milestone {scope.milestone} "
                                              f"matches '{item.waiver.check}'"))
            continue
        failing = [i for i in named if out[i].status is not Status.WAIVED and out[i].blocks]
        if not failing:
            unmatched.append(_note(item, tuple(out[i].id for i in named),
                                   "nothing to waive: " + _states(out[i] for i in named)))
            continue
        waived: list[str] = []
        refused: dict[str, str] = {}
        for i in failing:
            reason = refusal(item, out[i], policies, now)
            if reason is None:
                out[i] = waive(out[i], item)
                waived.append(out[i].id)
            else:
                refused[out[i].id] = reason
        if waived:
            used.append(_note(item, tuple(waived), ""))
        if refused:
            ignored.append(_note(item, tuple(refused), "; ".join(
                reason if len(refused) == 1 else f"{check}: {reason}"
                for check, reason in refused.items())))
    files = tuple(WaiverFileRef(s.path, s.digest) for s in waivers.sources)
    return tuple(out), WaiverReport(files, tuple(used), tuple(ignored), tuple(unmatched))


def refusal(item: LoadedWaiver, check: CheckResult, policies: Sequence[LoadedPolicy],
            now: datetime) -> str | None:
    """Why ``item`` cannot waive ``check`` now, or None when it can."""
    w = item.waiver
    if check.id == PREREQUISITE_ID or check.kind == "prerequisite":
        return "the prerequisite (earlier milestones passed) can never be waived"
    if check.kind in GUARDRAIL_KINDS:
        return (f"{check.kind} is an organisation policy's guardrail, checked by gatekeeper "
                "itself: no waiver covers it")
    if check.status is Status.ERROR:
        return ("an error (evidence not seen) is never waived: only a failure the gate "
                "measured can be accepted")
    problem = w.approval_problem()
    if problem is not None:
        return problem
    if now < w.granted_at:
        return f"not yet granted (granted {w.granted})"
    if now >= w.expires_at:
        return f"expired {w.expires}"
    return next((p for policy in policies if (p := policy_refusal(item, check, policy))), None)


def policy_refusal(item: LoadedWaiver, check: CheckResult, loaded: LoadedPolicy) -> str | None:
    """The policy's waiver rule ``item`` breaks for ``check``, naming the rule's line."""
    rules, w = loaded.policy.waivers, item.waiver
    name = f"policy {loaded.policy.id}"
    if check.category in rules.forbid_categories:
        where = loaded.where(("waivers", "forbid_categories"))
        return f"{name} ({where}) forbids waiving {check.category.value} checks"
    if rules.max_days is not None and w.expires_at - w.granted_at > timedelta(
            days=rules.max_days):
        days = (w.expires_at - w.granted_at) / timedelta(days=1)
        where = loaded.where(("waivers", "max_days"))
        return (f"{name} ({where}) caps waivers at {rules.max_days:g} days; this one runs "
                f"{days:g} days ({w.granted} to {w.expires})")
    return None


def waive(check: CheckResult, item: LoadedWaiver) -> CheckResult:
    """``check`` as ``waived``, carrying the waiver that covers it."""
    w = item.waiver
    return replace(check, status=Status.WAIVED, waiver={
        "id": w.id, "reason": w.reason, "owner": w.owner, "approver": w.approver,
        "ticket": w.ticket, "granted": w.granted, "expires": w.expires, "where": item.where})


def warnings(report: WaiverReport | None) -> list[str]:
    """One line per waiver that did nothing, for stderr."""
    if report is None:
        return []
    return ([f"waiver {n.id} ({n.where}) ignored: {n.note}" for n in report.ignored]
            + [f"waiver {n.id} ({n.where}) matched nothing: {n.note}" for n in report.unmatched])


def _note(item: LoadedWaiver, checks: tuple[str, ...], note: str) -> WaiverNote:
    return WaiverNote(item.waiver.id, item.where, checks, note)


def _states(checks: Iterable[CheckResult]) -> str:
    return ", ".join(f"{c.id} is {c.status.value}" for c in checks)
