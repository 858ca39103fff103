"""What changed in the gate between two revisions: pure comparison of parsed playbooks and
policies (never their text, so a comment or a reformat is no change).

Every change says whether it makes a gate easier to pass (``kind`` is a :class:`ChangeKind`:
a loosened threshold, a removed check, a check made advisory, a weakened milestone, a check
that now measures something else, a relaxed policy) or not (``kind`` None: a tightening, an
addition, a note). ``gatekeeper.decide.changes`` turns them into a Result.

    changes = compare(base, head)      # two gatekeeper.load.gitrefs.Revision
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gatekeeper.decide.remedy import plain_number
from gatekeeper.decide.result import Location
from gatekeeper.evaluate.interface import Category, CheckSpecBase
from gatekeeper.load.gitrefs import PlaybookFile, Revision
from gatekeeper.load.model import STAGE_ORDER, Milestone
from gatekeeper.load.playbook import INHERITED
from gatekeeper.load.policy import ChangeKind, LoadedPolicy
from gatekeeper.load.yamlsrc import Document, Loc

#: Upper bounds: raising one (or removing it) lets more through.
UPPER = frozenset({"max", "warn_max", "p95_ms", "p99_ms", "warn_p95_ms", "warn_p99_ms",
                   "budget_per_1k", "warn_per_1k", "max_regression", "max_regression_relative",
                   "max_regression_ms", "max_error_rate", "latency_p95_ms", "latency_p99_ms",
                   "cost_budget_per_1k", "budget_per_1m_tokens", "warn_per_1m_tokens"})
#: Lower bounds: lowering one (or removing it) lets more through. A lower confidence narrows
#: the interval an A/B regression is judged on; a lower price lowers every computed cost.
LOWER = frozenset({"min", "warn_min", "min_improvement", "min_improvement_relative",
                   "min_samples", "min_requests", "min_samples_per_arm", "confidence"})
#: Things a check or policy requires: each one dropped lets more through.
REQUIRED_FLAGS = frozenset({"signature", "input_example", "version_description"})
REQUIRED_SETS = frozenset({"tags", "artifacts", "require_categories", "require_kinds",
                           "forbid"})
#: Choices from lenient to strict.
ORDERED = {"on_missing_baseline": ("skip", "error")}
#: Fields whose change says who or what, not how strict: listed as a note.
NOTES = frozenset({"owner"})
#: Fields that neither gate nor name: not listed at all.
IGNORED = frozenset({"description", "title"})
#: A policy's stage rules left out and written empty say the same.
EMPTY: tuple[Any, ...] = (None, [], ())

T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    """One difference between base and head. ``kind`` is None unless it makes (or may make)
    the gate easier to pass; ``before``/``after`` are the base and head values."""

    id: str
    subject: str  # "playbook_change" or "policy_change"
    kind: ChangeKind | None
    category: Category
    message: str
    before: Any = None
    after: Any = None
    location: Location | None = None
    owner: str | None = None


def compare(base: Revision, head: Revision) -> tuple[Change, ...]:
    """Every change of the gate between ``base`` and ``head``, playbooks first."""
    changes: list[Change] = []
    for old, new in pair(base.playbooks, head.playbooks, _path, lambda p: p.loaded.playbook.model):
        changes += _playbook_changes(old, new)
    for old_p, new_p in pair(base.policies, head.policies, lambda p: p.doc.file,
                             lambda p: p.policy.id):
        changes += _policy_changes(old_p, new_p)
    return tuple(changes)


def pair(olds: Sequence[T], news: Sequence[T], by_path: Callable[[T], str],
         by_name: Callable[[T], str]) -> list[tuple[T | None, T | None]]:
    """Match files by path, then (a moved or renamed file) by the name they define when it is
    defined once on each side; the rest were removed or added."""
    old_at = {by_path(o): o for o in olds}
    new_at = {by_path(n): n for n in news}
    pairs: list[tuple[T | None, T | None]] = [
        (old_at[p], new_at[p]) for p in sorted(old_at.keys() & new_at.keys())]
    old_left = [o for p, o in sorted(old_at.items()) if p not in new_at]
    new_left = [n for p, n in sorted(new_at.items()) if p not in old_at]
    old_names = Counter(by_name(o) for o in old_left)
    new_names = Counter(by_name(n) for n in new_left)
    for old in list(old_left):
        name = by_name(old)
        if old_names[name] == 1 and new_names[name] == 1:
            new = next(n for n in new_left if by_name(n) == name)
            pairs.append((old, new))
            old_left = [o for o in old_left if o is not old]
            new_left = [n for n in new_left if n is not new]
    return pairs + [(o, None) for o in old_left] + [(None, n) for n in new_left]


def _path(p: PlaybookFile) -> str:
    return p.doc.file


# --- Playbooks ------------------------------------------------------------------------------

def _playbook_changes(old: PlaybookFile | None, new: PlaybookFile | None) -> Iterator[Change]:
    if old is None and new is not None:
        model = new.loaded.playbook.model
        yield Change(model, "playbook_change", None, Category.GOVERNANCE,
                     f"playbook added: model {model} is gated by {_count(new)} check(s)",
                     after=new.doc.file, location=Location(new.doc.file, 1))
        return
    if new is None and old is not None:
        model = old.loaded.playbook.model
        yield Change(model, "playbook_change", ChangeKind.REMOVED_CHECK, Category.GOVERNANCE,
                     f"playbook removed: its {_count(old)} check(s) no longer gate model "
                     f"{model}", before=old.doc.file, location=Location(old.doc.file, 1))
        return
    assert old is not None and new is not None
    model = new.loaded.playbook.model
    if old.loaded.playbook.model != model:
        yield Change(model, "playbook_change", ChangeKind.CHANGED_CHECK, Category.GOVERNANCE,
                     f"model {old.loaded.playbook.model} -> {model} (changed: these checks "
                     "now gate another model)", old.loaded.playbook.model, model,
                     _at(new.doc, ("model",)))
    yield from _milestones_changes(model, old, new)


def _count(p: PlaybookFile) -> int:
    return sum(len(m.checks) for m in p.loaded.playbook.milestones)


def _milestones_changes(model: str, old: PlaybookFile, new: PlaybookFile) -> Iterator[Change]:
    olds = {m.stage: (i, m) for i, m in enumerate(old.loaded.playbook.milestones)}
    news = {m.stage: (i, m) for i, m in enumerate(new.loaded.playbook.milestones)}
    # Where each check id lives at head, to tell a moved check from a removed one.
    head_home = {c.id: m.stage for m in new.loaded.playbook.milestones for c in m.checks}
    base_home = {c.id: m.stage for m in old.loaded.playbook.milestones for c in m.checks}
    for stage in STAGE_ORDER:
        (oi, om), (ni, nm) = olds[stage], news[stage]
        yield from _milestone_changes(model, old, new, (oi, om), (ni, nm))
        old_checks = {c.id: (j, c) for j, c in enumerate(om.checks)}
        new_checks = {c.id: (j, c) for j, c in enumerate(nm.checks)}
        for cid, (j, check) in old_checks.items():
            if cid in new_checks:
                continue
            yield _removed_or_moved(model, om, check, _at(old.doc, _check_loc(oi, j)),
                                    head_home.get(cid))
        for cid, (j, check) in new_checks.items():
            if cid in old_checks:
                yield from _check_changes(model, nm, old, new, (oi, old_checks[cid]),
                                          (ni, (j, check)))
            elif cid in base_home:  # moved here: compare with where it was
                si, sm = olds[base_home[cid]]
                found = next((k, c) for k, c in enumerate(sm.checks) if c.id == cid)
                yield from _check_changes(model, nm, old, new, (si, found), (ni, (j, check)))
            else:
                yield _added(model, nm, check, _at(new.doc, _check_loc(ni, j)))


def _milestone_changes(model: str, old: PlaybookFile, new: PlaybookFile,
                       old_m: tuple[int, Milestone], new_m: tuple[int, Milestone]
                       ) -> Iterator[Change]:
    (_, om), (ni, nm) = old_m, new_m
    prefix = f"{model}/{nm.id}"
    if om.id != nm.id:
        yield Change(f"{prefix}.id", "playbook_change", None, Category.GOVERNANCE,
                     f"milestone id {om.id} -> {nm.id} (passes recorded under {om.id} no "
                     "longer count)", om.id, nm.id, _at(new.doc, ("milestones", ni, "id")))
    if om.alias != nm.alias:
        yield Change(f"{prefix}.alias", "playbook_change", ChangeKind.WEAKENED_MILESTONE,
                     Category.GOVERNANCE, f"alias {om.alias} -> {nm.alias} (weakened: a pass "
                     f"no longer sets {om.alias}, so the gate stops guarding it)",
                     om.alias, nm.alias, _at(new.doc, ("milestones", ni, "alias")))
    approvals = _approvals_change(om, nm)
    if approvals is not None:
        kind, message = approvals
        loc: Loc = ("milestones", ni, "approvals")
        yield Change(f"{prefix}.approvals", "playbook_change", kind, Category.GOVERNANCE,
                     message, _requirement(om), _requirement(nm),
                     _at(new.doc, loc if loc in new.doc.marks else ("milestones", ni)))
    before, after = _blocking(om), _blocking(nm)
    lost = sorted(c.value for c in _categories(om) - _categories(nm))
    gained = sorted(c.value for c in _categories(nm) - _categories(om))
    where = _at(new.doc, ("milestones", ni, "checks"))
    if len(after) < len(before) or lost:
        why = f"; no blocking {', '.join(lost)} check left" if lost else ""
        yield Change(f"{prefix}.checks", "playbook_change", ChangeKind.WEAKENED_MILESTONE,
                     Category.GOVERNANCE, f"blocking checks {len(before)} -> {len(after)} "
                     f"(weakened{why})", sorted(before), sorted(after), where)
    elif len(after) > len(before) or gained:
        yield Change(f"{prefix}.checks", "playbook_change", None, Category.GOVERNANCE,
                     f"blocking checks {len(before)} -> {len(after)} (tightened)",
                     sorted(before), sorted(after), where)


def _requirement(milestone: Milestone) -> str | None:
    return milestone.approvals.describe() if milestone.approvals else None


def _approvals_change(old: Milestone, new: Milestone) -> tuple[ChangeKind | None, str] | None:
    """The milestone's own approval rule: weakened when dropped, when fewer approvals are
    needed, or when more roles may give them (N of a larger M is easier to meet)."""
    before, after = old.approvals, new.approvals
    if before == after:
        return None
    head = f"approvals {_requirement(old) or 'none'} -> {_requirement(new) or 'none'}"
    if before is None:
        return None, f"{head} (tightened)"
    if after is None or after.count < before.count or set(after.roles) - set(before.roles):
        return ChangeKind.WEAKENED_MILESTONE, f"{head} (weakened)"
    if after.count == before.count and set(after.roles) == set(before.roles):
        return None
    return None, f"{head} (tightened)"


def _blocking(milestone: Milestone) -> set[str]:
    return {c.id for c in milestone.checks if c.blocking}


def _categories(milestone: Milestone) -> set[Category]:
    return {c.category for c in milestone.checks if c.blocking}


def _removed_or_moved(model: str, milestone: Milestone, check: CheckSpecBase,
                      where: Location, moved_to: Any) -> Change:
    cid = f"{model}/{milestone.id}/{check.id}"
    if moved_to is None:
        mode = "blocking" if check.blocking else "advisory"
        return Change(cid, "playbook_change", ChangeKind.REMOVED_CHECK, check.category,
                      f"check removed (was {mode} {check.kind})", _describe(check), None,
                      where, check.owner)
    later = STAGE_ORDER.index(moved_to) > STAGE_ORDER.index(milestone.stage)
    if later:
        return Change(cid, "playbook_change", ChangeKind.WEAKENED_MILESTONE, check.category,
                      f"check moved from {milestone.stage.value} to {moved_to.value} "
                      f"(weakened: it no longer gates {milestone.id})", milestone.stage.value,
                      moved_to.value, where, check.owner)
    return Change(cid, "playbook_change", None, check.category,
                  f"check moved from {milestone.stage.value} to {moved_to.value} (checked "
                  "earlier)", milestone.stage.value, moved_to.value, where, check.owner)


def _added(model: str, milestone: Milestone, check: CheckSpecBase, where: Location) -> Change:
    mode = "blocking" if check.blocking else "advisory"
    return Change(f"{model}/{milestone.id}/{check.id}", "playbook_change", None,
                  check.category, f"check added ({mode} {check.kind})", None,
                  _describe(check), where, check.owner)


def _describe(check: CheckSpecBase) -> dict[str, Any]:
    return check.model_dump(mode="json", exclude={"description"}, exclude_none=True)


def _check_changes(model: str, milestone: Milestone, old: PlaybookFile, new: PlaybookFile,
                   old_c: tuple[int, tuple[int, CheckSpecBase]],
                   new_c: tuple[int, tuple[int, CheckSpecBase]]) -> Iterator[Change]:
    (oi, (oj, oc)), (ni, (nj, nc)) = old_c, new_c
    cid = f"{model}/{milestone.id}/{nc.id}"
    if oc.kind != nc.kind:
        yield Change(cid, "playbook_change", ChangeKind.CHANGED_CHECK, nc.category,
                     f"kind {oc.kind} -> {nc.kind} (changed: a different check under the same "
                     "id)", _describe(oc), _describe(nc), _at(new.doc, _check_loc(ni, nj)),
                     nc.owner)
        return
    before, after = flatten(oc.model_dump(mode="json")), flatten(nc.model_dump(mode="json"))
    for field in sorted(before.keys() | after.keys()):
        found = judge(field, before.get(field), after.get(field))
        if found is None:
            continue
        kind, message = found
        where = _field_location((old.doc, _check_loc(oi, oj)), (new.doc, _check_loc(ni, nj)),
                                field)
        yield Change(f"{cid}.{field}", "playbook_change", kind, nc.category, message,
                     before.get(field), after.get(field), where, nc.owner)


def _field_location(old: tuple[Document, Loc], new: tuple[Document, Loc],
                    field: str) -> Location:
    """The field's line at head; where it was at base when head no longer writes it."""
    new_loc = _field_loc(*new, field)
    if new_loc == new[1]:
        old_loc = _field_loc(*old, field)
        if old_loc != old[1]:
            return _at(old[0], old_loc)
    return _at(new[0], new_loc)


