"""The probe's evidence in a real SQLite MLflow registry: metric names the checks read, the run
and its link to the version, and MlflowSource following that link."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from gatekeeper.errors import InvalidInputError
from gatekeeper.evaluate.interface import Status
from gatekeeper.evaluate.latency import Latency, evaluate
from gatekeeper.evidence.interface import EvidenceRequest, LinkedRun
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.evidence.mlflow_source import MlflowSource
from gatekeeper.probe.engine import RunRecord, Sample, StatusClass
from gatekeeper.probe.mlflow_log import (
    Logging,
    check_endpoint_names,
    log_probe,
    probe_metrics,
    resolve_target,
)
from gatekeeper.probe.report import HoldPolicy, ProbeReport, build_report
from tests.support.registry import seed_version

OK, TIMEOUT = StatusClass.OK, StatusClass.TIMEOUT


def sample(endpoint: str, at: float, latency_ms: float, status: StatusClass = OK) -> Sample:
    return Sample(endpoint, at, at, at + latency_ms / 1000, status, 100 if status is OK else 0)


def small_report() -> ProbeReport:
    """predict: 3 ok (2, 4, 6 ms) and 1 timeout; health: 2 ok (1 ms); 1 every 0.1 s."""
    samples = [sample("predict", 0.0, 2), sample("health", 0.1, 1), sample("predict", 0.2, 4),
               sample("health", 0.3, 1), sample("predict", 0.4, 6),
               sample("predict", 0.5, 0, TIMEOUT)]
    return build_report(RunRecord("http://t", tuple(samples), len(samples)), HoldPolicy())


def test_metric_names_are_the_ones_checks_read() -> None:
    metrics = probe_metrics(small_report(), response_bytes=100.0)
    per_endpoint = {f"{family}.{e}.{key}" for e in ("predict", "health")
                    for family, keys in (("latency", ("p50_ms", "p90_ms", "p95_ms", "p99_ms",
                                                      "p999_ms", "max_ms", "samples")),
                                         ("service", ("p50_ms", "p95_ms", "p99_ms")))
                    for key in keys}
    per_endpoint |= {f"{name}.{e}{suffix}" for e in ("predict", "health")
                     for name, suffix in (("throughput", "_rps"), ("target", "_rps"),
                                          ("error_rate", ""))}
    assert set(metrics) == per_endpoint | {
        "throughput_rps", "target_rps", "error_rate", "errors.timeout_rate", "errors.5xx_rate",
        "errors.4xx_rate", "errors.connection_rate", "probe.samples", "probe.requests",
        "probe.held_target_rate", "response_bytes"}
    assert metrics["probe.samples"] == 5 and metrics["probe.requests"] == 6
    assert metrics["error_rate"] == metrics["errors.timeout_rate"] == pytest.approx(1 / 6)
    assert metrics["error_rate.predict"] == 0.25
    assert metrics["latency.predict.samples"] == 3
    assert metrics["latency.predict.max_ms"] == pytest.approx(6.0)
    assert metrics["latency.predict.p50_ms"] == pytest.approx(4.0, rel=0.01)
    # Six requests over 0.5 s of intended (and actual) send times: 12/s, all of them held.
    assert metrics["throughput_rps"] == metrics["target_rps"] == pytest.approx(12.0)
    assert metrics["probe.held_target_rate"] == 1.0


def test_nothing_measured_leaves_latency_out_rather_than_nan() -> None:
    record = RunRecord("http://t", (sample("predict", 0.0, 0, TIMEOUT),
                                    sample("predict", 0.1, 0, TIMEOUT)), 2)
    metrics = probe_metrics(build_report(record, HoldPolicy()), 0.0)
    assert "latency.predict.p99_ms" not in metrics
    assert not any(math.isnan(v) for v in metrics.values())
    assert metrics["latency.predict.samples"] == 0


def test_no_endpoints_is_not_a_held_rate() -> None:
    empty = build_report(RunRecord("http://t", (), 0), HoldPolicy())
    assert probe_metrics(empty, 0.0)["probe.held_target_rate"] == 0.0


def files(folder: Path) -> list[Path]:
    paths = [folder / "result.json", folder / "latency.png"]
    paths[0].write_text("{}")
    paths[1].write_bytes(b"\x89PNG\r\n\x1a\n")
    return paths


def test_logged_run_is_linked_and_read_back_by_mlflow_source(tracking_uri: str,
                                                             tmp_path: Path) -> None:
    version = seed_version(tracking_uri, "churn", metrics={"latency.predict.p99_ms": 1.0},
                           aliases=["candidate"], log_model=False)
    target = resolve_target(tracking_uri, "churn", None, "candidate")
    assert (target.version, target.experiment_id) == (version, "0")
    metrics = probe_metrics(small_report(), 100.0)
    logged = log_probe(target, metrics, Logging("steady", True, {"probe.seed": "0"}, "http://t",
                                                files(tmp_path)))

    client = mlflow_client(tracking_uri)
    run = client.get_run(logged.run_id)
    assert run.info.experiment_id == "0" and run.info.status == "FINISHED"
    assert {k: v for k, v in run.data.tags.items() if k.startswith("gatekeeper.")} == {
        "gatekeeper.probe.model": "churn", "gatekeeper.probe.version": version,
        "gatekeeper.probe.target": "http://t", "gatekeeper.probe.profile": "steady"}
    assert run.data.params == {"probe.seed": "0"}
    assert {a.path for a in client.list_artifacts(logged.run_id)} == {"result.json",
                                                                      "latency.png"}

    candidate = MlflowSource(tracking_uri).collect("churn", version, EvidenceRequest()).candidate
    assert candidate.version_tags["gatekeeper.probe.run_id"] == logged.run_id
    assert candidate.probe_run_id == logged.run_id
    assert candidate.probe_metrics == pytest.approx(metrics)
    assert candidate.version_tags["gatekeeper.probe.steady.run_id"] == logged.run_id
    assert set(candidate.probe_runs) == {"steady"}
    assert candidate.probe_runs["steady"].run_id == logged.run_id
    assert candidate.probe_runs["steady"].metrics == pytest.approx(metrics)
    assert candidate.metrics == {"latency.predict.p99_ms": 1.0}  # the source run, untouched


def test_version_without_a_source_run_logs_to_the_probe_experiment(tracking_uri: str,
                                                                   tmp_path: Path) -> None:
    client = mlflow_client(tracking_uri)
    client.create_registered_model("bare")
    client.create_model_version("bare", source=(tmp_path / "model").as_uri(),
                                await_creation_for=0)
    target = resolve_target(tracking_uri, "bare", "1", None)
    assert target.experiment_id is None
    first = log_probe(target, {"throughput_rps": 5.0},
                      Logging("steady", True, {}, "http://t", files(tmp_path)))
    second = log_probe(target, {"throughput_rps": 6.0}, Logging("steady", True, {}, "http://t"))
    experiment = client.get_experiment(first.experiment_id)
    assert experiment.name == "gatekeeper-probe"
    assert second.experiment_id == first.experiment_id
    db_folder = Path(tracking_uri.removeprefix("sqlite:///")).parent
    assert experiment.artifact_location == (db_folder / "artifacts" / "gatekeeper-probe").as_uri()
    assert client.get_model_version("bare", "1").tags["gatekeeper.probe.run_id"] == (
        second.run_id)


def test_link_to_a_missing_or_deleted_run_reads_as_no_probe_evidence(tracking_uri: str,
                                                                     tmp_path: Path) -> None:
    version = seed_version(tracking_uri, "churn", metrics={}, log_model=False)
    target = resolve_target(tracking_uri, "churn", version, None)
    logged = log_probe(target, {"probe.held_target_rate": 1.0},
                       Logging("steady", True, {}, "http://t"))
    client = mlflow_client(tracking_uri)
    client.delete_run(logged.run_id)
    source = MlflowSource(tracking_uri)
    deleted = source.collect("churn", version, EvidenceRequest()).candidate
    assert (deleted.probe_run_id, deleted.probe_metrics) == (logged.run_id, {})
    assert deleted.probe_runs["steady"] == LinkedRun(logged.run_id, {})

    client.set_model_version_tag("churn", version, "gatekeeper.probe.run_id", "0" * 32)
    client.delete_model_version_tag("churn", version, "gatekeeper.probe.steady.run_id")
    missing = source.collect("churn", version, EvidenceRequest())
    assert (missing.candidate.probe_run_id, missing.candidate.probe_metrics) == ("0" * 32, {})
    check = Latency(id="l", kind="latency", category="latency", owner="o", endpoint="predict",
                    p99_ms=80, source="probe")
    outcome = evaluate(check, missing)
    assert (outcome.status, outcome.message) == (
        Status.ERROR, f"predict: metric 'probe.held_target_rate' not found on probe run "
        f"{'0' * 32}")


def test_unknown_model_or_alias_is_invalid_input(tracking_uri: str) -> None:
    seed_version(tracking_uri, "churn", metrics={}, log_model=False)
    with pytest.raises(InvalidInputError, match="model 'nope' is not registered"):
        resolve_target(tracking_uri, "nope", "1", None)
    with pytest.raises(InvalidInputError, match="model 'churn' has no alias 'prod'"):
        resolve_target(tracking_uri, "churn", None, "prod")


def test_endpoint_names_must_fit_metric_names() -> None:
    check_endpoint_names(["predict", "pilot.predict", "batch-2", "a_b"], "mix.jsonl")
    with pytest.raises(InvalidInputError) as caught:
        check_endpoint_names(["predict", "v1/predict"], "mix.jsonl")
    assert str(caught.value) == "mix.jsonl: endpoint 'v1/predict' cannot name an MLflow metric"


def test_error_rate_counts_classes_only_an_importer_knows() -> None:
    """k6 imports put every failure under "unclassified": the overall rate must include it."""
    report = small_report()
    predict = next(e for e in report.endpoints if e.endpoint == "predict")
    imported = dataclasses.replace(predict, errors={"unclassified": 2})
    metrics = probe_metrics(dataclasses.replace(report, endpoints=(imported,)), 0.0)
    assert metrics["error_rate"] == pytest.approx(2 / imported.requests)
    assert metrics["errors.unclassified_rate"] == pytest.approx(2 / imported.requests)


def test_an_unusable_run_is_logged_but_never_moves_the_links(tracking_uri: str) -> None:
    version = seed_version(tracking_uri, "churn", metrics={}, log_model=False)
    target = resolve_target(tracking_uri, "churn", version, None)
    good = log_probe(target, {"probe.held_target_rate": 1.0, "probe.usable": 1.0},
                     Logging("steady", True, {}, "http://t"))
    capacity = log_probe(target, {"probe.held_target_rate": 1.0, "capacity_rps": 400.0},
                         Logging("capacity", True, {}, "http://t"))
    bad = log_probe(target, {"probe.held_target_rate": 0.0, "probe.usable": 0.0},
                    Logging("steady", False, {}, "http://t"))
    assert (bad.linked, bad.kept) == (False, good.run_id)
    assert bad.summary() == (
        f"mlflow: run {bad.run_id} (experiment 0, profile steady); churn version {version} NOT "
        f"tagged (evidence not usable): gatekeeper.probe.steady.run_id still names run "
        f"{good.run_id}")
    assert capacity.summary() == (
        f"mlflow: run {capacity.run_id} (experiment 0, profile capacity); churn version "
        f"{version} tagged gatekeeper.probe.capacity.run_id and gatekeeper.probe.run_id")
    client = mlflow_client(tracking_uri)
    assert client.get_run(bad.run_id).data.tags["gatekeeper.probe.profile"] == "steady"
    tags = client.get_model_version("churn", version).tags
    assert {k: v for k, v in tags.items() if k.startswith("gatekeeper.probe.")} == {
        "gatekeeper.probe.steady.run_id": good.run_id,
        "gatekeeper.probe.capacity.run_id": capacity.run_id,
        "gatekeeper.probe.run_id": capacity.run_id}
    candidate = MlflowSource(tracking_uri).collect("churn", version, EvidenceRequest()).candidate
    assert {p: r.run_id for p, r in candidate.probe_runs.items()} == {
        "capacity": capacity.run_id, "steady": good.run_id}
    assert candidate.probe_runs["capacity"].metrics["capacity_rps"] == 400.0

    first = log_probe(resolve_target(tracking_uri, "churn", version, None),
                      {"probe.usable": 0.0}, Logging("cache-proof", False, {}, "http://t"))
    assert first.summary().endswith(
        "NOT tagged (evidence not usable): gatekeeper.probe.cache-proof.run_id stays unset")
