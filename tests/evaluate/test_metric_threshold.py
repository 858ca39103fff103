"""``metric_threshold``: a run's metric, param or tag against fixed bounds."""

from __future__ import annotations

import re
from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS, metric_threshold
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evaluate.metric_threshold import MetricThreshold, evaluate
from gatekeeper.evidence.interface import EvidenceRequest, LinkedRun
from tests.evaluate.conftest import COMMON, evidence


def spec(**fields: Any) -> MetricThreshold:
    return MetricThreshold(**{**COMMON, "kind": "metric_threshold", "key": "accuracy", **fields})


def run(check: MetricThreshold, **sections: Any) -> Outcome:
    return evaluate(check, evidence(**sections))


@pytest.mark.parametrize(("value", "status", "message"), [
    (0.95, Status.PASS, "accuracy = 0.95, within min 0.9, warn_min 0.93"),
    (0.93, Status.PASS, "accuracy = 0.93, within min 0.9, warn_min 0.93"),
    (0.9299, Status.WARN, "accuracy = 0.9299, outside the warning range of min 0.9, warn_min 0.93"),
    (0.9, Status.WARN, "accuracy = 0.9, outside the warning range of min 0.9, warn_min 0.93"),
    (0.8999, Status.FAIL, "accuracy = 0.8999, outside min 0.9, warn_min 0.93"),
    (float("nan"), Status.ERROR, "metric 'accuracy' = nan is not a finite number"),
])
def test_floor_with_warning(value: float, status: Status, message: str) -> None:
    outcome = run(spec(min=0.9, warn_min=0.93), metrics={"accuracy": value})
    assert (outcome.status, outcome.message) == (status, message)


@pytest.mark.parametrize(("value", "status"), [
    (0.0, Status.PASS), (0.005, Status.PASS), (0.0051, Status.WARN), (0.01, Status.WARN),
    (0.0101, Status.FAIL),
])
def test_ceiling_with_warning(value: float, status: Status) -> None:
    check = spec(key="error_rate", max=0.01, warn_max=0.005)
    assert run(check, metrics={"error_rate": value}).status is status


def test_range_fails_on_either_side() -> None:
    check = spec(min=1, max=2)
    assert run(check, metrics={"accuracy": 0.5}).message == "accuracy = 0.5, outside min 1, max 2"
    assert run(check, metrics={"accuracy": 2.5}).status is Status.FAIL
    assert run(check, metrics={"accuracy": 2}).status is Status.PASS


def test_outcome_cites_the_metric() -> None:
    outcome = run(spec(min=0.9), metrics={"accuracy": 0.95})
    assert outcome.observed == 0.95
    assert outcome.threshold == {"min": 0.9}
    assert outcome.evidence == {"value": "mlflow:runs/r4/metrics/accuracy"}


def test_missing_metric_is_an_error() -> None:
    outcome = run(spec(min=0.9), metrics={"f1": 0.95})
    assert outcome == Outcome(Status.ERROR, "metric 'accuracy' not found on run r4",
                              evidence={"missing": "mlflow:runs/r4/metrics/accuracy"})


def test_param_is_read_as_a_number() -> None:
    check = spec(source="params", key="max_depth", max=8)
    outcome = run(check, params={"max_depth": "12"})
    assert (outcome.status, outcome.message) == (Status.FAIL, "max_depth = 12, outside max 8")
    assert outcome.evidence == {"value": "mlflow:runs/r4/params/max_depth"}


def test_param_that_is_not_a_number_is_an_error_and_not_echoed() -> None:
    outcome = run(spec(source="params", key="max_depth", max=8), params={"max_depth": "deep"})
    assert outcome.status is Status.ERROR
    assert re.fullmatch(r"param 'max_depth' is not a number \(str, 4 chars, "
                        r"sha256:[0-9a-f]{8}…\)", outcome.message), outcome.message
    assert outcome.observed is None
    assert outcome.evidence == {"value": "mlflow:runs/r4/params/max_depth"}


SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e"


def test_secret_in_an_unparsable_tag_is_never_echoed() -> None:
    outcome = run(spec(source="tags", key="x", max=1), run_tags={"x": SECRET})
    assert outcome.status is Status.ERROR
    assert re.fullmatch(r"tag 'x' is not a number \(str, 44 chars, sha256:[0-9a-f]{8}…\)",
                        outcome.message), outcome.message
    assert SECRET not in repr(outcome)
    assert SECRET[:8] not in repr(outcome)


@pytest.mark.parametrize("key", ["metrics", "params", "tags", "probe"])
@pytest.mark.parametrize(("raw", "shown"), [
    (float("inf"), "inf"), (float("-inf"), "-inf"), (float("nan"), "nan"),
    # MLflow's SQL store writes infinity as the largest float: still infinite.
    (1.7976931348623157e308, "inf"), (-1.7976931348623157e308, "-inf"),
])
def test_non_finite_values_are_errors_in_every_section(key: str, raw: float, shown: str) -> None:
    what = {"metrics": "metric", "params": "param", "tags": "tag", "probe": "metric"}[key]
    check = spec(source=key, key="depth", min=1)
    if key == "probe":
        found = evaluate(check, probed({"probe.held_target_rate": 1, "depth": raw}))
    else:
        section = {"metrics": "metrics", "params": "params", "tags": "run_tags"}[key]
        value: Any = raw if key == "metrics" else str(raw)
        found = run(check, **{section: {"depth": value}})
    assert (found.status, found.message) == (Status.ERROR,
                                             f"{what} 'depth' = {shown} is not a finite number")


