"""The one-line remedy every format shows beside a failing or erroring check."""

from __future__ import annotations

import pytest

from gatekeeper.decide.remedy import plain_number, remedy
from gatekeeper.decide.result import Result
from gatekeeper.evaluate.interface import Status
from tests.support.results import sample_result


@pytest.mark.parametrize(("value", "text"), [
    (1.63991e-05, "0.0000163991"), (2e6, "2000000"), (0.000385, "0.000385"), (74.0, "74"),
    (0.953216, "0.953216"), (-3.5e-07, "-0.00000035"), (12, "12"), (True, "True"),
])
def test_numbers_are_written_without_scientific_notation(value: float, text: str) -> None:
    assert plain_number(value) == text


def test_a_crossed_upper_limit_says_by_how_much() -> None:
    told = remedy(Status.FAIL, {"p95_ms": 74.0, "p99_ms": 161.0},
                  {"p95_ms": 40.0, "p99_ms": 80.0, "warn_p99_ms": 60.0}, {}, "latency")
    assert told == ("p95_ms 74 is 34 (85%) above the limit 40; "
                    "p99_ms 161 is 81 (101%) above the limit 80")


def test_a_crossed_minimum_says_by_how_much() -> None:
    told = remedy(Status.FAIL, 0.95, {"min": 0.97, "warn_min": 0.99}, {}, "metric_threshold")
    assert told == "observed 0.95 is 0.02 (2%) below the minimum 0.97"


def test_missing_evidence_says_how_it_is_usually_added() -> None:
    observed = {"found": [], "missing": ["tag 'data_classification'", "artifact 'card.md'"]}
    evidence = {"tag.data_classification": "mlflow:models/m/5/version_tags/data_classification",
                "artifact.card.md": "mlflow:runs/r/artifacts/card.md"}
    told = remedy(Status.ERROR, observed, {}, evidence, "required_evidence")
    assert told == ("add the missing evidence: set tag 'data_classification' on the model "
                    "version (MlflowClient().set_model_version_tag); log artifact 'card.md' "
                    "with the model (mlflow.log_artifact)")


def test_a_missing_probe_metric_points_at_the_probe() -> None:
    told = remedy(Status.ERROR, None, None, {"missing": "mlflow:runs/r/metrics/latency.x.p99_ms"},
                  "latency")
    assert told is not None and "gatekeeper probe" in told and "latency.x.p99_ms" in told


@pytest.mark.parametrize("status", [Status.PASS, Status.SKIP, Status.WAIVED])
def test_nothing_to_do_for_a_check_that_does_not_block(status: Status) -> None:
    assert remedy(status, 99.0, {"max": 1.0}, {}, "metric_threshold") is None


def test_an_error_without_a_threshold_still_says_what_to_do() -> None:
    told = remedy(Status.ERROR, None, None, {}, "cost")
    assert told is not None and "could not be evaluated" in told


def test_owner_remedy_and_history_survive_the_json_result() -> None:
    result = sample_result()
    again = Result.from_dict(result.to_dict())
    assert again == result
    assert again.checks[1].remedy is not None and again.checks[1].owner == "platform@example.com"
    assert [h.decision for h in again.history] == ["pass", "block", None]
