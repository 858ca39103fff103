"""Load a playbook file: parse with positions, validate everything at once, fill inherited
defaults, and keep where each check was written (for results and annotations)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import rfc8785

from gatekeeper.decide.result import Location, PolicyRef
from gatekeeper.errors import Problem, ValidationError
from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.interface import CheckSpecBase
from gatekeeper.load.governance import DataGovernance, GovernanceRules, held_to
from gatekeeper.load.model import STAGE_ORDER, Milestone, Playbook
from gatekeeper.load.policy import LoadedPolicy, governance_rules, policy_problems
from gatekeeper.load.sla import Sla
from gatekeeper.load.yamlsrc import Document, Loc, pydantic_problems, read_document

# Check fields that default to the playbook-level value of the same name when left out.
INHERITED = ("baseline", "cost_model")


@dataclass(frozen=True)
class LoadedPlaybook:
    playbook: Playbook
    path: str
    digest: str
    locations: Mapping[tuple[str, str], Location]
    policies: tuple[PolicyRef, ...] = ()

    def location(self, milestone_id: str, check_id: str) -> Location | None:
        return self.locations.get((milestone_id, check_id))

    def milestone_digest(self, milestone_id: str) -> str:
        """What a pass of this milestone is bound to: its own parsed content (checks,
        thresholds, inherited defaults) and the policies it was held to. A comment or an edit
        elsewhere in the playbook keeps it; a looser threshold or another policy changes it."""
        milestone = self.playbook.milestone(milestone_id)
        if milestone is None:
            raise KeyError(milestone_id)
        content: Any = {"model": self.playbook.model,
                        "milestone": milestone.model_dump(mode="json"),
                        "policies": sorted(p.digest for p in self.policies)}
        return "sha256:" + hashlib.sha256(rfc8785.dumps(content)).hexdigest()


def load_playbook(path: Path, policies: Sequence[LoadedPolicy] = (),
                  display: str | None = None) -> LoadedPlaybook:
    """Read and validate ``path`` and hold it to ``policies``; raise ValidationError listing
    every problem. ``display`` names the file in problems and locations (e.g. the path in the
    repository of a copy read from a git commit)."""
    doc, problems = read_document(path, display)
    if doc is None:
        raise ValidationError(problems)
    playbook, more = validate_document(doc)
    problems += more
    if playbook is not None:
        problems += [p for policy in policies for p in policy_problems(policy, playbook, doc)]
    if problems or playbook is None:
        raise ValidationError(sorted(set(problems), key=_order))
    return LoadedPlaybook(
        playbook=_held_to_governance(_from_sla(_inherit_defaults(playbook)),
                                     governance_rules(policies)),
        path=doc.file,
        digest="sha256:" + hashlib.sha256(doc.text.encode("utf-8")).hexdigest(),
        locations=_locations(doc, playbook),
        policies=tuple(PolicyRef(p.policy.id, p.doc.file, p.digest) for p in policies),
    )


def validate_document(doc: Document) -> tuple[Playbook | None, list[Problem]]:
    """Schema and cross-reference problems of one parsed playbook, all at once."""
    if not isinstance(doc.data, Mapping):
        return None, [doc.problem((), "a playbook is a mapping with keys model, owners, "
                                  "milestones, ...")]
    problems = list(_semantic_problems(doc))
    try:
        playbook: Playbook | None = Playbook.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        playbook = None
        problems += pydantic_problems(doc, exc, Playbook)
    if playbook is not None:
        problems += _sla_problems(doc, playbook)
    return playbook, sorted(set(problems), key=_order)


def _order(problem: Problem) -> tuple[str, int, int, str]:
    return problem.file, problem.line, problem.col, problem.message


def _items(doc: Document, loc: Loc) -> Iterator[tuple[int, Mapping[str, Any]]]:
    value: Any = doc.data
    for part in loc:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            value = None
    if isinstance(value, list):
        yield from ((i, v) for i, v in enumerate(value) if isinstance(v, Mapping))


def _semantic_problems(doc: Document) -> Iterator[Problem]:
    """What a schema cannot say: unique ids, stage order, inherited values that must exist."""
    yield from _duplicates(doc, ("milestones",), "id", "milestone id")
    yield from _duplicates(doc, ("milestones",), "alias", "alias")
    stages = [m.get("stage") for _, m in _items(doc, ("milestones",))]
    known = [s.value for s in STAGE_ORDER]
    if all(s in known for s in stages) and len(stages) == len(known) and stages != known:
        yield doc.problem(("milestones",), f"out of order: stages are "
                          f"{', '.join(map(str, stages))}; expected {', '.join(known)}")
    for index, _ in _items(doc, ("milestones",)):
        yield from _duplicates(doc, ("milestones", index, "checks"), "id", "check id")
        yield from _missing_inherited(doc, index)


def _duplicates(doc: Document, loc: Loc, key: str, what: str) -> Iterator[Problem]:
    seen: dict[Any, int] = {}
    for index, item in _items(doc, loc):
        value = item.get(key)
        if value is None:
            continue
        if value in seen:
            first = doc.position((*loc, seen[value], key))[0]
            yield doc.problem((*loc, index, key), f"duplicate {what} '{value}' "
                              f"(first at line {first})")
        else:
            seen[value] = index


def _missing_inherited(doc: Document, milestone: int) -> Iterator[Problem]:
    loc: Loc = ("milestones", milestone, "checks")
    for index, check in _items(doc, loc):
        kind = CHECK_KINDS.get(str(check.get("kind")))
        for name in INHERITED:
            if (kind and name in kind.spec.model_fields and check.get(name) is None
                    and doc.data.get(name) is None):
                yield doc.problem((*loc, index), f"no {name}: set '{name}' on the playbook "
                                  f"or on this check")


def _inherit_defaults(playbook: Playbook) -> Playbook:
    milestones = tuple(
        m.model_copy(update={"checks": tuple(_inherit(c, playbook) for c in m.checks)})
        for m in playbook.milestones
    )
    return playbook.model_copy(update={"milestones": milestones})


def _inherit(check: CheckSpecBase, playbook: Playbook) -> CheckSpecBase:
    update = {name: getattr(playbook, name) for name in INHERITED
              if name in type(check).model_fields and getattr(check, name) is None}
    return check.model_copy(update=update) if update else check


def _sla_problems(doc: Document, playbook: Playbook) -> Iterator[Problem]:
    """Checks naming an SLA endpoint the milestone's SLA does not declare, and warning limits
    above the SLA's limits."""
    for m_index, milestone in enumerate(playbook.milestones):
        sla = playbook.sla_of(milestone.id)
        for c_index, check in enumerate(milestone.checks):
            name = getattr(check, "sla", None)
            loc: Loc = ("milestones", m_index, "checks", c_index)
            if not isinstance(name, str):
                continue
            if sla is None:
                yield doc.problem((*loc, "sla"), f"no sla declares '{name}': add 'sla' to the "
                                  "playbook or to this milestone")
            elif name not in sla.endpoints:
                yield doc.problem((*loc, "sla"), f"no endpoint '{name}' in the sla (declared: "
                                  f"{', '.join(sorted(sla.endpoints))})")
            else:
                yield from _warnings_within(doc, loc, check, sla, name)


