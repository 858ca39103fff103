"""``latency``: P95/P99 of one endpoint type from logged run metrics."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS, latency
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evaluate.latency import Latency, evaluate
from gatekeeper.evidence.interface import EvidenceRequest, LinkedRun
from tests.evaluate.conftest import COMMON, evidence

P95 = "latency.predict.p95_ms"
P99 = "latency.predict.p99_ms"


def spec(**fields: Any) -> Latency:
    return Latency(**{**COMMON, "category": "latency", "kind": "latency", "endpoint": "predict",
                      **fields})


def run(check: Latency, metrics: dict[str, float]) -> Outcome:
    return evaluate(check, evidence(metrics))


SERVE = {"p95_ms": 40, "p99_ms": 80, "warn_p99_ms": 60}


@pytest.mark.parametrize(("p95", "p99", "status", "message"), [
    (30, 50, Status.PASS, "predict: p95 = 30 ms <= 40 ms, p99 = 50 ms <= 80 ms"),
    (40, 60, Status.PASS, "predict: p95 = 40 ms <= 40 ms, p99 = 60 ms <= 80 ms"),
    (40, 60.5, Status.WARN, "predict: p95 = 40 ms <= 40 ms, p99 = 60.5 ms > warning 60 ms "
     "(limit 80 ms)"),
    (40, 80, Status.WARN, "predict: p95 = 40 ms <= 40 ms, p99 = 80 ms > warning 60 ms "
     "(limit 80 ms)"),
    (40, 80.5, Status.FAIL, "predict: p95 = 40 ms <= 40 ms, p99 = 80.5 ms > 80 ms"),
    (40.5, 50, Status.FAIL, "predict: p95 = 40.5 ms > 40 ms, p99 = 50 ms <= 80 ms"),
    (41, 70, Status.FAIL, "predict: p95 = 41 ms > 40 ms, p99 = 70 ms > warning 60 ms "
     "(limit 80 ms)"),
])
def test_limits_and_the_worse_percentile_wins(p95: float, p99: float, status: Status,
                                               message: str) -> None:
    outcome = run(spec(**SERVE), {P95: p95, P99: p99})
    assert (outcome.status, outcome.message) == (status, message)


def test_outcome_records_values_limits_and_sources() -> None:
    outcome = run(spec(**SERVE), {P95: 30, P99: 50})
    assert outcome.observed == {"p95_ms": 30, "p99_ms": 50}
    assert outcome.threshold == {"p95_ms": 40, "p99_ms": 80, "warn_p99_ms": 60}
    assert outcome.evidence == {"p95_ms": f"mlflow:runs/r4/metrics/{P95}",
                                "p99_ms": f"mlflow:runs/r4/metrics/{P99}"}


def test_missing_percentile_is_an_error_even_when_the_other_fails() -> None:
    outcome = run(spec(**SERVE), {P99: 182})
    assert outcome == Outcome(
        Status.ERROR, f"predict: metric '{P95}' not found on run r4, p99 = 182 ms > 80 ms",
        observed={"p95_ms": None, "p99_ms": 182}, threshold=SERVE,
        evidence={"p95_ms": f"mlflow:runs/r4/metrics/{P95}",
                  "p99_ms": f"mlflow:runs/r4/metrics/{P99}"})


def test_both_missing_are_both_named() -> None:
    outcome = run(spec(**SERVE), {})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"predict: metric '{P95}' not found on run r4, "
        f"metric '{P99}' not found on run r4")


def test_percentile_without_a_limit_is_not_read() -> None:
    outcome = run(spec(p99_ms=150), {P99: 182})
    assert (outcome.status, outcome.message) == (Status.FAIL, "predict: p99 = 182 ms > 150 ms")
    assert outcome.observed == {"p99_ms": 182}
    assert outcome.evidence == {"p99_ms": f"mlflow:runs/r4/metrics/{P99}"}


@pytest.mark.parametrize(("value", "shown"), [
    (float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf"),
    (1.7976931348623157e308, "inf"),  # MLflow's SQL store writes infinity as the largest float
])
def test_non_finite_value_is_an_error(value: float, shown: str) -> None:
    outcome = run(spec(p95_ms=40), {P95: value})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"predict: p95 = {shown} is not a finite number")


@pytest.mark.parametrize("value", [-0.001, -5.0])
def test_negative_latency_is_an_error(value: float) -> None:
    # Before: a negative p99 was below every limit and passed.
    outcome = run(spec(p95_ms=40, p99_ms=80), {P95: 20, P99: value})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"predict: p95 = 20 ms <= 40 ms, p99 = {value:g} is negative")


def test_zero_latency_is_judged() -> None:
    assert run(spec(p95_ms=40), {P95: 0.0}).status is Status.PASS


def test_endpoint_and_template_name_the_metric() -> None:
    dotted = spec(endpoint="pilot.predict", p95_ms=50)
    assert dotted.metric_name(95) == "latency.pilot.predict.p95_ms"
    custom = spec(p99_ms=150, metric_template="serving/{endpoint}/latency_p{percentile}")
    outcome = run(custom, {"serving/predict/latency_p99": 120})
    assert (outcome.status, outcome.message) == (Status.PASS, "predict: p99 = 120 ms <= 150 ms")


def test_no_source_run_is_named() -> None:
    outcome = evaluate(spec(p95_ms=40), evidence(run_id=None))
    assert outcome.message == f"predict: metric '{P95}' not found on v4 (no source run)"


def test_registered_without_extra_evidence() -> None:
    assert CHECK_KINDS["latency"] is latency.KIND
    assert latency.KIND.needs(spec(p95_ms=40)) == EvidenceRequest()


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "Value error, set at least one of 'p95_ms', 'p99_ms' or 'min_goodput_rps'"),
    ({"p95_ms": 40, "warn_p95_ms": 50}, "Value error, 'warn_p95_ms' must be at or below 'p95_ms'"),
    ({"p95_ms": 40, "warn_p99_ms": 50}, "Value error, 'warn_p99_ms' must be at or below 'p99_ms'"),
    ({"p95_ms": 0}, "Input should be greater than 0"),
    ({"p99_ms": float("nan")}, "Input should be a finite number"),
    ({"p99_ms": 150, "p999_ms": 300}, "Extra inputs are not permitted"),
    ({"p99_ms": 150, "metric_template": "latency.{endpoint}"},
     "Value error, must contain {percentile}, or both percentiles read one metric"),
    ({"p99_ms": 150, "metric_template": "{service}.p{percentile}"},
     "Value error, unknown placeholder {service}: use {endpoint} and {percentile}"),
    ({"p99_ms": 150, "metric_template": "p{percentile"},
     "Value error, not a valid template: expected '}' before end of string"),
    ({"p99_ms": 150, "metric_template": "p{percentile:q}"},
     "Value error, not a valid template: Unknown format code 'q' for object of type 'int'"),
    ({"p99_ms": 150, "endpoint": ""}, "Value error, set 'endpoint' (or 'sla')"),
    ({"p99_ms": 150, "at_rps": 0}, "Input should be greater than 0"),
    ({"sla": "predict", "p99_ms": 80},
     "Value error, with 'sla', leave out 'p99_ms': the SLA declares them once"),
    ({"p99_ms": 80, "profile": "steady"}, "Value error, 'profile' needs 'source: probe'"),
    ({"p99_ms": 80, "source": "probe", "profile": "Steady run"},
     "String should match pattern '^[a-z0-9][a-z0-9_-]*$'"),
])
def test_invalid_specs_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(**fields)
    assert message in [e["msg"] for e in caught.value.errors()]


# source: probe -------------------------------------------------------------------------------

PROBE = {"probe.held_target_rate": 1.0, "latency.predict.samples": 900.0}
PROBE_REF = "mlflow:runs/p9/metrics/"


def probed(metrics: dict[str, float], run_id: str | None = "p9") -> Any:
    return evidence({P95: 999.0}, probe_run_id=run_id, probe_metrics=metrics)


def test_probe_source_reads_the_linked_probe_run_and_cites_it() -> None:
    outcome = evaluate(spec(source="probe", **SERVE), probed({**PROBE, P95: 30, P99: 50}))
    assert (outcome.status, outcome.message) == (
        Status.PASS, "predict: p95 = 30 ms <= 40 ms, p99 = 50 ms <= 80 ms (probe run p9)")
    assert outcome.evidence == {"p95_ms": PROBE_REF + P95, "p99_ms": PROBE_REF + P99,
                                "probe_run": "mlflow:runs/p9",
                                "held_target_rate": PROBE_REF + "probe.held_target_rate"}
    assert outcome.observed == {"p95_ms": 30, "p99_ms": 50, "probe_run_id": "p9",
                                "profile": None}


def test_probe_that_did_not_hold_its_rate_is_an_error_whatever_it_measured() -> None:
    outcome = evaluate(spec(source="probe", **SERVE),
                       probed({**PROBE, "probe.held_target_rate": 0.0, P95: 1, P99: 2}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "predict: probe did not hold its target rate (probe run p9)")
    assert outcome.observed == {"p95_ms": 1, "p99_ms": 2, "probe_run_id": "p9", "profile": None}


def test_probe_source_without_a_linked_run_is_an_error() -> None:
    outcome = evaluate(spec(source="probe", p99_ms=80), probed({}, run_id=None))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "predict: v4 (no probe run linked): version tag gatekeeper.probe.run_id "
        "is not set")
    assert outcome.evidence["held_target_rate"] == (
        "mlflow:models/fraud/4/version_tags/gatekeeper.probe.run_id")


def test_probe_run_that_is_gone_is_an_error_naming_it() -> None:
    outcome = evaluate(spec(source="probe", p99_ms=80), probed({}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "predict: metric 'probe.held_target_rate' not found on probe run p9")


def test_missing_probe_metric_names_the_probe_run() -> None:
    outcome = evaluate(spec(source="probe", p99_ms=80), probed(PROBE))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"predict: metric '{P99}' not found on probe run p9")


@pytest.mark.parametrize(("samples", "status", "message"), [
    (1001, Status.PASS, "predict: p99 = 50 ms <= 80 ms (probe run p9)"),
    (1000, Status.PASS, "predict: p99 = 50 ms <= 80 ms (probe run p9)"),
    (999, Status.ERROR, "predict: 999 samples < min_samples 1000 (probe run p9)"),
])
def test_min_samples(samples: float, status: Status, message: str) -> None:
    check = spec(source="probe", p99_ms=80, min_samples=1000)
    outcome = evaluate(check, probed({**PROBE, "latency.predict.samples": samples, P99: 50}))
    assert (outcome.status, outcome.message) == (status, message)
    assert outcome.threshold["min_samples"] == check.min_samples
    assert outcome.evidence["samples"] == PROBE_REF + "latency.predict.samples"


@pytest.mark.parametrize(("samples", "why"), [
    (float("inf"), "= inf is not a finite number"),
    (float("nan"), "= nan is not a finite number"),
    (-1.0, "= -1 is negative"),
])
def test_unusable_sample_count_is_an_error(samples: float, why: str) -> None:
    check = spec(source="probe", p99_ms=80, min_samples=1000)
    outcome = evaluate(check, probed({**PROBE, "latency.predict.samples": samples, P99: 50}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"predict: metric 'latency.predict.samples' {why} (probe run p9)")


def test_min_samples_also_applies_to_the_source_run() -> None:
    outcome = run(spec(p99_ms=80, min_samples=100), {P99: 50})
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "predict: metric 'latency.predict.samples' not found on run r4")


def test_source_run_is_the_default_and_ignores_the_probe() -> None:
    outcome = evaluate(spec(p95_ms=40), probed({**PROBE, P95: 1}))
    assert (outcome.status, outcome.message) == (Status.FAIL, "predict: p95 = 999 ms > 40 ms")
    assert "held_target_rate" not in outcome.evidence


@pytest.mark.parametrize(("fields", "message"), [
    ({"p99_ms": 80, "source": "prometheus"}, "Input should be 'run' or 'probe'"),
    ({"p99_ms": 80, "min_samples": 0}, "Input should be greater than or equal to 1"),
])
def test_invalid_source_and_min_samples(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(**fields)
    assert message in [e["msg"] for e in caught.value.errors()]


# Profiles: which probe run is read -----------------------------------------------------------

USABLE = {**PROBE, "probe.usable": 1.0}


def profiled(**runs: dict[str, float]) -> Any:
    """A version whose legacy tag names run 'latest' (2 ms) and each profile its own run."""
    return evidence({}, probe_run_id="latest", probe_metrics={**USABLE, P99: 2.0},
                    probe_runs={name.replace("_", "-"): LinkedRun(f"{name}-run", metrics)
                                for name, metrics in runs.items()})


def test_without_a_profile_the_steady_run_is_read_before_the_latest_link() -> None:
    outcome = evaluate(spec(source="probe", p99_ms=80),
                       profiled(steady={**USABLE, P99: 50.0}, capacity={**USABLE, P99: 79.0}))
    assert outcome.message == "predict: p99 = 50 ms <= 80 ms (probe run steady-run, profile steady)"
    assert outcome.observed == {"p99_ms": 50.0, "probe_run_id": "steady-run", "profile": "steady"}
    assert outcome.evidence["probe_run"] == "mlflow:runs/steady-run"
    assert outcome.evidence["p99_ms"] == f"mlflow:runs/steady-run/metrics/{P99}"


def test_without_a_steady_run_the_latest_link_is_read() -> None:
    outcome = evaluate(spec(source="probe", p99_ms=80), profiled(capacity={**USABLE, P99: 79.0}))
    assert outcome.message == "predict: p99 = 2 ms <= 80 ms (probe run latest)"


def test_a_named_profile_is_read_and_only_that_profile() -> None:
    outcome = evaluate(spec(source="probe", profile="cache-proof", p99_ms=80),
                       profiled(cache_proof={**USABLE, P99: 90.0}))
    assert (outcome.status, outcome.message) == (
        Status.FAIL, "predict: p99 = 90 ms > 80 ms (probe run cache_proof-run, profile "
        "cache-proof)")
    missing = evaluate(spec(source="probe", profile="capacity", p99_ms=80), profiled())
    assert (missing.status, missing.message) == (
        Status.ERROR, "predict: v4 (no probe run linked, profile capacity): version tag "
        "gatekeeper.probe.capacity.run_id is not set")
    assert missing.evidence["probe_run"] == (
        "mlflow:models/fraud/4/version_tags/gatekeeper.probe.capacity.run_id")


def test_a_run_the_probe_judged_unusable_is_no_evidence() -> None:
    outcome = evaluate(spec(source="probe", p99_ms=80),
                       profiled(steady={**USABLE, "probe.usable": 0.0, P99: 5.0}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "predict: the probe judged its evidence not usable (probe run "
        "steady-run, profile steady)")


# at_rps and the SLA ---------------------------------------------------------------------------

RATE = "target.predict_rps"


@pytest.mark.parametrize(("rate", "status", "message"), [
    (200.4, Status.PASS, "predict: p99 = 50 ms <= 80 ms, at 200.4/s (>= 200/s) (probe run p9)"),
    (190.0, Status.PASS, "predict: p99 = 50 ms <= 80 ms, at 190/s (>= 200/s) (probe run p9)"),
    (20.0, Status.FAIL, "predict: p99 = 50 ms <= 80 ms, measured at 20/s, below the 200/s the "
     "limits hold at (probe run p9)"),
])
def test_at_rps_fails_evidence_measured_below_the_rate(rate: float, status: Status,
                                                        message: str) -> None:
    outcome = evaluate(spec(source="probe", p99_ms=80, at_rps=200),
                       probed({**PROBE, P99: 50, RATE: rate}))
    assert (outcome.status, outcome.message) == (status, message)
    assert outcome.observed["rate_rps"] == rate
    assert outcome.evidence["rate_rps"] == PROBE_REF + RATE
    assert outcome.threshold == {"p99_ms": 80, "at_rps": 200}


def test_at_rps_without_the_rate_metric_is_an_error() -> None:
    outcome = evaluate(spec(p99_ms=80, at_rps=200), evidence({P99: 50}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"predict: p99 = 50 ms <= 80 ms, metric '{RATE}' (the rate the latencies "
        "were measured at) not found on run r4")


def test_an_sla_check_not_filled_in_by_the_loader_is_an_error() -> None:
    outcome = evaluate(spec(endpoint="", sla="predict"), probed({**PROBE, P99: 50}))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "sla 'predict' was not filled in from the playbook's sla")
