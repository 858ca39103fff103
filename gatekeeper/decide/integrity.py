"""Results the gate adds from its policies, beside the playbook's checks: a baseline behind a
protected alias that was moved outside the gate (``gatekeeper.baseline-alias``), and where the
training commit comes from (``gatekeeper.lineage``). Pure: the pipeline gathers the audit and
git facts first and passes them in, so a decision can be reproduced from its record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from gatekeeper.decide.result import CheckResult, Location
from gatekeeper.evaluate.interface import Category, Status
from gatekeeper.evidence.lineage import GIT_COMMIT_TAG, LineageFacts

BASELINE_ALIAS_ID = "gatekeeper.baseline-alias"
BASELINE_ALIAS_KIND = "alias_integrity"
LINEAGE_ID = "gatekeeper.lineage"
LINEAGE_KIND = "lineage"


@dataclass(frozen=True)
class BaselineAlias:
    """A protected alias a check compared against: where it points (the registry) and where
    the gate last moved it (the audit store; None: never), and whether a mismatch blocks."""

    alias: str
    version: str
    promoted: str | None
    blocks: bool
    #: ``audit:<hash>`` of the latest promotion of the alias, when there is one.
    record: str | None = None

    @property
    def moved_by_hand(self) -> bool:
        return self.promoted != self.version

    def describe(self) -> str:
        if not self.moved_by_hand:
            return f"'{self.alias}' -> v{self.version} was set by the gate"
        last = (f"the gate last moved it to v{self.promoted}" if self.promoted
                else "the gate never moved it")
        return (f"'{self.alias}' -> v{self.version} was moved outside the gate ({last}); "
                "the comparison is against a version no gate promoted")


def baseline_alias_result(aliases: Sequence[BaselineAlias],
                          location: Location | None) -> CheckResult | None:
    """One result over every protected baseline alias that is set; None when there is none.
    ``fail`` (blocking) when a moved alias's policy says ``block_on_moved_baseline``, else
    ``warn``: the comparison still ran, against a version the gate did not choose."""
    if not aliases:
        return None
    moved = [a for a in aliases if a.moved_by_hand]
    blocking = any(a.blocks for a in moved)
    status = Status.FAIL if blocking else Status.WARN if moved else Status.PASS
    message = "; ".join(a.describe() for a in (moved or aliases))
    remedy = None
    if moved:
        remedy = ("promote the intended version through the gate (gatekeeper check --promote "
                  "or gatekeeper promote), or find out who moved the alias")
    return CheckResult(
        id=BASELINE_ALIAS_ID, kind=BASELINE_ALIAS_KIND, category=Category.GOVERNANCE,
        status=status, blocking=blocking or not moved, message=message,
        observed={a.alias: a.version for a in aliases},
        threshold={a.alias: a.promoted for a in aliases},
        evidence={a.alias: a.record for a in aliases if a.record},
        location=location, remedy=remedy,
    )


def lineage_result(facts: LineageFacts, rules: Mapping[str, Sequence[str]], run_id: str | None,
                   location: Location | None) -> CheckResult | None:
    """Whether the training commit is in the repository and reachable from a branch every
    policy with a ``lineage`` section names (``rules``: policy id → branch patterns); None
    when no policy asks."""
    if not rules:
        return None
    status, message = _lineage_verdict(facts, rules, run_id)
    where = {"run_tag": f"mlflow:runs/{run_id}/tags/{GIT_COMMIT_TAG}"} if run_id else {}
    return CheckResult(
        id=LINEAGE_ID, kind=LINEAGE_KIND, category=Category.GOVERNANCE, status=status,
        blocking=True, message=message, observed=facts.commit,
        threshold={p: list(b) for p, b in rules.items()},
        evidence={**where, **({"repository": facts.repository} if facts.repository else {})},
        location=location, remedy=None if status is Status.PASS else _lineage_remedy(facts),
    )


def _lineage_verdict(facts: LineageFacts, rules: Mapping[str, Sequence[str]],
                     run_id: str | None) -> tuple[Status, str]:
    run = f"run {run_id}" if run_id else "the version (no source run)"
    if facts.commit is None:
        return Status.FAIL, f"{run} has no tag {GIT_COMMIT_TAG}: the training commit is unknown"
    if facts.problem is not None:
        return Status.ERROR, facts.problem
    if not facts.found:
        return Status.FAIL, (f"training commit {facts.commit} is not in the repository "
                             f"{facts.repository}")
    unmet = {p: b for p, b in rules.items()
             if not any(fnmatchcase(n, pat) for n in facts.reaching for pat in b)}
    if unmet:
        named = ", ".join(facts.named) or "none exists here"
        wanted = "; ".join(f"policy {p}: {', '.join(b)}" for p, b in unmet.items())
        return Status.FAIL, (f"training commit {facts.commit} is reachable from no branch "
                             f"the policy names ({wanted}; matching branches: {named})")
    return Status.PASS, (f"training commit {facts.commit} is on "
                         f"{', '.join(facts.reaching)}")


def _lineage_remedy(facts: LineageFacts) -> str:
    if facts.commit is None:
        return (f"train from a git checkout so MLflow sets {GIT_COMMIT_TAG} (or set it on the "
                "run), then register the version again")
    if facts.problem is not None:
        return "run the gate in a clone of the repository the model was trained from"
    if not facts.found:
        return "fetch the full history (e.g. fetch-depth: 0) or train from a pushed commit"
    return "merge the training commit into a listed branch and gate again, or retrain from one"