def _check_loc(milestone: int, check: int) -> Loc:
    return ("milestones", milestone, "checks", check)


def _field_loc(doc: Document, check: Loc, field: str) -> Loc:
    """Where ``field`` of the check at ``check`` is written: on the check, or (an inherited
    default) at the top of the playbook, or else the check itself."""
    parts = tuple(field.split("."))
    if (*check, parts[0]) in doc.marks:
        return (*check, *parts)
    if parts[0] in INHERITED and (parts[0],) in doc.marks:
        return parts
    return check


def _at(doc: Document, loc: Loc) -> Location:
    return Location(doc.file, doc.position(loc)[0])


# --- Judging one field ----------------------------------------------------------------------

def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"kpi": {"min": 1}}`` → ``{"kpi.min": 1}``; lists and other values are leaves."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def judge(field: str, before: Any, after: Any) -> tuple[ChangeKind | None, str] | None:
    """Whether changing ``field`` from ``before`` to ``after`` loosens the gate (a kind) or
    not (None), with the message; None when nothing that matters changed."""
    name = field.rsplit(".", 1)[-1]
    if before == after or name in IGNORED or name in ("id", "kind"):
        return None
    head = f"{field} {_shown(before)} -> {_shown(after)}"
    if name == "blocking":
        made_advisory = before is not False and after is False
        return ((ChangeKind.MADE_ADVISORY, f"{head} (made advisory)") if made_advisory
                else (None, f"{head} (made blocking)"))
    rule = _rule(field, name)
    if rule is None:
        if name in NOTES:
            return None, head
        return ChangeKind.CHANGED_CHECK, f"{head} (changed: check what it now gates)"
    looser = rule(before, after)
    if looser is None:
        return ChangeKind.CHANGED_CHECK, f"{head} (changed: check what it now gates)"
    if looser:
        return ChangeKind.LOOSENED_THRESHOLD, f"{_noun(field, name)}{head} (loosened)"
    return None, f"{_noun(field, name)}{head} (tightened)"


