"""An LLM's tokens priced (``cost_per_1m_tokens`` and the ``cost`` check's
``per: 1m_output_tokens``), and ``baseline_comparison`` with ``same_workload: true`` refusing
probe runs whose workload fingerprints differ."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate.baseline_comparison import BaselineComparison
from gatekeeper.evaluate.baseline_comparison import evaluate as compare
from gatekeeper.evaluate.cost import Cost
from gatekeeper.evaluate.cost import evaluate as price
from gatekeeper.evaluate.interface import Status
from gatekeeper.evidence.interface import LinkedRun, VersionEvidence
from gatekeeper.load.costmodel import Accelerators, CostModel, cost_per_1k, cost_per_1m_tokens
from tests.evaluate.conftest import COMMON, evidence, version

USABLE = {"probe.held_target_rate": 1.0, "probe.usable": 1.0}
# 3.60 an hour at 10 requests/s of 100 output tokens: 1,000 tokens/s, 3.6M tokens an hour.
HOURLY = 3.60
PER_HOUR_OF_TOKENS = 3_600_000


# the arithmetic -------------------------------------------------------------------------------

def test_all_of_the_price_goes_on_the_output_tokens_without_a_declared_share() -> None:
    model = CostModel(hardware_per_hour=HOURLY)
    per_1k = cost_per_1k(model, 10).total  # 0.1
    cost = cost_per_1m_tokens(model, per_1k, 100, 500)
    assert cost.per_1m_output == pytest.approx(HOURLY / PER_HOUR_OF_TOKENS * 1e6)  # 1.0
    assert cost.per_1m_input is None


def test_the_declared_share_moves_onto_the_input_tokens() -> None:
    model = CostModel(hardware_per_hour=2.0, accelerators=Accelerators(gpu_per_hour=1.6),
                      input_token_cost_share=0.25)
    per_1k = cost_per_1k(model, 10).total  # (2.0 + 1.6) / 36 = 0.1: GPUs are priced too
    cost = cost_per_1m_tokens(model, per_1k, 100, 500)
    assert cost.per_1m_output == pytest.approx(0.75)  # 2.70 an hour over 3.6M tokens
    assert cost.per_1m_input == pytest.approx(0.05)  # 0.90 an hour over 18M prompt tokens


def test_overhead_and_network_are_in_the_token_price() -> None:
    model = CostModel(hardware_per_hour=HOURLY, operations_overhead=0.5, network_per_gb=1.0)
    per_1k = cost_per_1k(model, 10, bytes_per_request=1_000_000).total  # 0.15 + 1.5
    assert cost_per_1m_tokens(model, per_1k, 100).per_1m_output == pytest.approx(16.5)


@pytest.mark.parametrize("share", [-0.1, 1.0, float("nan")])
def test_the_input_share_is_a_fraction_below_one(share: float) -> None:
    with pytest.raises(pydantic.ValidationError):
        CostModel(hardware_per_hour=1, input_token_cost_share=share)


def test_a_cost_model_without_the_share_dumps_as_before() -> None:
    assert "input_token_cost_share" not in CostModel(hardware_per_hour=1).model_dump()


# the cost check -------------------------------------------------------------------------------

def tokens_check(**fields: Any) -> Cost:
    return Cost(**{**COMMON, "category": "cost", "kind": "cost",
                   "cost_model": {"hardware_per_hour": HOURLY, "input_token_cost_share": 0.25},
                   "per": "1m_output_tokens", **fields})


def capacity_run(**metrics: float) -> Any:
    return evidence({}, probe_runs={"capacity": LinkedRun("c1", {**USABLE, **metrics})})


@pytest.mark.parametrize(("budget", "status"), [(0.75, Status.PASS), (0.7499, Status.FAIL)])
def test_cost_per_1m_output_tokens_against_its_budget(budget: float, status: Status) -> None:
    found = capacity_run(**{"capacity.rps": 10, "capacity.output_tokens_per_request": 100})
    outcome = price(tokens_check(budget_per_1m_tokens=budget), found)
    assert outcome.status is status, outcome.message
    assert outcome.message.startswith("cost = 0.75 per 1M output tokens")
    assert outcome.observed["per_1m_tokens"] == pytest.approx(0.75)
    assert outcome.evidence["tokens_per_request"] == (
        "mlflow:runs/c1/metrics/capacity.output_tokens_per_request")


def test_cost_per_1m_input_tokens_needs_the_declared_share() -> None:
    found = capacity_run(**{"capacity.rps": 10, "capacity.input_tokens_per_request": 500})
    outcome = price(tokens_check(per="1m_input_tokens", budget_per_1m_tokens=1), found)
    assert (outcome.status, outcome.observed["per_1m_tokens"]) == (Status.PASS,
                                                                    pytest.approx(0.05))
    unshared = tokens_check(per="1m_input_tokens", budget_per_1m_tokens=1,
                            cost_model={"hardware_per_hour": HOURLY})
    outcome = price(unshared, found)
    assert outcome.status is Status.ERROR and "input_token_cost_share" in outcome.message


def test_no_token_evidence_is_an_error_naming_the_metric() -> None:
    outcome = price(tokens_check(budget_per_1m_tokens=1), capacity_run(**{"capacity.rps": 10}))
    assert outcome.status is Status.ERROR
    assert "capacity.output_tokens_per_request" in outcome.message
    assert "--find-capacity" in outcome.message


@pytest.mark.parametrize(("fields", "message"), [
    ({"per": "1m_output_tokens", "budget_per_1k": 1}, "needs 'budget_per_1m_tokens'"),
    ({"per": "1m_output_tokens", "budget_per_1m_tokens": 1, "warn_per_1k": 1},
     "takes 'warn_per_1m_tokens'"),
    ({"budget_per_1k": 1, "budget_per_1m_tokens": 1}, "needs per: 1m_output_tokens"),
    ({"per": "1m_output_tokens", "budget_per_1m_tokens": 1, "warn_per_1m_tokens": 2},
     "'warn_per_1m_tokens' must be at or below 'budget_per_1m_tokens'"),
])
def test_token_budgets_go_with_per(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Cost(**{**COMMON, "category": "cost", "kind": "cost", **fields})


def test_a_cost_check_without_per_dumps_as_before() -> None:
    dumped = Cost(**{**COMMON, "category": "cost", "kind": "cost", "budget_per_1k": 1}
                  ).model_dump()
    assert not {"per", "budget_per_1m_tokens", "warn_per_1m_tokens", "tokens_metric"} & set(
        dumped)
    assert dumped["budget_per_1k"] == 1 and dumped["warn_per_1k"] is None


# the workload fingerprint --------------------------------------------------------------------

WORKLOAD = {"api": "openai-chat", "digest": "d1", "max_tokens": '{"max": 64, "p50": 64}',
            "prompt_words": '{"max": 200, "p50": 200}', "sampling": '["{\\"temperature\\": 0}"]',
            "ignore_eos": '["true"]', "models_requested": '["law-1"]',
            "models_reported": '["law-1"]', "measured_output_tokens": '{"p50": 64}'}


def probe_version(number: str, ttft_p99: float, **workload: str) -> VersionEvidence:
    params = {f"probe.workload.{k}": v for k, v in {**WORKLOAD, **workload}.items()}
    run = LinkedRun(f"p{number}", {**USABLE, "ttft.chat.p99_ms": ttft_p99}, params)
    return version(number, run_id=f"r{number}", probe_runs={"steady": run})


def same_workload(**fields: Any) -> BaselineComparison:
    return BaselineComparison(**{**COMMON, "kind": "baseline_comparison", "baseline": "champion",
                                 "metric": "ttft.chat.p99_ms", "greater_is_better": False,
                                 "max_regression_relative": 0.1, "same_workload": True,
                                 **fields})


def judged(candidate: VersionEvidence, champion: VersionEvidence) -> Any:
    from gatekeeper.evidence.interface import Evidence

    return compare(same_workload(), Evidence(candidate, {"champion": champion}))


def test_probe_runs_of_the_same_workload_are_compared() -> None:
    outcome = judged(probe_version("5", 105), probe_version("4", 100))
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.evidence["candidate"] == "mlflow:runs/p5/metrics/ttft.chat.p99_ms"
    assert outcome.threshold["same_workload"] is True
    # The measured token counts are results, not the workload: they may differ.
    worse = probe_version("5", 120, measured_output_tokens='{"p50": 63}')
    assert judged(worse, probe_version("4", 100)).status is Status.FAIL


def test_different_workloads_are_refused_naming_what_differs() -> None:
    candidate = probe_version("5", 50, digest="d2", max_tokens='{"max": 128, "p50": 128}')
    outcome = judged(candidate, probe_version("4", 100))
    assert outcome.status is Status.ERROR
    assert outcome.message.startswith("different workloads, not compared: candidate v5")
    assert 'max_tokens: {"max": 128, "p50": 128} vs {"max": 64, "p50": 64}' in outcome.message
    assert "digest" not in outcome.message  # explained by max_tokens
    assert set(outcome.observed["workload_differs"]) == {"digest", "max_tokens"}


def test_a_run_without_a_fingerprint_is_refused() -> None:
    plain = version("4", run_id="r4", probe_runs={
        "steady": LinkedRun("p4", {**USABLE, "ttft.chat.p99_ms": 100})})
    outcome = judged(probe_version("5", 100), plain)
    assert outcome.status is Status.ERROR
    assert "baseline v4" in outcome.message and "no workload fingerprint" in outcome.message


def test_profile_needs_same_workload() -> None:
    with pytest.raises(pydantic.ValidationError, match="'profile' needs 'same_workload: true'"):
        same_workload(same_workload=None, profile="capacity")
    assert "same_workload" not in same_workload(same_workload=None).model_dump()
