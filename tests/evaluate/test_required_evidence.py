"""``required_evidence``: governance evidence is present on the candidate."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS, required_evidence
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evaluate.required_evidence import RequiredEvidence, evaluate, needs
from gatekeeper.evidence.interface import EvidenceRequest, ModelInfo
from tests.evaluate.conftest import COMMON, evidence

MODEL_INFO = ModelInfo(uri="models:/m-4", flavors=("python_function", "sklearn"),
                       has_signature=True, has_input_example=True)
EVERYTHING = {"tags": ["owner", "data_classification"],
              "artifacts": ["model_card.md", "reports"],
              "signature": True, "input_example": True, "version_description": True}


def spec(**fields: Any) -> RequiredEvidence:
    return RequiredEvidence(**{**COMMON, "category": "governance", "kind": "required_evidence",
                               **fields})


def complete(**fields: Any) -> dict[str, Any]:
    """Candidate fields holding every item of EVERYTHING (a tag on each side)."""
    return {"version_tags": {"owner": "ds-lead@example.com"},
            "run_tags": {"data_classification": "internal"},
            "artifacts": frozenset({"model_card.md", "reports/fairness.html", "model/MLmodel"}),
            "model": MODEL_INFO, "description": "Fraud scorer, gradient boosting.", **fields}


def run(check: RequiredEvidence, **fields: Any) -> Outcome:
    return evaluate(check, evidence(**fields))


def test_everything_present_passes() -> None:
    outcome = run(spec(**EVERYTHING), **complete())
    assert outcome == Outcome(
        Status.PASS, "present on fraud v4: tag 'owner', tag 'data_classification', artifact "
        "'model_card.md', artifact 'reports', signature, input example, description",
        observed={"found": ["tag 'owner'", "tag 'data_classification'", "artifact "
                            "'model_card.md'", "artifact 'reports'", "signature",
                            "input example", "description"], "missing": []},
        threshold=EVERYTHING,
        evidence={"tag.owner": "mlflow:models/fraud/4/version_tags/owner",
                  "tag.data_classification": "mlflow:runs/r4/tags/data_classification",
                  "artifact.model_card.md": "mlflow:models/fraud/4/artifacts/model_card.md",
                  "artifact.reports": "mlflow:models/fraud/4/artifacts/reports",
                  "signature": "mlflow:models/fraud/4/model/signature",
                  "input_example": "mlflow:models/fraud/4/model/input_example",
                  "description": "mlflow:models/fraud/4/version/description"})


def test_everything_missing_lists_every_item() -> None:
    outcome = run(spec(**EVERYTHING), artifacts=frozenset())
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "missing on fraud v4: tag 'owner', tag 'data_classification', artifact "
        "'model_card.md', artifact 'reports', signature (no readable MLflow model), input "
        "example (no readable MLflow model), description")
    assert outcome.observed == {"found": [], "missing": [
        "tag 'owner'", "tag 'data_classification'", "artifact 'model_card.md'",
        "artifact 'reports'", "signature (no readable MLflow model)",
        "input example (no readable MLflow model)", "description"]}


def test_one_missing_item_is_an_error_and_the_rest_are_reported_found() -> None:
    outcome = run(spec(**EVERYTHING), **complete(run_tags={}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "missing on fraud v4: tag 'data_classification'")
    assert outcome.observed["missing"] == ["tag 'data_classification'"]
    assert len(outcome.observed["found"]) == 6


@pytest.mark.parametrize(("fields", "status"), [
    ({"version_tags": {"approved_by": "cto"}}, Status.PASS),
    ({"run_tags": {"approved_by": "cto"}}, Status.PASS),
    ({"version_tags": {"approved_by": ""}, "run_tags": {"approved_by": "cto"}}, Status.PASS),
    ({"version_tags": {"approved-by": "cto"}}, Status.ERROR),
])
def test_tag_may_be_on_the_version_or_the_run(fields: dict[str, Any], status: Status) -> None:
    assert run(spec(tags=["approved_by"]), **fields).status is status


def test_blank_tag_counts_as_missing_and_says_so() -> None:
    outcome = run(spec(tags=["approved_by"]), version_tags={"approved_by": "  "})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "missing on fraud v4: tag 'approved_by' (blank)")


@pytest.mark.parametrize(("path", "status"), [
    ("model_card.md", Status.PASS),
    ("reports", Status.PASS),
    ("reports/", Status.PASS),
    ("reports/fairness.html", Status.PASS),
    ("report", Status.ERROR),
    ("fairness.html", Status.ERROR),
    ("model_card", Status.ERROR),
])
def test_artifact_is_a_file_or_a_folder_holding_one(path: str, status: Status) -> None:
    listed = frozenset({"model_card.md", "reports/fairness.html"})
    assert run(spec(artifacts=[path]), artifacts=listed).status is status


def test_artifacts_not_listed_are_missing_and_say_so() -> None:
    outcome = run(spec(artifacts=["model_card.md"]))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "missing on fraud v4: artifact 'model_card.md' (artifacts not listed)")


def test_model_without_signature_or_example() -> None:
    bare = ModelInfo(uri="models:/m-4", flavors=("sklearn",), has_signature=False,
                     has_input_example=False)
    outcome = run(spec(signature=True, input_example=True), model=bare)
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "missing on fraud v4: signature, input example")


@pytest.mark.parametrize(("description", "status"), [
    ("Fraud scorer.", Status.PASS), ("", Status.ERROR), (" \n", Status.ERROR),
])
def test_description_must_not_be_blank(description: str, status: Status) -> None:
    assert run(spec(version_description=True), description=description).status is status


@pytest.mark.parametrize(("fields", "request_"), [
    ({"tags": ["owner"], "version_description": True},
     EvidenceRequest(read_tags=frozenset({"owner"}))),
    ({"artifacts": ["model_card.md"]},
     EvidenceRequest(artifacts=True, read_artifacts=frozenset({"model_card.md"}))),
    ({"signature": True}, EvidenceRequest(model_info=True)),
    ({"input_example": True}, EvidenceRequest(model_info=True)),
    ({"data_governance": {"classification": True, "privacy_review": True}},
     EvidenceRequest(read_tags=frozenset({"data.classification", "privacy.dpia_ref"}))),
    (EVERYTHING, EvidenceRequest(artifacts=True, model_info=True,
                                 read_artifacts=frozenset({"model_card.md", "reports"}),
                                 read_tags=frozenset({"owner", "data_classification"}))),
])
def test_needs_only_what_is_required(fields: dict[str, Any], request_: EvidenceRequest) -> None:
    assert needs(spec(**fields)) == request_


def test_registered() -> None:
    assert CHECK_KINDS["required_evidence"] is required_evidence.KIND
    assert required_evidence.KIND.needs is needs


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "Value error, require at least one of 'tags', 'artifacts', 'signature', "
     "'input_example', 'version_description' or 'data_governance'"),
    ({"tags": [], "signature": False}, "Value error, require at least one of 'tags', "
     "'artifacts', 'signature', 'input_example', 'version_description' or 'data_governance'"),
    ({"tags": [""]}, "String should have at least 1 character"),
    ({"artifacts": "model_card.md"}, "Input should be a valid tuple"),
    ({"version_description": "yes please"}, "Input should be a valid boolean, unable to "
     "interpret input"),
    ({"tags": ["owner"], "signatures": True}, "Extra inputs are not permitted"),
])
def test_invalid_specs_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(**fields)
    assert message in [e["msg"] for e in caught.value.errors()]


# Data governance: each fact present, then (where allowed values are known) allowed.

GOVERNED = {"data.classification": "internal", "data.retention": "90d",
            "privacy.dpia_ref": "DPIA-2026-17"}


def governance(**fields: Any) -> RequiredEvidence:
    asked = {"classification": True, "retention": True, "privacy_review": True, **fields}
    return spec(data_governance=asked)


def test_governance_facts_present_and_allowed_pass() -> None:
    check = governance(classifications=["public", "internal"], max_retention="365d",
                       privacy_review_pattern=r"DPIA-\d{4}-\d+")
    outcome = run(check, version_tags=GOVERNED)
    assert outcome.status is Status.PASS
    assert outcome.message == ("present on fraud v4: tag 'data.classification', tag "
                               "'data.retention', tag 'privacy.dpia_ref'")
    assert outcome.evidence["tag.privacy.dpia_ref"] == (
        "mlflow:models/fraud/4/version_tags/privacy.dpia_ref")


def test_a_missing_governance_fact_is_an_error_naming_it() -> None:
    outcome = run(governance(), run_tags={"data.classification": "internal",
                                          "data.retention": " "})
    assert outcome.status is Status.ERROR
    assert outcome.message == ("missing on fraud v4: tag 'data.retention' (blank), "
                               "tag 'privacy.dpia_ref'")


def test_values_the_policy_does_not_allow_fail_and_say_which() -> None:
    check = governance(classifications=["public", "internal"], max_retention="30d",
                       privacy_review_pattern=r"DPIA-\d{4}-\d+")
    outcome = run(check, version_tags={"data.classification": "restricted",
                                       "data.retention": "90d", "privacy.dpia_ref": "pending"})
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        "not allowed on fraud v4: data classification 'restricted' is not one of public, "
        "internal; retention 90d is longer than the 30d allowed; privacy review reference "
        r"'pending' does not match the required form DPIA-\d{4}-\d+")
    assert outcome.observed["not_allowed"][1] == "retention 90d is longer than the 30d allowed"


def test_an_unreadable_value_is_refused_without_being_echoed() -> None:
    pasted = "postgres://admin:hunter2@db.internal:5432/x"
    outcome = run(governance(retention=True, classification=False, privacy_review=False),
                  version_tags={"data.retention": pasted})
    assert outcome.status is Status.FAIL
    assert "hunter2" not in repr(outcome)
    assert "retention (a 43-character value) is not a duration like 365d" in outcome.message


def test_without_allowed_values_any_value_is_accepted() -> None:
    outcome = run(governance(), version_tags={**GOVERNED, "data.classification": "anything"})
    assert outcome.status is Status.PASS


def test_governance_asks_for_at_least_one_fact() -> None:
    with pytest.raises(pydantic.ValidationError, match="ask for at least one of"):
        spec(data_governance={"classifications": ["internal"]})
    with pytest.raises(pydantic.ValidationError, match="not a duration"):
        governance(max_retention="a year")
    with pytest.raises(pydantic.ValidationError, match="not a regular expression"):
        governance(privacy_review_pattern="DPIA-(")
