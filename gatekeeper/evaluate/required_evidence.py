"""``required_evidence``: governance evidence is present on the candidate.

Tags (on the model version or its source run, with a non-blank value), artifacts of the source
run, the logged model's signature and input example, and the version's description. Anything
missing is ``error`` (the gate did not see the evidence), and the message lists every missing item.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, VersionEvidence

Name = Annotated[str, Field(min_length=1)]


class RequiredEvidence(CheckSpecBase):
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

    @model_validator(mode="after")
    def _check_asks(self) -> Self:
        if not (self.tags or self.artifacts or self.signature or self.input_example
                or self.version_description):
            raise ValueError("require at least one of 'tags', 'artifacts', 'signature', "
                             "'input_example' or 'version_description'")
        return self

    def threshold(self) -> dict[str, Any]:
        asked: dict[str, Any] = {"tags": list(self.tags), "artifacts": list(self.artifacts),
                                 "signature": self.signature, "input_example": self.input_example,
                                 "version_description": self.version_description}
        return {k: v for k, v in asked.items() if v}


@dataclass(frozen=True)
class Item:
    """One piece of required evidence, and whether it was found."""

    key: str
    label: str
    ref: str
    found: bool
    why: str = ""

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


def items(spec: RequiredEvidence, cand: VersionEvidence) -> list[Item]:
    found = [tag_item(cand, t) for t in spec.tags]
    found += [artifact_item(cand, p) for p in spec.artifacts]
    found += model_items(spec, cand)
    if spec.version_description:
        found.append(Item("description", "description", cand.ref("version", "description"),
                          bool(cand.description.strip())))
    return found


def evaluate(spec: RequiredEvidence, evidence: Evidence) -> Outcome:
    cand = evidence.candidate
    checked = items(spec, cand)
    absent = [i for i in checked if not i.found]
    where = f"{cand.name} v{cand.version}"
    if absent:
        status, message = Status.ERROR, f"missing on {where}: " + ", ".join(
            i.text() for i in absent)
    else:
        status, message = Status.PASS, f"present on {where}: " + ", ".join(
            i.label for i in checked)
    return Outcome(status, message,
                   observed={"found": [i.label for i in checked if i.found],
                             "missing": [i.text() for i in absent]},
                   threshold=spec.threshold(), evidence={i.key: i.ref for i in checked})


def needs(spec: RequiredEvidence) -> EvidenceRequest:
    return EvidenceRequest(artifacts=bool(spec.artifacts),
                           model_info=spec.signature or spec.input_example)


KIND = CheckKind(spec=RequiredEvidence, evaluate=evaluate, needs=needs,
                 summary="Governance evidence present: tags, artifacts, signature, description.")