def _warnings_within(doc: Document, loc: Loc, check: CheckSpecBase, sla: Sla, name: str
                     ) -> Iterator[Problem]:
    for percentile in (95, 99):
        warn = getattr(check, f"warn_p{percentile}_ms", None)
        limit = getattr(sla.endpoints[name], f"p{percentile}_ms")
        if warn is not None and (limit is None or warn > limit):
            yield doc.problem((*loc, f"warn_p{percentile}_ms"), f"must be at or below the "
                              f"sla's p{percentile}_ms for '{name}'"
                              + ("" if limit is None else f" ({limit:g})"))


def _from_sla(playbook: Playbook) -> Playbook:
    """Every check naming an SLA endpoint, with the limits and rate of that endpoint filled in
    (part of the milestone digest, like every threshold)."""

    def filled(check: CheckSpecBase, sla: Sla | None) -> CheckSpecBase:
        name = getattr(check, "sla", None)
        if not isinstance(name, str) or sla is None or name not in sla.endpoints:
            return check
        declared = sla.endpoints[name]
        return check.model_copy(update={
            "endpoint": getattr(check, "endpoint", "") or name, "p95_ms": declared.p95_ms,
            "p99_ms": declared.p99_ms, "at_rps": declared.at_rps})

    milestones = tuple(
        m.model_copy(update={"checks": tuple(filled(c, playbook.sla_of(m.id))
                                             for c in m.checks)})
        for m in playbook.milestones)
    return playbook.model_copy(update={"milestones": milestones})


def _held_to_governance(playbook: Playbook, rules: Sequence[GovernanceRules]) -> Playbook:
    """Every check asking for data-governance facts, with the policies' allowed values."""
    if not rules:
        return playbook

    def held(check: CheckSpecBase) -> CheckSpecBase:
        asked = getattr(check, "data_governance", None)
        if not isinstance(asked, DataGovernance):
            return check
        return check.model_copy(update={"data_governance": held_to(asked, rules)})

    milestones = tuple(m.model_copy(update={"checks": tuple(held(c) for c in m.checks)})
                       for m in playbook.milestones)
    return playbook.model_copy(update={"milestones": milestones})


def _locations(doc: Document, playbook: Playbook) -> dict[tuple[str, str], Location]:
    out = {}
    for m_index, milestone in enumerate(playbook.milestones):
        # Under the empty check id: the milestone itself, where its prerequisite is reported.
        line, _ = doc.position(("milestones", m_index))
        out[(milestone.id, "")] = Location(doc.file, line)
        for c_index, check in enumerate(milestone.checks):
            line, _ = doc.position(("milestones", m_index, "checks", c_index))
            out[(milestone.id, check.id)] = Location(doc.file, line)
    return out


def find_milestone(loaded: LoadedPlaybook, milestone_id: str) -> Milestone:
    from gatekeeper.errors import InvalidInputError

    milestone = loaded.playbook.milestone(milestone_id)
    if milestone is None:
        ids = ", ".join(m.id for m in loaded.playbook.milestones)
        raise InvalidInputError(f"{loaded.path}: no milestone '{milestone_id}' (defined: {ids})")
    return milestone
