"""Data-governance facts a version must declare, and the values an organisation allows.

A ``required_evidence`` check can ask for three facts, each a tag on the model version or its
source run: the data classification (``data.classification``), the retention period
(``data.retention``, a duration such as ``365d``) and the privacy review (DPIA) reference
(``privacy.dpia_ref``). A policy's ``data_governance`` section lists the values it allows;
when the playbook is loaded those lists are written into every check that asks for the fact
(the policy's list wins; a playbook may only narrow it), so the check stays a pure function of
its parameters and the evidence, and the milestone digest covers the rules it judged by.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Self

from pydantic import Field, field_validator, model_validator

from gatekeeper.common.durations import parse_seconds
from gatekeeper.errors import InvalidInputError
from gatekeeper.load.strict import Strict

CLASSIFICATION_TAG = "data.classification"
RETENTION_TAG = "data.retention"
PRIVACY_REVIEW_TAG = "privacy.dpia_ref"


def _duration(text: str) -> str:
    try:
        parse_seconds(text, "retention")
    except InvalidInputError:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h or 90m") from None
    return text


class GovernanceRules(Strict):
    """Allowed values of the data-governance facts (a policy's ``data_governance``)."""

    classifications: tuple[str, ...] | None = Field(
        default=None, min_length=1, description="The data classifications a gated version "
        "may declare (tag data.classification), e.g. [public, internal, confidential].")
    max_retention: str | None = Field(
        default=None, description="The longest retention period a version may declare (tag "
        "data.retention), a duration such as 365d.")
    privacy_review_pattern: str | None = Field(
        default=None, min_length=1, description="A regular expression the whole privacy "
        "review reference (tag privacy.dpia_ref) must match, e.g. ^DPIA-[0-9]{4}-[0-9]+$.")

    @field_validator("max_retention")
    @classmethod
    def _check_retention(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)

    @field_validator("privacy_review_pattern")
    @classmethod
    def _check_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class DataGovernance(GovernanceRules):
    """What a ``required_evidence`` check asks of the version's data governance."""

    classification: bool = Field(default=False, description="Tag data.classification set.")
    retention: bool = Field(default=False, description="Tag data.retention set to a duration.")
    privacy_review: bool = Field(default=False, description="Tag privacy.dpia_ref set.")

    @model_validator(mode="after")
    def _check_asks(self) -> Self:
        if not (self.classification or self.retention or self.privacy_review):
            raise ValueError("ask for at least one of 'classification', 'retention' or "
                             "'privacy_review'")
        return self


def held_to(asked: DataGovernance, rules: Sequence[GovernanceRules]) -> DataGovernance:
    """``asked`` with every policy's allowed values applied: lists intersected, the shortest
    retention kept, every pattern required."""
    classes = asked.classifications
    retention = asked.max_retention
    patterns = [asked.privacy_review_pattern] if asked.privacy_review_pattern else []
    for rule in rules:
        if rule.classifications is not None:
            classes = tuple(c for c in (classes or rule.classifications)
                            if c in rule.classifications)
        if rule.max_retention is not None and (
                retention is None
                or parse_seconds(rule.max_retention, "") < parse_seconds(retention, "")):
            retention = rule.max_retention
        if rule.privacy_review_pattern and rule.privacy_review_pattern not in patterns:
            patterns.append(rule.privacy_review_pattern)
    # Several patterns: each must match the whole reference (a lookahead each, anchored at the
    # end; the reference is matched with re.fullmatch).
    pattern = (patterns[0] if len(patterns) == 1
               else "".join(f"(?=(?:{p})\\Z)" for p in patterns) + ".*" if patterns else None)
    return asked.model_copy(update={"classifications": classes, "max_retention": retention,
                                    "privacy_review_pattern": pattern})
