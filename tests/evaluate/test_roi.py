"""``roi``: net value a month and payback from the KPI uplift's conservative bound, the value
per conversion and the serving cost; hand-built Prometheus answers and probe runs.

The bound is computed here by hand (Wilson's score interval per arm, Newcombe's hybrid for the
difference), independently of gatekeeper.common.stats. The same check against a real
Prometheus is in tests/evidence/test_roi_prometheus.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS, roi
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evaluate.roi import Roi, evaluate, needs
from gatekeeper.evidence.interface import Evidence, LinkedRun, VersionEvidence
from gatekeeper.evidence.prometheus import PromAnswer, PromSample
from tests.evaluate.conftest import COMMON, version

URL = "http://prometheus.test:9090"
T = 1_764_000_000.0
Z95 = 1.959963984540054  # the normal quantile of 0.975
MONTH_S = 365.25 * 86_400 / 12
USABLE = {"probe.held_target_rate": 1.0, "probe.usable": 1.0}
# 100 requests/s, replicas of 40/s: ceil(100 / 40) = 3 replicas at 0.5 EUR an hour.
MODEL = {"currency": "EUR", "hardware_per_hour": 0.5, "traffic_rps": 100}
SERVING = 3 * 0.5 * MONTH_S / 3600  # 1,095.75 EUR a month
CONVERSION = {"name": "conversion",
              "numerator": "sum(increase(checkout_completed_total{$selector}[$window]))",
              "denominator": "sum(increase(checkout_started_total{$selector}[$window]))"}
# 12% of 10,000 against 10%: +2 points, point estimate.
COUNTS = {"candidate.successes": 1200, "candidate.trials": 10_000,
          "control.successes": 1000, "control.trials": 10_000}


def wilson(x: float, n: float, z: float = Z95) -> tuple[float, float]:
    p, d = x / n, 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return centre - spread, centre + spread


def newcombe(x1: float, n1: float, x2: float, n2: float) -> tuple[float, float]:
    (l1, u1), (l2, u2), p1, p2 = wilson(x1, n1), wilson(x2, n2), x1 / n1, x2 / n2
    return (p1 - p2 - math.hypot(p1 - l1, u2 - p2), p1 - p2 + math.hypot(u1 - p1, p2 - l2))


LOW, HIGH = newcombe(1200, 10_000, 1000, 10_000)


def spec(**fields: Any) -> Roi:
    return Roi(**{**COMMON, "category": "cost", "kind": "roi", "prometheus_url": URL,
                  "window": "7d", "selector": 'job="shop"', "candidate": 'arm="new"',
                  "control": 'arm="old"', "kpi": CONVERSION, "min_samples_per_arm": 1000,
                  "value_per_conversion": 0.001, "cost_model": MODEL,
                  "min_net_value_per_month": 0, **fields})


def capacity(rps: float, run_id: str = "c1") -> dict[str, LinkedRun]:
    return {"capacity": LinkedRun(run_id, {**USABLE, "capacity.rps": rps})}


def answered(check: Roi, counts: Mapping[str, float] = COUNTS,
             baselines: dict[str, VersionEvidence | None] | None = None,
             candidate_runs: dict[str, LinkedRun] | None = None) -> Evidence:
    queries = check.comparison().queries()
    extra = {queries[name].key: PromAnswer(URL, queries[name].param("query") or "", T,
                                           (PromSample({}, float(value)),))
             for name, value in counts.items()}
    runs = capacity(40) if candidate_runs is None else candidate_runs
    return Evidence(candidate=version(probe_runs=runs), baselines=baselines or {}, extra=extra)


def run(check: Roi, **kwargs: Any) -> Outcome:
    return evaluate(check, answered(check, **kwargs))


def test_the_hand_computed_bound() -> None:
    # Pinned so a change in the hand arithmetic above is seen too: +1.13 .. +2.87 points.
    assert (round(LOW, 6), round(HIGH, 6)) == (0.011331, 0.028675)


def test_net_value_and_payback_from_the_lower_bound_and_the_total_cost() -> None:
    check = spec(one_off_cost=5000, max_payback_months=6)
    outcome = run(check)
    trials = 100 * MONTH_S  # one trial per request at the declared traffic
    gain = LOW * trials * 0.001
    net = gain - SERVING
    assert outcome.status is Status.PASS, outcome.message
    assert outcome.observed["uplift_bound"] == pytest.approx(LOW, rel=1e-12)
    assert outcome.observed["uplift_point_estimate"] == pytest.approx(0.02)
    assert outcome.observed["monthly_trials"] == pytest.approx(262_980_000)
    assert outcome.observed["value_per_month"] == pytest.approx(gain, rel=1e-12)
    assert outcome.observed["serving_cost_per_month"] == pytest.approx(SERVING, rel=1e-12)
    assert outcome.observed["net_value_per_month"] == pytest.approx(net, rel=1e-12)
    assert outcome.observed["payback_months"] == pytest.approx(5000 / net, rel=1e-12)
    assert outcome.observed["operating_point"] == {
        "price_at": "traffic", "rate_rps": 100, "replicas": 3, "capacity_rps": 40,
        "traffic_rps": 100, "headroom": 1}
    assert outcome.observed["currency"] == "EUR"
    assert outcome.message == (
        "net value 1884.14 EUR/month, payback 2.65 months: conservative, from the lower end "
        "of the conversion uplift's 95% interval (+1.13 pp; interval +1.13..+2.87 pp, point "
        "estimate +2.00 pp not used) x 262980000 trials/month x 0.001 EUR = 2979.89 EUR, minus "
        "serving cost 1095.75 EUR/month (total cost, no control_alias); one-off cost 5000 EUR")
    assert outcome.evidence["candidate.capacity_rps"] == "mlflow:runs/c1/metrics/capacity.rps"
    assert outcome.evidence["candidate.trials"].startswith("prometheus:")


def test_a_case_the_point_estimate_would_pass_fails_on_its_bound() -> None:
    # At +2 points the net value would be 0.02 x 262,980,000 x 0.001 - 1,095.75 = 4,163.85.
    assert 0.02 * 100 * MONTH_S * 0.001 - SERVING > 3000
    outcome = run(spec(min_net_value_per_month=3000))
    assert outcome.status is Status.FAIL
    assert outcome.message.startswith("net value 1884.14 EUR/month < minimum 3000 EUR: "
                                      "conservative, from the lower end")


def test_declared_monthly_trials_replace_the_traffic() -> None:
    outcome = run(spec(monthly_trials=5_000_000, value_per_conversion=0.05))
    assert outcome.observed["value_per_month"] == pytest.approx(LOW * 5_000_000 * 0.05)
    assert outcome.observed["serving_cost_per_month"] == pytest.approx(SERVING)


def test_where_less_is_better_the_upper_end_is_the_worst_case() -> None:
    # Churn: 10% in the candidate arm against 12% in control is a 2-point gain, whose worst
    # case is the interval's upper end of candidate - control, -(the mirror of LOW).
    churn = {**CONVERSION, "name": "churn", "greater_is_better": False}
    counts = {"candidate.successes": 1000, "candidate.trials": 10_000,
              "control.successes": 1200, "control.trials": 10_000}
    outcome = run(spec(kpi=churn), counts=counts)
    assert outcome.observed["uplift_bound"] == pytest.approx(LOW, rel=1e-12)
    assert outcome.observed["ci_high"] == pytest.approx(-LOW, rel=1e-12)
    assert "from the upper end of the churn uplift's 95% interval (+1.13 pp;" in outcome.message


def test_incremental_cost_over_the_control_version() -> None:
    # The control version serves 20/s a replica: 5 replicas, 1,826.25 EUR a month; the
    # candidate's 3 cost 730.5 less, which adds to the value.
    control = version("3", "r3", probe_runs=capacity(20, "c0"))
    outcome = run(spec(control_alias="champion"), baselines={"champion": control})
    assert outcome.observed["control_cost_per_month"] == pytest.approx(5 * 0.5 * MONTH_S / 3600)
    assert outcome.observed["serving_cost_per_month"] == pytest.approx(-730.5)
    assert outcome.observed["cost_basis"] == "incremental over champion v3"
    assert outcome.observed["net_value_per_month"] == pytest.approx(
        LOW * 100 * MONTH_S * 0.001 + 730.5)
    assert outcome.evidence["control.capacity_rps"] == "mlflow:runs/c0/metrics/capacity.rps"
    assert needs(spec(control_alias="champion")).baseline_aliases == frozenset({"champion"})


@pytest.mark.parametrize(("baselines", "basis"), [
    ({"champion": None}, "total cost, alias champion is not set"),
    ({"champion": version("3", "r3")},
     "total cost, control: v3 (no probe run linked): version tag gatekeeper.probe.run_id is "
     "not set"),
])
def test_without_the_control_cost_the_whole_cost_is_charged(
        baselines: dict[str, VersionEvidence | None], basis: str) -> None:
    outcome = run(spec(control_alias="champion"), baselines=baselines)
    assert outcome.observed["cost_basis"] == basis
    assert outcome.observed["serving_cost_per_month"] == pytest.approx(SERVING)


def test_a_loss_never_pays_back() -> None:
    counts = {**COUNTS, "candidate.successes": 1000}  # no uplift: the bound is a loss
    outcome = run(spec(min_net_value_per_month=None, max_payback_months=12,
                       one_off_cost=100), counts=counts)
    assert outcome.status is Status.FAIL
    assert outcome.observed["payback_months"] is None
    assert outcome.observed["uplift_bound"] < 0
    assert outcome.message.startswith("never pays back (net value not positive; limit 12 "
                                      "months): conservative")


@pytest.mark.parametrize(("model", "message"), [
    ({"hardware_per_hour": 0.5, "traffic_rps": 100},
     "roi needs the cost model's currency: a value in no declared currency, or for no "
     "declared traffic, is no business case"),
    ({"hardware_per_hour": 0.5}, "roi needs the cost model's currency and traffic_rps: a "
     "value in no declared currency, or for no declared traffic, is no business case"),
    (None, "no cost model: set 'cost_model' on the check or the playbook"),
])
def test_a_cost_model_without_currency_or_traffic_is_an_error(model: Any, message: str
                                                               ) -> None:
    outcome = run(spec(cost_model=model))
    assert (outcome.status, outcome.message) == (Status.ERROR, message)


def test_no_capacity_run_is_an_error() -> None:
    outcome = run(spec(), candidate_runs={})
    assert outcome.status is Status.ERROR
    assert outcome.message == ("no serving cost: v4 (no probe run linked): version tag "
                               "gatekeeper.probe.run_id is not set")


def test_too_few_trials_is_an_error_as_in_ab_comparison() -> None:
    outcome = run(spec(), counts={**COUNTS, "control.trials": 999, "control.successes": 99})
    assert outcome.status is Status.ERROR
    assert outcome.message == 'too few samples in the control arm (arm="old"): 999 < 1000'


def test_registered_with_its_queries() -> None:
    assert CHECK_KINDS["roi"] is roi.KIND
    check = spec()
    asked = needs(check)
    assert {q.key for q in asked.external} == {
        q.key for q in check.comparison().queries().values()}
    assert asked.baseline_aliases == frozenset()


@pytest.mark.parametrize(("fields", "message"), [
    ({"min_net_value_per_month": None},
     "Value error, set 'min_net_value_per_month', 'max_payback_months' or both"),
    ({"value_per_conversion": 0}, "Input should be greater than 0"),
    ({"one_off_cost": -1}, "Input should be greater than or equal to 0"),
    ({"max_payback_months": 0}, "Input should be greater than 0"),
    ({"monthly_trials": float("inf")}, "Input should be a finite number"),
    ({"kpi": None}, "Input should be a valid dictionary or instance of AbKpi"),
    ({"control_alias": "a b"}, "String should match pattern '^[A-Za-z0-9_-]+$'"),
])
def test_invalid_specs_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(**fields)
    assert message in [e["msg"] for e in caught.value.errors()]
