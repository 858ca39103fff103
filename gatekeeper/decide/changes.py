"""The verdict on a change of the gate (``gatekeeper diff``): each change becomes one
CheckResult of a Result, so every output format renders it like a gate decision.

A change that loosens the gate is ``fail`` when a policy's ``changes.forbid`` names its kind
(at base or at head: a pull request cannot lift the rule it breaks), else ``warn``; a tightening,
an addition or a note is ``pass``. The result blocks (exit 1) only on a forbidden change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gatekeeper.decide.result import (
    BaselineRef,
    CheckResult,
    MilestoneRef,
    ModelRef,
    PlaybookRef,
    PolicyRef,
    Result,
)
from gatekeeper.evaluate.changes import Change
from gatekeeper.evaluate.interface import Category, Status
from gatekeeper.load.gitrefs import Revision
from gatekeeper.load.policy import ChangeKind, LoadedPolicy

#: The id of the one line a diff without changes shows (an empty result never passes).
UNCHANGED_ID = "gatekeeper.diff"


@dataclass(frozen=True)
class Stamp:
    """Who ran the comparison and when (filled in by the CLI; the rest is pure)."""

    actor: str
    started_at: str
    finished_at: str
    gatekeeper_version: str


def forbidding(policies: Sequence[LoadedPolicy]) -> dict[ChangeKind, str]:
    """Each forbidden kind → the first rule forbidding it, as ``policy ID (file:line)``."""
    rules: dict[ChangeKind, str] = {}
    for loaded in policies:
        for index, kind in enumerate(loaded.policy.changes.forbid):
            where = loaded.where(("changes", "forbid", index))
            rules.setdefault(kind, f"policy {loaded.policy.id} ({where})")
    return rules


def changes_result(changes: Sequence[Change], base: Revision, head: Revision,
                   stamp: Stamp) -> Result:
    """The Result of comparing ``base`` with ``head``: one check per change."""
    rules = forbidding([*base.policies, *head.policies])
    checks = tuple(_check(c, rules) for c in changes) or (_unchanged(base, head),)
    models = sorted({p.loaded.playbook.model for p in (*base.playbooks, *head.playbooks)})
    return Result(
        model=ModelRef(name=", ".join(models) or "(no playbooks)", version=_short(head),
                       run_id=None, source=f"git:{head.commit or ''}"),
        milestone=MilestoneRef("diff", f"gate changes {base.label}..{head.label}"),
        playbook=PlaybookRef(path=", ".join(head.files) or "(no files)",
                             digest=_digest(head), git_commit=_commit(head)),
        baseline=BaselineRef(alias=base.label, version=_short(base), run_id=None),
        checks=checks, actor=stamp.actor, started_at=stamp.started_at,
        finished_at=stamp.finished_at, gatekeeper_version=stamp.gatekeeper_version,
        policies=tuple(PolicyRef(p.policy.id, p.doc.file, p.digest) for p in head.policies),
    )


def _check(change: Change, rules: Mapping[ChangeKind, str]) -> CheckResult:
    rule = rules.get(change.kind) if change.kind else None
    status = (Status.PASS if change.kind is None else Status.FAIL if rule else Status.WARN)
    evidence = {"change": change.kind.value if change.kind else "tightened_or_added"}
    if rule:
        evidence["forbidden_by"] = rule
    return CheckResult(
        id=change.id, kind=change.subject, category=change.category, status=status,
        blocking=True, message=change.message, observed=change.after, threshold=change.before,
        evidence=evidence, location=change.location, owner=change.owner,
        remedy=_remedy(change, rule, status))


def _remedy(change: Change, rule: str | None, status: Status) -> str | None:
    if status is Status.FAIL:
        return (f"{rule} forbids {change.kind}: revert this change, or change that policy "
                "first, reviewed by its owners")
    if status is Status.WARN:
        return "a reviewer should confirm this loosening is intended"
    return None


def _unchanged(base: Revision, head: Revision) -> CheckResult:
    files = len(set(base.files) | set(head.files))
    return CheckResult(
        id=UNCHANGED_ID, kind="playbook_change", category=Category.GOVERNANCE,
        status=Status.PASS, blocking=True,
        message=f"no gate changes in {files} file(s) between {base.label} and {head.label}",
        evidence={"change": "none"})


def _short(revision: Revision) -> str:
    sha = revision.commit[:12] if revision.commit else "no commit"
    return f"{sha}+dirty" if revision.dirty else sha


def _commit(revision: Revision) -> str | None:
    if revision.commit is None:
        return None
    return revision.commit + ("+dirty" if revision.dirty else "")


def _digest(revision: Revision) -> str:
    """sha256 over the compared files' own digests: pins exactly what head was."""
    parts = sorted([f"{p.doc.file}\0{p.loaded.digest}" for p in revision.playbooks]
                   + [f"{p.doc.file}\0{p.digest}" for p in revision.policies])
    return "sha256:" + hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()
