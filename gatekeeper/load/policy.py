"""Policies: the organisation's guardrails that every playbook must satisfy.

A policy names, per milestone stage, the categories that must be covered by a blocking check,
the check kinds that must be present, and upper limits that no playbook threshold may exceed.
Applied by ``gatekeeper validate``; a violation is reported at the playbook's location.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pydantic
from pydantic import Field

from gatekeeper.errors import Problem
from gatekeeper.evaluate.interface import Category
from gatekeeper.load.model import Playbook, Stage
from gatekeeper.load.strict import Strict
from gatekeeper.load.yamlsrc import Document, pydantic_problems, read_document


class StageRules(Strict):
    require_categories: tuple[Category, ...] = Field(
        default=(), description="Each category needs at least one blocking check here.")
    require_kinds: tuple[str, ...] = Field(
        default=(), description="Check kinds that must appear in this milestone.")


class Limits(Strict):
    """Loosest thresholds a playbook may declare."""

    latency_p99_ms: float | None = Field(default=None, gt=0)
    latency_p95_ms: float | None = Field(default=None, gt=0)
    cost_budget_per_1k: float | None = Field(default=None, gt=0)


class Policy(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    stages: dict[Stage, StageRules] = Field(default_factory=dict)
    limits: Limits = Limits()


def load_policy(path: Path) -> tuple[Policy | None, list[Problem]]:
    doc, problems = read_document(path)
    if doc is None:
        return None, problems
    try:
        return Policy.model_validate(doc.data), problems
    except pydantic.ValidationError as exc:
        return None, problems + pydantic_problems(doc, exc, Policy)


def policy_problems(policy: Policy, playbook: Playbook, doc: Document) -> Iterator[Problem]:
    """Every guardrail of ``policy`` that ``playbook`` breaks, located in the playbook."""
    for index, milestone in enumerate(playbook.milestones):
        rules = policy.stages.get(milestone.stage)
        loc = ("milestones", index)
        if rules:
            covered = {c.category for c in milestone.checks if c.blocking}
            for category in rules.require_categories:
                if category not in covered:
                    yield doc.problem(loc, f"policy {policy.id}: milestone '{milestone.id}' "
                                      f"needs a blocking {category.value} check")
            kinds = {c.kind for c in milestone.checks}
            for kind in rules.require_kinds:
                if kind not in kinds:
                    yield doc.problem(loc, f"policy {policy.id}: milestone '{milestone.id}' "
                                      f"needs a check of kind {kind}")
        for c_index, check in enumerate(milestone.checks):
            yield from _limit_problems(policy, check.model_dump(), doc,
                                       (*loc, "checks", c_index))


LIMITED_FIELDS = {"p99_ms": "latency_p99_ms", "p95_ms": "latency_p95_ms",
                  "budget_per_1k": "cost_budget_per_1k"}


def _limit_problems(policy: Policy, check: Mapping[str, object], doc: Document,
                    loc: tuple[str | int, ...]) -> Iterator[Problem]:
    for field, limit_name in LIMITED_FIELDS.items():
        limit = getattr(policy.limits, limit_name)
        value = check.get(field)
        if limit is not None and isinstance(value, int | float) and value > limit:
            yield doc.problem((*loc, field), f"policy {policy.id}: {field} {value:g} is looser "
                              f"than the limit {limit:g}")
