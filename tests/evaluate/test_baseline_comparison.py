"""``baseline_comparison``: the candidate's metric against the baseline alias's version.

Values are binary fractions (0.5, 0.25, ...) so every boundary below is exact in floating point.
"""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS, baseline_comparison
from gatekeeper.evaluate.baseline_comparison import BaselineComparison, evaluate, needs
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evidence.interface import EvidenceRequest
from tests.evaluate.conftest import COMMON, evidence, version

CANDIDATE_REF = "mlflow:runs/r4/metrics/accuracy"
BASELINE_REF = "mlflow:runs/r3/metrics/accuracy"


def spec(**fields: Any) -> BaselineComparison:
    return BaselineComparison(**{**COMMON, "kind": "baseline_comparison", "metric": "accuracy",
                                 "baseline": "champion", **fields})


def compare(check: BaselineComparison, candidate: float, baseline: float) -> Outcome:
    champion = version("3", run_id="r3", metrics={check.metric: baseline})
    return evaluate(check, evidence({check.metric: candidate}, baselines={"champion": champion}))


def verdict(check: BaselineComparison, candidate: float, baseline: float) -> tuple[Status, str]:
    outcome = compare(check, candidate, baseline)
    return outcome.status, outcome.message


@pytest.mark.parametrize(("candidate", "status", "message"), [
    (0.875, Status.PASS, "accuracy = 0.875 >= 0.5 (max_regression 0.25), champion v3 = 0.75"),
    (0.5, Status.PASS, "accuracy = 0.5 >= 0.5 (max_regression 0.25), champion v3 = 0.75"),
    (0.4999, Status.FAIL, "accuracy = 0.4999 < 0.5 (max_regression 0.25), champion v3 = 0.75"),
])
def test_max_regression(candidate: float, status: Status, message: str) -> None:
    assert verdict(spec(max_regression=0.25), candidate, 0.75) == (status, message)


@pytest.mark.parametrize(("candidate", "status", "message"), [
    (1.25, Status.PASS, "loss = 1.25 <= 1.25 (max_regression 0.25), champion v3 = 1"),
    (1.2501, Status.FAIL, "loss = 1.2501 > 1.25 (max_regression 0.25), champion v3 = 1"),
])
def test_max_regression_when_lower_is_better(candidate: float, status: Status,
                                             message: str) -> None:
    check = spec(metric="loss", greater_is_better=False, max_regression=0.25)
    assert verdict(check, candidate, 1.0) == (status, message)


def test_zero_max_regression_allows_equal_only() -> None:
    check = spec(max_regression=0)
    assert verdict(check, 0.75, 0.75) == (
        Status.PASS, "accuracy = 0.75 >= 0.75 (max_regression 0), champion v3 = 0.75")
    assert compare(check, 0.7499, 0.75).status is Status.FAIL


@pytest.mark.parametrize(("candidate", "baseline", "greater_is_better", "status", "message"), [
    (2.0, 2.0, True, Status.PASS, "accuracy = 2 >= 1 (max_regression_relative 50%), "
     "champion v3 = 2"),
    (1.0, 2.0, True, Status.PASS, "accuracy = 1 >= 1 (max_regression_relative 50%), "
     "champion v3 = 2"),
    (0.999, 2.0, True, Status.FAIL, "accuracy = 0.999 < 1 (max_regression_relative 50%), "
     "champion v3 = 2"),
    (-3.0, -2.0, True, Status.PASS, "accuracy = -3 >= -3 (max_regression_relative 50%), "
     "champion v3 = -2"),
    (-3.001, -2.0, True, Status.FAIL, "accuracy = -3.001 < -3 (max_regression_relative 50%), "
     "champion v3 = -2"),
    (-1.0, -2.0, False, Status.PASS, "accuracy = -1 <= -1 (max_regression_relative 50%), "
     "champion v3 = -2"),
    (-0.999, -2.0, False, Status.FAIL, "accuracy = -0.999 > -1 (max_regression_relative 50%), "
     "champion v3 = -2"),
])
def test_max_regression_relative(candidate: float, baseline: float, greater_is_better: bool,
                                 status: Status, message: str) -> None:
    check = spec(max_regression_relative=0.5, greater_is_better=greater_is_better)
    assert verdict(check, candidate, baseline) == (status, message)


def test_max_regression_relative_on_a_zero_baseline_allows_no_regression() -> None:
    check = spec(max_regression_relative=0.5)
    assert verdict(check, 0.0, 0.0) == (
        Status.PASS, "accuracy = 0 >= 0 (max_regression_relative 50%: zero baseline), "
        "champion v3 = 0")
    assert verdict(check, -0.001, 0.0) == (
        Status.FAIL, "accuracy = -0.001 < 0 (max_regression_relative 50%: zero baseline), "
        "champion v3 = 0")