def _noun(field: str, name: str) -> str:
    return "threshold " if name in UPPER or name in LOWER or field.startswith(
        "cost_model.") else ""


def _rule(field: str, name: str) -> Callable[[Any, Any], bool | None] | None:
    if field.startswith("cost_model."):
        return _lower  # a price: lower prices compute lower costs
    if name in UPPER:
        return _upper
    if name in LOWER:
        return _lower
    if name in REQUIRED_FLAGS:
        return lambda b, a: bool(b) and not a
    if name in REQUIRED_SETS:
        return lambda b, a: bool(set(b or ()) - set(a or ()))
    if name in ORDERED:
        order = ORDERED[name]
        return lambda b, a: (order.index(a) < order.index(b)
                             if a in order and b in order else None)
    return None


def _number(value: Any, missing: float) -> float | None:
    if value is None:
        return missing
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _upper(before: Any, after: Any) -> bool | None:
    b, a = _number(before, math.inf), _number(after, math.inf)
    return None if a is None or b is None else a > b


def _lower(before: Any, after: Any) -> bool | None:
    b, a = _number(before, -math.inf), _number(after, -math.inf)
    return None if a is None or b is None else a < b


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return plain_number(value)


# --- Policies -------------------------------------------------------------------------------

def _policy_changes(old: LoadedPolicy | None, new: LoadedPolicy | None) -> Iterator[Change]:
    if new is None and old is not None:
        yield Change(f"policy/{old.policy.id}", "policy_change", ChangeKind.RELAXED_POLICY,
                     Category.GOVERNANCE, f"policy {old.policy.id} removed: its guardrails "
                     "no longer apply", old.doc.file, None, Location(old.doc.file, 1))
        return
    if old is None and new is not None:
        yield Change(f"policy/{new.policy.id}", "policy_change", None, Category.GOVERNANCE,
                     f"policy {new.policy.id} added", None, new.doc.file,
                     Location(new.doc.file, 1))
        return
    assert old is not None and new is not None
    before = flatten(old.policy.model_dump(mode="json"))
    after = flatten(new.policy.model_dump(mode="json"))
    if old.policy.id != new.policy.id:
        yield Change(f"policy/{new.policy.id}.id", "policy_change", None, Category.GOVERNANCE,
                     f"policy id {old.policy.id} -> {new.policy.id}", old.policy.id,
                     new.policy.id, _at(new.doc, ("id",)))
    for field in sorted((before.keys() | after.keys()) - {"id"}):
        found = judge(field, before.get(field), after.get(field))
        if found is None or (before.get(field) in EMPTY and after.get(field) in EMPTY):
            continue
        kind, message = found
        relaxed = ChangeKind.RELAXED_POLICY if kind is not None else None
        loc: Loc = tuple(field.split("."))
        doc = new.doc if loc in new.doc.marks or loc not in old.doc.marks else old.doc
        yield Change(f"policy/{new.policy.id}.{field}", "policy_change", relaxed,
                     Category.GOVERNANCE, message.replace("(loosened)", "(relaxed)"),
                     before.get(field), after.get(field), _at(doc, loc))


