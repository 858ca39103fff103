"""``cost``: cost per 1,000 inferences from the cost model and the run's logged throughput."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS, cost
from gatekeeper.evaluate.cost import Cost, evaluate
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evidence.interface import EvidenceRequest
from gatekeeper.load.costmodel import CostModel
from tests.evaluate.conftest import COMMON, evidence

# 3.60 an hour at 10 requests/s: 36,000 requests an hour, so 1,000 cost 3.60 / 36 = 0.10.
GPU = {"hardware_per_hour": 3.60}
THROUGHPUT_REF = "mlflow:runs/r4/metrics/throughput_rps"


def spec(**fields: Any) -> Cost:
    return Cost(**{**COMMON, "category": "cost", "kind": "cost", "cost_model": GPU, **fields})


def run(check: Cost, metrics: dict[str, float]) -> Outcome:
    return evaluate(check, evidence(metrics))


@pytest.mark.parametrize(("budget", "warning", "status", "message"), [
    (0.12, None, Status.PASS, "cost = 0.1 per 1k <= budget 0.12 at 10 rps"),
    (0.1, None, Status.PASS, "cost = 0.1 per 1k <= budget 0.1 at 10 rps"),
    (0.0999, None, Status.FAIL, "cost = 0.1 per 1k > budget 0.0999 at 10 rps"),
    (0.12, 0.1, Status.PASS, "cost = 0.1 per 1k <= budget 0.12 at 10 rps"),
    (0.12, 0.0999, Status.WARN, "cost = 0.1 per 1k > warning 0.0999 (budget 0.12) at 10 rps"),
    (0.0999, 0.09, Status.FAIL, "cost = 0.1 per 1k > budget 0.0999 at 10 rps"),
])
def test_budget_and_warning_edges_are_inclusive(budget: float, warning: float | None,
                                                 status: Status, message: str) -> None:
    outcome = run(spec(budget_per_1k=budget, warn_per_1k=warning), {"throughput_rps": 10})
    assert (outcome.status, outcome.message) == (status, message)


def test_float_noise_never_fails_a_cost_exactly_at_the_budget() -> None:
    # 1.08 an hour at 1 request/s: 1,000 requests cost 1.08 / 3.6 = 0.3, which the float
    # arithmetic makes 0.30000000000000004.
    check = spec(budget_per_1k=0.3, cost_model={"hardware_per_hour": 1.08})
    outcome = run(check, {"throughput_rps": 1})
    assert outcome.observed["per_1k"]["total"] > 0.3
    assert (outcome.status, outcome.message) == (
        Status.PASS, "cost = 0.3 per 1k <= budget 0.3 at 1 rps")


def test_hand_computed_breakdown() -> None:
    # 20 rps = 72,000 requests an hour: 1,000 requests take 1/72 h of one replica.
    model = {"hardware_per_hour": 7.2,          # 7.2 / 72           = 0.1
             "memory_gb": 4, "memory_per_gb_hour": 0.18,  # 0.72 / 72 = 0.01
             "cache_per_hour": 0.36,             # 0.36 / 72          = 0.005
             "network_per_gb": 0.2,              # 100 kB x 1,000 = 0.1 GB x 0.2 = 0.02
             "operations_overhead": 0.2}         # 20% of 0.135       = 0.027
    check = spec(budget_per_1k=0.2, cost_model=model, bytes_per_request_metric="response_bytes")
    outcome = run(check, {"throughput_rps": 20, "response_bytes": 100_000})
    assert (outcome.status, outcome.message) == (
        Status.PASS, "cost = 0.162 per 1k <= budget 0.2 at 20 rps")
    assert outcome.observed["per_1k"] == pytest.approx(
        {"compute": 0.1, "memory": 0.01, "cache": 0.005, "network": 0.02, "operations": 0.027,
         "total": 0.162})
    assert outcome.observed["throughput_rps"] == 20
    assert outcome.observed["bytes_per_request"] == 100_000
    assert outcome.evidence == {"throughput_rps": THROUGHPUT_REF,
                                "bytes_per_request": "mlflow:runs/r4/metrics/response_bytes"}


def test_outcome_records_the_criteria() -> None:
    outcome = run(spec(budget_per_1k=0.12, warn_per_1k=0.11), {"throughput_rps": 10})
    assert set(outcome.observed) == {"per_1k", "throughput_rps"}
    assert outcome.threshold == {
        "budget_per_1k": 0.12, "warn_per_1k": 0.11,
        "cost_model": {"hardware_per_hour": 3.6, "memory_gb": 0, "memory_per_gb_hour": 0,
                       "network_per_gb": 0, "cache_per_hour": 0, "operations_overhead": 0}}
    assert outcome.evidence == {"throughput_rps": THROUGHPUT_REF}


def test_no_cost_model_is_an_error() -> None:
    outcome = run(spec(budget_per_1k=0.1, cost_model=None), {"throughput_rps": 10})
    assert outcome == Outcome(
        Status.ERROR, "no cost model: set 'cost_model' on the check or the playbook",
        threshold={"budget_per_1k": 0.1})


def test_missing_throughput_is_an_error() -> None:
    outcome = run(spec(budget_per_1k=0.1), {"throughput": 10})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "metric 'throughput_rps' not found on run r4")
    assert outcome.evidence == {"missing": THROUGHPUT_REF}


@pytest.mark.parametrize(("value", "message"), [
    (0, "throughput_rps = 0: throughput (requests/s) must be at least 1e-06"),
    (-5, "throughput_rps = -5: throughput (requests/s) must be at least 1e-06"),
    (float("nan"), "metric 'throughput_rps' = nan is not a finite number"),
    (float("inf"), "metric 'throughput_rps' = inf is not a finite number"),
    (float("-inf"), "metric 'throughput_rps' = -inf is not a finite number"),
    # MLflow's SQL store writes infinity as the largest float: still infinite.
    (1.7976931348623157e308, "metric 'throughput_rps' = inf is not a finite number"),
    # Near zero: 1000 / (rps * 3600) overflows to inf, and inf * 0 (an unused price) is NaN,
    # which compared false with the budget and passed.
    (1e-310, "throughput_rps = 1e-310: throughput (requests/s) must be at least 1e-06"),
    (9.99e-7, "throughput_rps = 9.99e-07: throughput (requests/s) must be at least 1e-06"),
])
def test_unusable_throughput_is_an_error(value: float, message: str) -> None:
    outcome = run(spec(budget_per_1k=0.1), {"throughput_rps": value})
    assert (outcome.status, outcome.message) == (Status.ERROR, message)
    assert outcome.evidence == {"invalid": THROUGHPUT_REF}


def test_named_bytes_metric_must_be_logged() -> None:
    check = spec(budget_per_1k=0.1, bytes_per_request_metric="response_bytes")
    outcome = run(check, {"throughput_rps": 10})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "metric 'response_bytes' not found on run r4")
    assert outcome.threshold == check.threshold()


def test_zero_bytes_per_request_is_usable_and_negative_is_not() -> None:
    check = spec(budget_per_1k=0.1, bytes_per_request_metric="response_bytes")
    assert run(check, {"throughput_rps": 10, "response_bytes": 0}).status is Status.PASS
    outcome = run(check, {"throughput_rps": 10, "response_bytes": -1})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "response_bytes = -1: bytes per request must be at least 0")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1.7976931348623157e308])
def test_non_finite_bytes_per_request_is_an_error(value: float) -> None:
    check = spec(budget_per_1k=0.1, bytes_per_request_metric="response_bytes")
    outcome = run(check, {"throughput_rps": 10, "response_bytes": value})
    assert outcome.status is Status.ERROR
    assert outcome.message.startswith("metric 'response_bytes' = ")


def test_smallest_usable_throughput_is_judged_not_an_error() -> None:
    outcome = run(spec(budget_per_1k=0.1), {"throughput_rps": 1e-6})
    assert outcome.status is Status.FAIL  # 3.60 an hour for one request every ~12 days


def test_registered_without_extra_evidence() -> None:
    assert CHECK_KINDS["cost"] is cost.KIND
    assert cost.KIND.needs(spec(budget_per_1k=0.1)) == EvidenceRequest()
    assert spec(budget_per_1k=0.1).cost_model == CostModel(hardware_per_hour=3.6)


@pytest.mark.parametrize(("fields", "message"), [
    ({"budget_per_1k": 0.1, "warn_per_1k": 0.2},
     "Value error, 'warn_per_1k' must be at or below 'budget_per_1k'"),
    ({}, "Field required"),
    ({"budget_per_1k": -0.1}, "Input should be greater than or equal to 0"),
    ({"budget_per_1k": float("nan")}, "Input should be a finite number"),
    ({"budget_per_1k": 0.1, "throughput_metric": ""}, "String should have at least 1 character"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 1, "gpu_count": 2}},
     "Extra inputs are not permitted"),
    ({"budget_per_1k": 0.1, "budget": 0.2}, "Extra inputs are not permitted"),
    # A free replica makes every cost zero, which passes any budget.
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 0}},
     "Input should be greater than 0"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": -1}},
     "Input should be greater than 0"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": float("nan")}},
     "Input should be a finite number"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": float("inf")}},
     "Input should be a finite number"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 1, "memory_gb": float("nan")}},
     "Input should be a finite number"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 1, "network_per_gb": -0.1}},
     "Input should be greater than or equal to 0"),
    ({"budget_per_1k": 0.1,
      "cost_model": {"hardware_per_hour": 1, "operations_overhead": float("inf")}},
     "Input should be a finite number"),
])
def test_invalid_specs_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(**fields)
    assert message in [e["msg"] for e in caught.value.errors()]


def test_costmodel_can_be_imported_first() -> None:
    done = subprocess.run([sys.executable, "-c", "import gatekeeper.load.costmodel"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# source: probe -------------------------------------------------------------------------------

def probed(metrics: dict[str, float]) -> Any:
    return evidence({"throughput_rps": 1.0}, probe_run_id="p9", probe_metrics=metrics)


def test_probe_source_reads_throughput_and_bytes_from_the_probe_run() -> None:
    check = spec(budget_per_1k=0.12, source="probe", bytes_per_request_metric="response_bytes")
    outcome = evaluate(check, probed({"probe.held_target_rate": 1, "throughput_rps": 10,
                                      "response_bytes": 0}))
    assert (outcome.status, outcome.message) == (
        Status.PASS, "cost = 0.1 per 1k <= budget 0.12 at 10 rps")
    assert outcome.evidence == {
        "throughput_rps": "mlflow:runs/p9/metrics/throughput_rps",
        "bytes_per_request": "mlflow:runs/p9/metrics/response_bytes",
        "held_target_rate": "mlflow:runs/p9/metrics/probe.held_target_rate"}


def test_probe_that_did_not_hold_its_rate_gives_no_cost() -> None:
    check = spec(budget_per_1k=0.12, source="probe")
    outcome = evaluate(check, probed({"probe.held_target_rate": 0, "throughput_rps": 10}))
    assert outcome == Outcome(
        Status.ERROR, "probe did not hold its target rate (probe run p9)",
        threshold=check.threshold(),
        evidence={"unusable": "mlflow:runs/p9/metrics/probe.held_target_rate"})


def test_probe_source_missing_throughput_names_the_probe_run() -> None:
    outcome = evaluate(spec(budget_per_1k=0.12, source="probe"),
                       probed({"probe.held_target_rate": 1}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "metric 'throughput_rps' not found on probe run p9")


def test_a_zero_cost_never_passes_even_from_an_unvalidated_model() -> None:
    # Validation refuses a free replica; if one ever got past it, zero is no cost to judge.
    free = CostModel.model_construct(hardware_per_hour=0.0)
    check = spec(budget_per_1k=0.1).model_copy(update={"cost_model": free})
    outcome = run(check, {"throughput_rps": 10})
    assert (outcome.status, outcome.message) == (Status.ERROR,
                                                 "cost = 0 per 1k is not a usable cost")