@pytest.mark.parametrize(("candidate", "greater_is_better", "status", "message"), [
    (0.75, True, Status.PASS, "accuracy = 0.75 >= 0.75 (min_improvement 0.25), champion v3 = 0.5"),
    (0.7499, True, Status.FAIL,
     "accuracy = 0.7499 < 0.75 (min_improvement 0.25), champion v3 = 0.5"),
    (0.5, True, Status.FAIL, "accuracy = 0.5 < 0.75 (min_improvement 0.25), champion v3 = 0.5"),
    (0.25, False, Status.PASS, "accuracy = 0.25 <= 0.25 (min_improvement 0.25), champion v3 = 0.5"),
    (0.2501, False, Status.FAIL,
     "accuracy = 0.2501 > 0.25 (min_improvement 0.25), champion v3 = 0.5"),
])
def test_min_improvement(candidate: float, greater_is_better: bool, status: Status,
                         message: str) -> None:
    check = spec(min_improvement=0.25, greater_is_better=greater_is_better)
    assert verdict(check, candidate, 0.5) == (status, message)


@pytest.mark.parametrize(("candidate", "baseline", "greater_is_better", "status", "message"), [
    (0.75, 0.5, True, Status.PASS,
     "accuracy = 0.75 >= 0.75 (min_improvement_relative 50%), champion v3 = 0.5"),
    (0.7499, 0.5, True, Status.FAIL,
     "accuracy = 0.7499 < 0.75 (min_improvement_relative 50%), champion v3 = 0.5"),
    (-1.0, -2.0, True, Status.PASS,
     "accuracy = -1 >= -1 (min_improvement_relative 50%), champion v3 = -2"),
    (-1.001, -2.0, True, Status.FAIL,
     "accuracy = -1.001 < -1 (min_improvement_relative 50%), champion v3 = -2"),
    (0.25, 0.5, False, Status.PASS,
     "accuracy = 0.25 <= 0.25 (min_improvement_relative 50%), champion v3 = 0.5"),
    (-3.0, -2.0, False, Status.PASS,
     "accuracy = -3 <= -3 (min_improvement_relative 50%), champion v3 = -2"),
    (-2.999, -2.0, False, Status.FAIL,
     "accuracy = -2.999 > -3 (min_improvement_relative 50%), champion v3 = -2"),
])
def test_min_improvement_relative(candidate: float, baseline: float, greater_is_better: bool,
                                  status: Status, message: str) -> None:
    check = spec(min_improvement_relative=0.5, greater_is_better=greater_is_better)
    assert verdict(check, candidate, baseline) == (status, message)


@pytest.mark.parametrize(("candidate", "greater_is_better", "status", "message"), [
    (1e-10, True, Status.PASS, "accuracy = 1e-10 >= 1e-10 (min_improvement_relative 50%: any "
     "improvement on a zero baseline), champion v3 = 0"),
    (0.0, True, Status.FAIL, "accuracy = 0 < 1e-10 (min_improvement_relative 50%: any "
     "improvement on a zero baseline), champion v3 = 0"),
    (-1e-10, False, Status.PASS, "accuracy = -1e-10 <= -1e-10 (min_improvement_relative 50%: "
     "any improvement on a zero baseline), champion v3 = 0"),
    (0.0, False, Status.FAIL, "accuracy = 0 > -1e-10 (min_improvement_relative 50%: any "
     "improvement on a zero baseline), champion v3 = 0"),
])
def test_min_improvement_relative_on_a_zero_baseline_wants_any_improvement(
        candidate: float, greater_is_better: bool, status: Status, message: str) -> None:
    check = spec(min_improvement_relative=0.5, greater_is_better=greater_is_better)
    assert verdict(check, candidate, 0.0) == (status, message)


def test_all_margins_must_hold_and_the_message_names_the_missed_ones() -> None:
    check = spec(max_regression=0.25, max_regression_relative=0.125)
    assert verdict(check, 0.8, 1.0) == (
        Status.FAIL, "accuracy = 0.8 < 0.875 (max_regression_relative 12.5%), champion v3 = 1")
    assert verdict(check, 0.5, 1.0) == (
        Status.FAIL, "accuracy = 0.5 < 0.75 (max_regression 0.25) and < 0.875 "
        "(max_regression_relative 12.5%), champion v3 = 1")
    assert verdict(check, 0.875, 1.0) == (
        Status.PASS, "accuracy = 0.875 >= 0.75 (max_regression 0.25) and >= 0.875 "
        "(max_regression_relative 12.5%), champion v3 = 1")


def test_outcome_records_values_margins_and_sources() -> None:
    outcome = compare(spec(max_regression=0.25), 0.5, 0.75)
    assert outcome.observed == {"candidate": 0.5, "baseline": 0.75, "delta": -0.25,
                                "relative_delta": -0.25 / 0.75}
    assert outcome.threshold == {"baseline_alias": "champion", "baseline_version": "3",
                                 "greater_is_better": True, "max_regression": 0.25}
    assert outcome.evidence == {"candidate": CANDIDATE_REF, "baseline": BASELINE_REF}


def test_relative_delta_is_none_on_a_zero_baseline() -> None:
    observed = compare(spec(max_regression=1), 0.5, 0.0).observed
    assert observed == {"candidate": 0.5, "baseline": 0.0, "delta": 0.5, "relative_delta": None}


