"""``cost``: cost per 1,000 inferences from the cost model, priced at the operating point the
check names (capacity at the SLO, declared traffic, or the offered rate)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS, cost
from gatekeeper.evaluate.cost import Cost, evaluate
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, LinkedRun
from gatekeeper.load.costmodel import CostModel, cost_per_1k, money, per_month, replicas_for
from tests.evaluate.conftest import COMMON, evidence

# 3.60 an hour at 10 requests/s: 36,000 requests an hour, so 1,000 cost 3.60 / 36 = 0.10.
GPU = {"hardware_per_hour": 3.60}
THROUGHPUT_REF = "mlflow:runs/r4/metrics/throughput_rps"
ON_R4 = "priced at the offered rate 10/s on 1 replica (run r4)"
USABLE = {"probe.held_target_rate": 1.0, "probe.usable": 1.0}


def spec(**fields: Any) -> Cost:
    return Cost(**{**COMMON, "category": "cost", "kind": "cost", "cost_model": GPU, **fields})


def offered(**fields: Any) -> Cost:
    """A check pricing the rate the run served, as every cost check did before price_at."""
    return spec(price_at="offered", **fields)


def run(check: Cost, metrics: dict[str, float]) -> Outcome:
    return evaluate(check, evidence(metrics))


def with_capacity(metrics: dict[str, float], run_id: str = "c1") -> Evidence:
    """v4 with a usable ``capacity`` probe run holding ``metrics``."""
    return evidence({"throughput_rps": 1.0},
                    probe_runs={"capacity": LinkedRun(run_id, {**USABLE, **metrics})})


# price_at: offered (the rate the run served) -------------------------------------------------

@pytest.mark.parametrize(("budget", "warning", "status", "message"), [
    (0.12, None, Status.PASS, "cost = 0.1 per 1k <= budget 0.12"),
    (0.1, None, Status.PASS, "cost = 0.1 per 1k <= budget 0.1"),
    (0.0999, None, Status.FAIL, "cost = 0.1 per 1k > budget 0.0999"),
    (0.12, 0.1, Status.PASS, "cost = 0.1 per 1k <= budget 0.12"),
    (0.12, 0.0999, Status.WARN, "cost = 0.1 per 1k > warning 0.0999 (budget 0.12)"),
    (0.0999, 0.09, Status.FAIL, "cost = 0.1 per 1k > budget 0.0999"),
])
def test_budget_and_warning_edges_are_inclusive(budget: float, warning: float | None,
                                                 status: Status, message: str) -> None:
    outcome = run(offered(budget_per_1k=budget, warn_per_1k=warning), {"throughput_rps": 10})
    assert (outcome.status, outcome.message) == (status, f"{message}, {ON_R4}")


def test_float_noise_never_fails_a_cost_exactly_at_the_budget() -> None:
    # 1.08 an hour at 1 request/s: 1,000 requests cost 1.08 / 3.6 = 0.3, which the float
    # arithmetic makes 0.30000000000000004.
    check = offered(budget_per_1k=0.3, cost_model={"hardware_per_hour": 1.08})
    outcome = run(check, {"throughput_rps": 1})
    assert outcome.observed["per_1k"]["total"] > 0.3
    assert (outcome.status, outcome.message) == (
        Status.PASS, "cost = 0.3 per 1k <= budget 0.3, priced at the offered rate 1/s on 1 "
        "replica (run r4)")


def test_hand_computed_breakdown() -> None:
    # 20 rps = 72,000 requests an hour: 1,000 requests take 1/72 h of one replica.
    model = {"hardware_per_hour": 7.2,          # 7.2 / 72           = 0.1
             "memory_gb": 4, "memory_per_gb_hour": 0.18,  # 0.72 / 72 = 0.01
             "cache_per_hour": 0.36,             # 0.36 / 72          = 0.005
             "network_per_gb": 0.2,              # 100 kB x 1,000 = 0.1 GB x 0.2 = 0.02
             "operations_overhead": 0.2}         # 20% of 0.135       = 0.027
    check = offered(budget_per_1k=0.2, cost_model=model,
                    bytes_per_request_metric="response_bytes")
    outcome = run(check, {"throughput_rps": 20, "response_bytes": 100_000})
    assert (outcome.status, outcome.message) == (
        Status.PASS, "cost = 0.162 per 1k <= budget 0.2, priced at the offered rate 20/s on 1 "
        "replica (run r4)")
    assert outcome.observed["per_1k"] == pytest.approx(
        {"compute": 0.1, "accelerators": 0, "memory": 0.01, "network": 0.02, "cache": 0.005,
         "operations": 0.027, "total": 0.162})
    assert outcome.observed["operating_point"] == {"price_at": "offered", "rate_rps": 20,
                                                   "replicas": 1}
    assert outcome.observed["bytes_per_request"] == 100_000
    assert outcome.evidence == {"throughput_rps": THROUGHPUT_REF,
                                "bytes_per_request": "mlflow:runs/r4/metrics/response_bytes"}


def test_outcome_records_the_criteria() -> None:
    outcome = run(offered(budget_per_1k=0.12, warn_per_1k=0.11), {"throughput_rps": 10})
    assert set(outcome.observed) == {"per_1k", "total", "currency", "operating_point"}
    assert outcome.observed["currency"] is None
    assert outcome.threshold == {
        "budget_per_1k": 0.12, "warn_per_1k": 0.11, "price_at": "offered",
        "cost_model": {"hardware_per_hour": 3.6, "memory_gb": 0, "memory_per_gb_hour": 0,
                       "network_per_gb": 0, "cache_per_hour": 0, "operations_overhead": 0}}
    assert outcome.evidence == {"throughput_rps": THROUGHPUT_REF}


def test_no_cost_model_is_an_error() -> None:
    outcome = run(spec(budget_per_1k=0.1, cost_model=None), {"throughput_rps": 10})
    assert outcome == Outcome(
        Status.ERROR, "no cost model: set 'cost_model' on the check or the playbook",
        threshold={"budget_per_1k": 0.1, "price_at": "capacity"})


def test_missing_throughput_is_an_error() -> None:
    outcome = run(offered(budget_per_1k=0.1), {"throughput": 10})
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
    outcome = run(offered(budget_per_1k=0.1), {"throughput_rps": value})
    assert (outcome.status, outcome.message) == (Status.ERROR, message)
    assert outcome.evidence == {"invalid": THROUGHPUT_REF}


def test_named_bytes_metric_must_be_logged() -> None:
    check = offered(budget_per_1k=0.1, bytes_per_request_metric="response_bytes")
    outcome = run(check, {"throughput_rps": 10})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "metric 'response_bytes' not found on run r4")
    assert outcome.threshold == check.threshold()


def test_zero_bytes_per_request_is_usable_and_negative_is_not() -> None:
    check = offered(budget_per_1k=0.1, bytes_per_request_metric="response_bytes")
    assert run(check, {"throughput_rps": 10, "response_bytes": 0}).status is Status.PASS
    outcome = run(check, {"throughput_rps": 10, "response_bytes": -1})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "response_bytes = -1: bytes per request must be at least 0")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1.7976931348623157e308])
def test_non_finite_bytes_per_request_is_an_error(value: float) -> None:
    check = offered(budget_per_1k=0.1, bytes_per_request_metric="response_bytes")
    outcome = run(check, {"throughput_rps": 10, "response_bytes": value})
    assert outcome.status is Status.ERROR
    assert outcome.message.startswith("metric 'response_bytes' = ")


def test_smallest_usable_throughput_is_judged_not_an_error() -> None:
    outcome = run(offered(budget_per_1k=0.1), {"throughput_rps": 1e-6})
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
    ({"budget_per_1k": 0.1, "price_at": "peak"},
     "Input should be 'capacity', 'traffic' or 'offered'"),
    ({"budget_per_1k": 0.1, "price_at": "offered", "profile": "steady"},
     "Value error, 'profile' needs 'source: probe'"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 1, "currency": "usd"}},
     "Value error, 'usd' is not an ISO 4217 currency code (e.g. EUR, USD, GBP)"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 1, "currency": "XXX"}},
     "Value error, 'XXX' is not an ISO 4217 currency code (e.g. EUR, USD, GBP)"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 1, "headroom": 0.3}},
     "Input should be greater than or equal to 1"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 1, "traffic_rps": 0}},
     "Input should be greater than 0"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 1,
                                           "accelerators": {"gpu_per_hour": 0}}},
     "Input should be greater than 0"),
    ({"budget_per_1k": 0.1, "cost_model": {"hardware_per_hour": 1, "accelerators": {
        "gpu_per_hour": 2, "gpus_per_replica": 0}}},
     "Input should be greater than or equal to 1"),
])
def test_invalid_specs_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(**fields)
    assert message in [e["msg"] for e in caught.value.errors()]


def test_costmodel_can_be_imported_first() -> None:
    done = subprocess.run([sys.executable, "-c", "import gatekeeper.load.costmodel"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_cost_model_without_the_new_keys_dumps_as_before() -> None:
    # The dump is part of the milestone digest: a playbook written before currency, traffic,
    # headroom and accelerators must keep its digest (and the passes bound to it).
    assert CostModel(hardware_per_hour=1).model_dump() == {
        "hardware_per_hour": 1, "memory_gb": 0, "memory_per_gb_hour": 0, "network_per_gb": 0,
        "cache_per_hour": 0, "operations_overhead": 0}
    dumped = CostModel(hardware_per_hour=1, currency="EUR", traffic_rps=5).model_dump()
    assert (dumped["currency"], dumped["traffic_rps"]) == ("EUR", 5)


# price_at: capacity (the default) ------------------------------------------------------------

def test_default_prices_the_capacity_run_not_the_offered_rate() -> None:
    # The capacity run sustained 40/s within its SLO; the source run's 10/s is ignored.
    check = spec(budget_per_1k=0.03, cost_model={**GPU, "currency": "EUR"})
    outcome = evaluate(check, with_capacity({"capacity.rps": 40, "throughput_rps": 38}))
    assert (outcome.status, outcome.message) == (
        Status.PASS, "cost = 0.025 EUR per 1k <= budget 0.03 EUR, priced at capacity 40/s on 1 "
        "replica (probe run c1, profile capacity)")
    assert outcome.observed["operating_point"] == {"price_at": "capacity", "rate_rps": 40,
                                                   "replicas": 1, "capacity_rps": 40}
    assert outcome.observed["currency"] == "EUR"
    assert outcome.observed["probe_run_id"] == "c1"
    assert outcome.evidence["capacity_rps"] == "mlflow:runs/c1/metrics/capacity.rps"
    assert outcome.evidence["probe_run"] == "mlflow:runs/c1"


def test_no_capacity_run_is_an_error_that_says_what_to_do() -> None:
    # An old playbook's cost check, a version probed only at a steady rate: never priced at
    # the offered rate without being asked.
    check = spec(budget_per_1k=0.1)
    steady = evidence(probe_runs={"steady": LinkedRun("s1", {**USABLE, "throughput_rps": 20})},
                      probe_run_id="s1", probe_metrics={**USABLE, "throughput_rps": 20})
    outcome = evaluate(check, steady)
    assert outcome.status is Status.ERROR
    assert outcome.message == (
        "metric 'capacity.rps' not found on probe run s1: no capacity evidence: run "
        "`gatekeeper probe --find-capacity --model M --version V` for this version, or set "
        "price_at: offered to price the probe's own rate")
    assert outcome.evidence["missing"] == "mlflow:runs/s1/metrics/capacity.rps"
    nothing = evaluate(check, evidence({"throughput_rps": 10}))
    assert nothing.status is Status.ERROR
    assert nothing.message.endswith("or set price_at: offered to price the probe's own rate")


def test_an_unusable_capacity_run_is_no_evidence() -> None:
    bad = evidence(probe_runs={"capacity": LinkedRun("c2", {"probe.held_target_rate": 0,
                                                            "capacity.rps": 400})})
    outcome = evaluate(spec(budget_per_1k=0.1), bad)
    assert outcome.status is Status.ERROR
    assert outcome.message.startswith("probe did not hold its target rate (probe run c2, "
                                      "profile capacity)")


def test_capacity_may_be_logged_on_the_source_run() -> None:
    outcome = run(spec(budget_per_1k=0.1, source="run"), {"capacity.rps": 40})
    assert outcome.message.endswith("priced at capacity 40/s on 1 replica (run r4)")
    assert outcome.evidence == {"capacity_rps": "mlflow:runs/r4/metrics/capacity.rps"}


# price_at: traffic ---------------------------------------------------------------------------

@pytest.mark.parametrize(("traffic", "headroom", "capacity", "replicas"), [
    (200, 1, 100, 2),        # an exact multiple needs no extra replica
    (201, 1, 100, 3),        # a request/s over needs one more
    (200, 1.5, 100, 3),      # 50% spare
    (200, 1.2, 100, 3),      # 2.4 -> 3
    (50, 1, 100, 1),         # less than one replica's worth is still one replica
    (0.3, 1, 0.1, 3),        # 0.3 / 0.1 is 2.9999999999999996 in floats, exactly 3 here
    (0.1 * 3, 1, 0.1, 3),    # 0.30000000000000004 / 0.1 = 3.0000000000000004: not 4
    (1000, 1.3, 130, 10),    # 1300 / 130 = 10 exactly
])
def test_replicas_for_declared_traffic(traffic: float, headroom: float, capacity: float,
                                       replicas: int) -> None:
    assert replicas_for(traffic, headroom, capacity) == replicas


@pytest.mark.parametrize("args", [(0, 1, 10), (10, 1, 0), (10, 0.9, 10)])
def test_replicas_for_refuses_impossible_inputs(args: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="traffic and capacity must be positive"):
        replicas_for(*args)


def test_traffic_is_priced_on_whole_replicas() -> None:
    # 500/s with 20% headroom on replicas of 200/s: ceil(600 / 200) = 3 replicas at 3.60 an
    # hour serve 1.8 million requests an hour; 1,000 cost 3 x 3.60 / 1,800 = 0.006.
    model = {**GPU, "currency": "USD", "traffic_rps": 500, "headroom": 1.2}
    check = spec(budget_per_1k=0.01, price_at="traffic", cost_model=model)
    outcome = evaluate(check, with_capacity({"capacity.rps": 200}))
    assert (outcome.status, outcome.message) == (
        Status.PASS, "cost = 0.006 USD per 1k <= budget 0.01 USD, priced at declared traffic "
        "500/s on 3 replicas (capacity 200/s, headroom 1.2) (probe run c1, profile capacity)")
    assert outcome.observed["operating_point"] == {
        "price_at": "traffic", "rate_rps": 500, "replicas": 3, "capacity_rps": 200,
        "traffic_rps": 500, "headroom": 1.2}
    assert outcome.observed["total"] == pytest.approx(3 * 3.6 / (500 * 3600) * 1000)
    assert outcome.evidence["capacity_rps"] == "mlflow:runs/c1/metrics/capacity.rps"


def test_an_exact_multiple_of_capacity_costs_what_capacity_costs() -> None:
    # 400/s on replicas of 200/s: 2 full replicas, so per 1k it is the capacity price.
    model = {**GPU, "traffic_rps": 400}
    at_traffic = evaluate(spec(budget_per_1k=1, price_at="traffic", cost_model=model),
                          with_capacity({"capacity.rps": 200}))
    at_capacity = evaluate(spec(budget_per_1k=1, cost_model=model),
                           with_capacity({"capacity.rps": 200}))
    assert at_traffic.observed["operating_point"]["replicas"] == 2
    assert at_traffic.observed["total"] == pytest.approx(at_capacity.observed["total"])


def test_traffic_without_a_declared_traffic_is_an_error() -> None:
    outcome = evaluate(spec(budget_per_1k=0.1, price_at="traffic"),
                       with_capacity({"capacity.rps": 200}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "price_at: traffic needs the cost model's traffic_rps (the expected "
        "requests/s)")


def test_monthly_cost_of_a_traffic_price_is_replicas_times_hours() -> None:
    model = CostModel(hardware_per_hour=3.6, traffic_rps=500)
    per_1k = cost_per_1k(model, 500, replicas=3).total
    assert per_month(per_1k, 500) == pytest.approx(3 * 3.6 * 730.5)


# accelerators --------------------------------------------------------------------------------

def test_accelerators_are_priced_per_replica_and_utilisation_only_reported() -> None:
    # Host 0.72/h + 2 GPUs x 2.88/h = 6.48/h at capacity 20/s (72,000 an hour): per 1k
    # compute 0.01, accelerators 0.08.
    model = {"hardware_per_hour": 0.72, "currency": "USD", "accelerators": {
        "gpu_per_hour": 2.88, "gpus_per_replica": 2, "utilisation_metric": "gpu.utilisation"}}
    check = spec(budget_per_1k=0.1, cost_model=model)
    busy = evaluate(check, with_capacity({"capacity.rps": 20, "gpu.utilisation": 0.63}))
    assert busy.observed["per_1k"] == pytest.approx(
        {"compute": 0.01, "accelerators": 0.08, "memory": 0, "network": 0, "cache": 0,
         "operations": 0, "total": 0.09})
    assert busy.observed["accelerators"] == {"gpus_per_replica": 2, "gpu_per_hour": 2.88,
                                             "utilisation": 0.63}
    assert busy.message.endswith("(probe run c1, profile capacity), GPU utilisation 63%")
    idle = evaluate(check, with_capacity({"capacity.rps": 20}))
    assert idle.observed["total"] == busy.observed["total"]
    assert idle.observed["accelerators"]["utilisation"] is None
    assert idle.observed["accelerators"]["utilisation_note"] == (
        "metric 'gpu.utilisation' not on probe run c1, profile capacity")


# source: probe, price_at: offered ------------------------------------------------------------

def probed(metrics: dict[str, float]) -> Any:
    return evidence({"throughput_rps": 1.0}, probe_run_id="p9", probe_metrics=metrics)


def test_probe_source_reads_throughput_and_bytes_from_the_probe_run() -> None:
    check = offered(budget_per_1k=0.12, source="probe",
                    bytes_per_request_metric="response_bytes")
    outcome = evaluate(check, probed({"probe.held_target_rate": 1, "throughput_rps": 10,
                                      "response_bytes": 0}))
    assert (outcome.status, outcome.message) == (
        Status.PASS, "cost = 0.1 per 1k <= budget 0.12, priced at the offered rate 10/s on 1 "
        "replica (probe run p9)")
    assert outcome.evidence == {
        "throughput_rps": "mlflow:runs/p9/metrics/throughput_rps",
        "bytes_per_request": "mlflow:runs/p9/metrics/response_bytes",
        "probe_run": "mlflow:runs/p9",
        "held_target_rate": "mlflow:runs/p9/metrics/probe.held_target_rate"}


def test_probe_that_did_not_hold_its_rate_gives_no_cost() -> None:
    check = offered(budget_per_1k=0.12, source="probe")
    outcome = evaluate(check, probed({"probe.held_target_rate": 0, "throughput_rps": 10}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "probe did not hold its target rate (probe run p9)")
    assert outcome.evidence == {"unusable": "mlflow:runs/p9/metrics/probe.held_target_rate"}


def test_probe_source_missing_throughput_names_the_probe_run() -> None:
    outcome = evaluate(offered(budget_per_1k=0.12, source="probe"),
                       probed({"probe.held_target_rate": 1}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "metric 'throughput_rps' not found on probe run p9")


def test_a_zero_cost_never_passes_even_from_an_unvalidated_model() -> None:
    # Validation refuses a free replica; if one ever got past it, zero is no cost to judge.
    free = CostModel.model_construct(hardware_per_hour=0.0)
    check = offered(budget_per_1k=0.1).model_copy(update={"cost_model": free})
    outcome = run(check, {"throughput_rps": 10})
    assert (outcome.status, outcome.message) == (Status.ERROR,
                                                 "cost = 0 per 1k is not a usable cost")


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    (1.63991e-05, "EUR", "0.0000163991 EUR"),
    (0.30000000000000004, "USD", "0.3 USD"),
    (2e6, "JPY", "2000000 JPY"),
    (0.1, None, "0.1"),
])
def test_money_is_plain_decimals_then_the_currency(amount: float, currency: str | None,
                                                   shown: str) -> None:
    assert money(amount, currency) == shown