@pytest.mark.parametrize("text", ["inf", "-Infinity", "NaN", " nan ", "1e999"])
def test_non_finite_text_in_a_param_is_an_error(text: str) -> None:
    # Before: 'inf' parsed as float('inf') and passed a 'min' bound.
    outcome = run(spec(source="params", key="depth", min=1), params={"depth": text})
    assert outcome.status is Status.ERROR, outcome.message


def test_tag_is_read_from_the_run() -> None:
    check = spec(source="tags", key="security.critical_vulnerabilities", max=0)
    outcome = run(check, run_tags={"security.critical_vulnerabilities": "0"})
    assert outcome.status is Status.PASS
    assert outcome.evidence == {"value": "mlflow:runs/r4/tags/security.critical_vulnerabilities"}


def test_missing_tag_names_the_section() -> None:
    outcome = run(spec(source="tags", key="reviewed", min=1))
    assert outcome.message == "tag 'reviewed' not found on run r4"


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "Value error, set at least one of 'min' or 'max'"),
    ({"min": 2, "max": 1}, "Value error, 'min' (2.0) is greater than 'max' (1.0)"),
    ({"min": 0.9, "warn_min": 0.8}, "Value error, 'warn_min' must be at or above 'min'"),
    ({"max": 1, "warn_min": 0.8}, "Value error, 'warn_min' must be at or above 'min'"),
    ({"min": 0, "warn_max": 0.8}, "Value error, 'warn_max' must be at or below 'max'"),
    ({"max": 1, "warn_max": 2}, "Value error, 'warn_max' must be at or below 'max'"),
    ({"min": 1, "maximum": 2}, "Extra inputs are not permitted"),
])
def test_invalid_bounds_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(**fields)
    assert [e["msg"] for e in caught.value.errors()] == [message]


def test_nan_bound_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError):
        spec(max=float("nan"))


def test_registered_without_extra_evidence() -> None:
    assert CHECK_KINDS["metric_threshold"] is metric_threshold.KIND
    assert metric_threshold.KIND.needs(spec(min=0)) == EvidenceRequest()


# source: probe -------------------------------------------------------------------------------

def probed(metrics: dict[str, float], run_id: str | None = "p9") -> Any:
    return evidence({"error_rate": 0.5}, probe_run_id=run_id, probe_metrics=metrics)


def test_probe_source_reads_a_probe_run_metric() -> None:
    check = spec(source="probe", key="error_rate", max=0.01)
    outcome = evaluate(check, probed({"probe.held_target_rate": 1, "error_rate": 0.002}))
    assert (outcome.status, outcome.message) == (Status.PASS, "error_rate = 0.002, within max 0.01")
    assert outcome.evidence == {"value": "mlflow:runs/p9/metrics/error_rate",
                                "probe_run": "mlflow:runs/p9",
                                "held_target_rate": "mlflow:runs/p9/metrics/probe.held_target_rate"}


def test_probe_source_reads_the_named_profile() -> None:
    check = spec(source="probe", key="error_rate", max=0.01, profile="capacity")
    runs = {"capacity": LinkedRun("c7", {"probe.held_target_rate": 1, "error_rate": 0.5})}
    outcome = evaluate(check, evidence({}, probe_run_id="p9", probe_runs=runs,
                                       probe_metrics={"probe.held_target_rate": 1,
                                                      "error_rate": 0.0}))
    assert (outcome.status, outcome.message) == (Status.FAIL, "error_rate = 0.5, outside max 0.01")
    assert outcome.evidence["probe_run"] == "mlflow:runs/c7"
    with pytest.raises(pydantic.ValidationError, match="'profile' needs 'source: probe'"):
        spec(key="error_rate", max=0.01, profile="capacity")


@pytest.mark.parametrize(("metrics", "run_id", "message"), [
    ({"probe.held_target_rate": 0, "error_rate": 0}, "p9",
     "probe did not hold its target rate (probe run p9)"),
    ({}, None, "v4 (no probe run linked): version tag gatekeeper.probe.run_id is not set"),
    ({"probe.held_target_rate": 1}, "p9", "metric 'error_rate' not found on probe run p9"),
])
def test_unusable_or_missing_probe_evidence_is_an_error(metrics: dict[str, float],
                                                        run_id: str | None, message: str) -> None:
    outcome = evaluate(spec(source="probe", key="error_rate", max=0.01), probed(metrics, run_id))
    assert (outcome.status, outcome.message) == (Status.ERROR, message)