def test_unset_alias_is_an_error_naming_the_alias() -> None:
    outcome = evaluate(spec(max_regression=0.25), evidence({"accuracy": 0.5},
                                                           baselines={"champion": None}))
    assert outcome == Outcome(
        Status.ERROR, "baseline alias 'champion' not found on model fraud",
        threshold={"baseline_alias": "champion", "baseline_version": None,
                   "greater_is_better": True, "max_regression": 0.25},
        evidence={"missing": "mlflow:models/fraud/aliases/champion"})


def test_unset_alias_can_be_skipped() -> None:
    check = spec(max_regression=0.25, on_missing_baseline="skip")
    outcome = evaluate(check, evidence({"accuracy": 0.5}))
    assert (outcome.status, outcome.message) == (
        Status.SKIP, "baseline alias 'champion' is not set on model fraud; skipped "
        "(on_missing_baseline: skip)")
    assert outcome.evidence == {"missing": "mlflow:models/fraud/aliases/champion"}


def test_no_alias_at_all_is_an_error() -> None:
    outcome = evaluate(spec(baseline=None, max_regression=0.25), evidence({"accuracy": 0.5}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "no baseline alias: set 'baseline' on the check or the playbook")


def test_missing_candidate_metric_is_an_error() -> None:
    champion = version("3", run_id="r3", metrics={"accuracy": 0.75})
    outcome = evaluate(spec(max_regression=0.25),
                       evidence({"f1": 0.5}, baselines={"champion": champion}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "metric 'accuracy' not found on candidate v4 (run r4)")
    assert outcome.evidence == {"missing": CANDIDATE_REF}


def test_missing_baseline_metric_is_an_error() -> None:
    champion = version("3", run_id="r3", metrics={"f1": 0.75})
    outcome = evaluate(spec(max_regression=0.25),
                       evidence({"accuracy": 0.5}, baselines={"champion": champion}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "metric 'accuracy' not found on baseline champion v3 (run r3)")
    assert outcome.evidence == {"missing": BASELINE_REF}


def test_baseline_without_a_run_has_no_metrics() -> None:
    champion = version("3", run_id=None)
    outcome = evaluate(spec(max_regression=0.25),
                       evidence({"accuracy": 0.5}, baselines={"champion": champion}))
    assert outcome.message == "metric 'accuracy' not found on baseline champion v3 (no source run)"
    assert outcome.evidence == {"missing": "mlflow:models/fraud/3/metrics/accuracy"}


@pytest.mark.parametrize(("candidate", "baseline", "message"), [
    (float("nan"), 0.5, "candidate accuracy = nan is not a finite number"),
    (0.5, float("nan"), "baseline accuracy = nan is not a finite number"),
    (float("inf"), 0.5, "candidate accuracy = inf is not a finite number"),
    (0.5, float("-inf"), "baseline accuracy = -inf is not a finite number"),
    # MLflow's SQL store writes infinity as the largest float: still infinite.
    (1.7976931348623157e308, 0.5, "candidate accuracy = inf is not a finite number"),
    (0.5, -1.7976931348623157e308, "baseline accuracy = -inf is not a finite number"),
])
def test_non_finite_values_are_errors(candidate: float, baseline: float, message: str) -> None:
    assert verdict(spec(max_regression=0.25), candidate, baseline) == (Status.ERROR, message)


def test_needs_the_baseline_alias() -> None:
    assert needs(spec(max_regression=0)) == EvidenceRequest(
        baseline_aliases=frozenset({"champion"}))
    assert needs(spec(baseline=None, max_regression=0)) == EvidenceRequest()
    assert CHECK_KINDS["baseline_comparison"] is baseline_comparison.KIND
    assert baseline_comparison.KIND.needs is needs


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "Value error, set at least one margin: 'max_regression', 'max_regression_relative', "
     "'min_improvement', 'min_improvement_relative'"),
    ({"max_regression": 0.1, "min_improvement": 0.1},
     "Value error, regression margins ('max_regression') and improvement margins "
     "('min_improvement') exclude each other: a comparison either allows a regression or "
     "requires an improvement"),
    ({"max_regression": 0.1, "max_regression_relative": 0.1, "min_improvement_relative": 0.1},
     "Value error, regression margins ('max_regression', 'max_regression_relative') and "
     "improvement margins ('min_improvement_relative') exclude each other: a comparison either "
     "allows a regression or requires an improvement"),
    ({"max_regression": -0.1}, "Input should be greater than or equal to 0"),
    ({"max_regression_relative": 1.5}, "Input should be less than or equal to 1"),
    ({"min_improvement": 0}, "Input should be greater than 0"),
    ({"min_improvement_relative": 0}, "Input should be greater than 0"),
    ({"max_regression": float("nan")}, "Input should be a finite number"),
    ({"min_absolute_change": 0.1}, "Extra inputs are not permitted"),
    ({"max_regression": 0.1, "on_missing_baseline": "ignore"},
     "Input should be 'error' or 'skip'"),
    ({"max_regression": 0.1, "baseline": ""}, "String should have at least 1 character"),
])
def test_invalid_specs_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(**fields)
    assert message in [e["msg"] for e in caught.value.errors()]
