"""``gatekeeper validate``: check playbooks and policies without evaluating anything."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gatekeeper.errors import InvalidInputError, Problem, ValidationError
from gatekeeper.load.model import Playbook
from gatekeeper.load.playbook import validate_document
from gatekeeper.load.policy import (
    YAML_SUFFIXES,
    LoadedPolicy,
    load_policy,
    policy_problems,
    role_clashes,
    together,
)
from gatekeeper.load.waivers import approval_problems, is_waiver_document, load_waiver_file
from gatekeeper.load.yamlsrc import Document, read_document


@dataclass(frozen=True)
class ValidationReport:
    playbooks: int
    policies: int
    waiver_files: int = 0

    def summary(self) -> str:
        waivers = f", {self.waiver_files} waiver file(s)" if self.waiver_files else ""
        return (f"{self.playbooks} playbook(s){waivers} and {self.policies} polic"
                f"{'y' if self.policies == 1 else 'ies'} valid")


def validate_paths(paths: Sequence[Path]) -> ValidationReport:
    """Validate every file under ``paths``; raise ValidationError with every problem found.

    A file under a folder named ``policies`` (or whose top level has ``stages``/``limits``
    and no ``milestones``) is a policy; one under a folder named ``waivers`` (or whose top
    level has ``waivers`` and no ``milestones``) is a waiver file, whose waivers must also be
    approved by someone other than their owner; every other YAML file is a playbook, and must
    satisfy every policy given.
    """
    files = list(_yaml_files(paths))
    problems: list[Problem] = []
    policies: list[LoadedPolicy] = []
    playbooks: list[tuple[Playbook, Document]] = []
    waiver_files = 0
    for path in files:
        doc, found = read_document(path)
        problems += found
        if doc is None:
            continue
        if is_waiver_document(path, doc):
            _waivers, _doc, waiver_found = load_waiver_file(path)
            problems += [p for p in waiver_found if p not in found]
            problems += approval_problems(doc)
            waiver_files += 1
        elif _is_policy(path, doc):
            policy, policy_found = load_policy(path)
            problems += [p for p in policy_found if p not in found]
            policies += [policy] if policy else []
        else:
            playbook, playbook_found = validate_document(doc)
            problems += playbook_found
            playbooks += [(playbook, doc)] if playbook else []
    problems += role_clashes(policies)
    policies = list(together(policies))  # a milestone may name any policy's approval role
    for policy in policies:
        for playbook, doc in playbooks:
            problems += policy_problems(policy, playbook, doc)
    for playbook, doc in playbooks:
        problems += missing_scanners(playbook, doc)
    if problems:
        raise ValidationError(sorted(set(problems), key=lambda p: (p.file, p.line, p.col)))
    return ValidationReport(len(playbooks), len(policies), waiver_files)


def missing_scanners(playbook: Playbook, doc: Document) -> list[Problem]:
    """A check whose kind runs a scanner that is not installed here, with the ``pip install``
    line that installs it (the gate would report that check as ``error``)."""
    from gatekeeper.evaluate import CHECK_KINDS
    from gatekeeper.evidence.scanners import SCANNERS

    problems = []
    for i, milestone in enumerate(playbook.milestones):
        for j, check in enumerate(milestone.checks):
            for name in CHECK_KINDS[check.kind].scanners:
                why = SCANNERS[name].missing() if name in SCANNERS else f"no scanner '{name}'"
                if why is not None:
                    problems.append(doc.problem(("milestones", i, "checks", j, "kind"),
                                                f"check '{check.id}' cannot run here: {why}"))
    return problems


def _yaml_files(paths: Iterable[Path]) -> Iterable[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise InvalidInputError(f"{path}: no such file or directory")


def _is_policy(path: Path, doc: Document) -> bool:
    if "policies" in path.parts:
        return True
    data = doc.data
    return isinstance(data, dict) and "milestones" not in data and "stages" in data
