"""``required_evidence``: governance evidence is present on the candidate.

Tags (on the model version or its source run, with a non-blank value), artifacts of the source
run, the logged model's signature and input example, the version's description, and the
data-governance facts (classification, retention, privacy review; see
:mod:`gatekeeper.load.governance`). Anything missing is ``error`` (the gate did not see the
evidence), and the message lists every missing item. A data-governance value outside what the
policy allows is ``fail``: the evidence is there and says the version may not pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.common.durations import parse_seconds
from gatekeeper.errors import InvalidInputError
from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, VersionEvidence
from gatekeeper.load.governance import (
    CLASSIFICATION_TAG,
    PRIVACY_REVIEW_TAG,
    RETENTION_TAG,
    DataGovernance,
)

Name = Annotated[str, Field(min_length=1)]


class RequiredEvidence(CheckSpecBase):
    ADDED_LATER = frozenset({"data_governance"})
    kind: Literal["required_evidence"]
    tags: tuple[Name, ...] = Field(
        default=(), description="Tags that must be set, with a non-blank value, on the model "
        "version or its source run.")
    artifacts: tuple[Name, ...] = Field(
        default=(), description="Artifact paths that must exist in the source run, e.g. "
        "model_card.md; a folder matches when it holds any file.")
    signature: bool = Field(default=False, description="The logged model must declare a "
                            "signature.")
    input_example: bool = Field(default=False, description="The logged model must include an "
                                "input example.")
    version_description: bool = Field(
        default=False, description="The model version must have a non-blank description.")
    data_governance: DataGovernance | None = Field(
        default=None, description="Data-governance facts the version must declare as tags "
        "(data.classification, data.retention, privacy.dpia_ref), and the values allowed; a "
        "policy's data_governance section adds its own allowed values.")

    @model_validator(mode="after")
    def _check_asks(self) -> Self:
        if not (self.tags or self.artifacts or self.signature or self.input_example
                or self.version_description or self.data_governance):
            raise ValueError("require at least one of 'tags', 'artifacts', 'signature', "
                             "'input_example', 'version_description' or 'data_governance'")
        return self

    def threshold(self) -> dict[str, Any]:
        asked: dict[str, Any] = {"tags": list(self.tags), "artifacts": list(self.artifacts),
                                 "signature": self.signature, "input_example": self.input_example,
                                 "version_description": self.version_description,
                                 "data_governance": self.data_governance.model_dump(
                                     exclude_defaults=True) if self.data_governance else None}
        return {k: v for k, v in asked.items() if v}


@dataclass(frozen=True)
class Item:
    """One piece of required evidence, and whether it was found."""

    key: str
    label: str
    ref: str
    found: bool
    why: str = ""
    #: Present but not allowed (a data-governance value the policy does not allow): fail.
    refused: str = ""

    def text(self) -> str:
        return f"{self.label} ({self.why})" if self.why else self.label


def tag_item(cand: VersionEvidence, tag: str) -> Item:
    label = f"tag '{tag}'"
    for section, tags in (("version_tags", cand.version_tags), ("tags", cand.run_tags)):
        if tags.get(tag, "").strip():
            return Item(f"tag.{tag}", label, cand.ref(section, tag), True)
    # A tag set to a blank value is as good as absent, but say so: it is easy to miss.
    blank = tag in cand.version_tags or tag in cand.run_tags
    return Item(f"tag.{tag}", label, cand.ref("version_tags", tag), False,
                "blank" if blank else "")


def has_artifact(listed: frozenset[str], path: str) -> bool:
    path = path.strip("/")
    return path in listed or any(p.startswith(path + "/") for p in listed)


def artifact_item(cand: VersionEvidence, path: str) -> Item:
    ref = cand.ref("artifacts", path)
    if cand.artifacts is None:
        return Item(f"artifact.{path}", f"artifact '{path}'", ref, False, "artifacts not listed")
    return Item(f"artifact.{path}", f"artifact '{path}'", ref, has_artifact(cand.artifacts, path))


def model_items(spec: RequiredEvidence, cand: VersionEvidence) -> Iterator[Item]:
    model = cand.model
    why = "no readable MLflow model" if model is None else ""
    if spec.signature:
        yield Item("signature", "signature", cand.ref("model", "signature"),
                   model is not None and model.has_signature, why)
    if spec.input_example:
        yield Item("input_example", "input example", cand.ref("model", "input_example"),
                   model is not None and model.has_input_example, why)


def governance_items(asked: DataGovernance, cand: VersionEvidence) -> Iterator[Item]:
    """Each data-governance fact asked for: present (a tag), then allowed (its value)."""
    if asked.classification:
        item = tag_item(cand, CLASSIFICATION_TAG)
        value = tag_value(cand, CLASSIFICATION_TAG)
        if item.found and asked.classifications is not None and (
                value not in asked.classifications):
            item = replace(item, refused=f"data classification {shown(value)} is not one of "
                           f"{', '.join(asked.classifications)}")
        yield item
    if asked.retention:
        yield retention_item(asked, cand)
    if asked.privacy_review:
        item = tag_item(cand, PRIVACY_REVIEW_TAG)
        pattern = asked.privacy_review_pattern
        if item.found and pattern and re.fullmatch(pattern, tag_value(cand, PRIVACY_REVIEW_TAG),
                                                   re.DOTALL) is None:
            item = replace(item, refused=f"privacy review reference "
                           f"{shown(tag_value(cand, PRIVACY_REVIEW_TAG))} does not match the "
                           f"required form {pattern}")
        yield item


def retention_item(asked: DataGovernance, cand: VersionEvidence) -> Item:
    item = tag_item(cand, RETENTION_TAG)
    if not item.found:
        return item
    value = tag_value(cand, RETENTION_TAG)
    try:
        seconds = parse_seconds(value, RETENTION_TAG)
    except InvalidInputError:
        return replace(item, refused=f"retention {shown(value)} is not a duration like 365d")
    limit = asked.max_retention
    if limit is not None and seconds > parse_seconds(limit, "max_retention"):
        return replace(item, refused=f"retention {value} is longer than the {limit} allowed")
    return item


def tag_value(cand: VersionEvidence, tag: str) -> str:
    """The tag's value, the version's over the run's (as :func:`tag_item` finds it)."""
    for tags in (cand.version_tags, cand.run_tags):
        if tags.get(tag, "").strip():
            return tags[tag].strip()
    return ""


#: A value shown as it is: a short word. Anything else (a tag may hold text pasted by mistake,
#: even a secret) is described, not echoed.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,47}")


def shown(value: str) -> str:
    return f"'{value}'" if _PLAIN.fullmatch(value) else f"(a {len(value)}-character value)"


def items(spec: RequiredEvidence, cand: VersionEvidence) -> list[Item]:
    found = [tag_item(cand, t) for t in spec.tags]
    found += [artifact_item(cand, p) for p in spec.artifacts]
    found += model_items(spec, cand)
    if spec.version_description:
        found.append(Item("description", "description", cand.ref("version", "description"),
                          bool(cand.description.strip())))
    if spec.data_governance is not None:
        found += governance_items(spec.data_governance, cand)
    return found


def evaluate(spec: RequiredEvidence, evidence: Evidence) -> Outcome:
    cand = evidence.candidate
    checked = items(spec, cand)
    absent = [i for i in checked if not i.found]
    refused = [i for i in checked if i.found and i.refused]
    where = f"{cand.name} v{cand.version}"
    if absent:
        status, message = Status.ERROR, f"missing on {where}: " + ", ".join(
            i.text() for i in absent)
        if refused:
            message += "; not allowed: " + "; ".join(i.refused for i in refused)
    elif refused:
        status, message = Status.FAIL, f"not allowed on {where}: " + "; ".join(
            i.refused for i in refused)
    else:
        status, message = Status.PASS, f"present on {where}: " + ", ".join(
            i.label for i in checked)
    return Outcome(status, message,
                   observed={"found": [i.label for i in checked if i.found and not i.refused],
                             "missing": [i.text() for i in absent],
                             **({"not_allowed": [i.refused for i in refused]}
                                if refused else {})},
                   threshold=spec.threshold(), evidence={i.key: i.ref for i in checked})


def needs(spec: RequiredEvidence) -> EvidenceRequest:
    return EvidenceRequest(artifacts=bool(spec.artifacts),
                           model_info=spec.signature or spec.input_example,
                           read_artifacts=frozenset(spec.artifacts),
                           read_tags=frozenset(spec.tags) | governance_tags(spec.data_governance))


def governance_tags(asked: DataGovernance | None) -> frozenset[str]:
    """The tags whose values the data-governance facts asked for are read from."""
    if asked is None:
        return frozenset()
    wanted = ((asked.classification, CLASSIFICATION_TAG), (asked.retention, RETENTION_TAG),
              (asked.privacy_review, PRIVACY_REVIEW_TAG))
    return frozenset(tag for on, tag in wanted if on)


KIND = CheckKind(spec=RequiredEvidence, evaluate=evaluate, needs=needs,
                 summary="Governance evidence present: tags, artifacts, signature, description.")
