"""A probe's evidence in MLflow: one run of its own, linked to the model version it measured.

The run holds the measurements as metrics named so the ``latency``, ``cost`` and
``metric_threshold`` checks read them unchanged with ``source: probe``, the probe's settings as
params, and the result files as artifacts. The run is tagged with its profile
(``gatekeeper.probe.profile``: ``steady``, ``capacity``, ``cache-proof``, ...). Only a usable run
is linked to the version: its ``gatekeeper.probe.<profile>.run_id`` and
``gatekeeper.probe.run_id`` tags then point at it, and ``MlflowSource`` follows them. An
unusable run is logged (its files are worth a look) but leaves the version's links where they
were, so a bad run never replaces usable evidence.

The version is resolved before any load is sent (:func:`resolve_target`), so a typo in
``--model`` or an unreachable tracking server costs nothing. MLflow is reached only through
:mod:`gatekeeper.evidence.mlflow_env`, imported lazily.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.evidence.interface import (
    PROBE_HELD_METRIC,
    PROBE_PROFILE_TAG,
    PROBE_RUN_TAG,
    EvidenceSourceError,
    profile_tag,
)
from gatekeeper.evidence.mlflow_env import (
    RegistryDeadline,
    call_registry,
    check_tracking_uri,
    import_mlflow,
    mlflow_client,
    registry_errors,
    require_sqlite_file,
    sqlite_path,
)
from gatekeeper.evidence.mlflow_source import (
    alias_target,
    check_model_name,
    get_model_version,
    get_registered_model,
    get_run,
)
from gatekeeper.probe.engine import StatusClass
from gatekeeper.probe.report import EndpointReport, ProbeReport

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT = "gatekeeper-probe"  # used when the version has no source run to sit beside
TAG_MODEL = "gatekeeper.probe.model"
TAG_VERSION = "gatekeeper.probe.version"
TAG_TARGET = "gatekeeper.probe.target"
# Endpoint types become part of metric names; MLflow allows more, but '/' and ' ' would make
# names that read as paths or break templates, so the safe subset is required.
METRIC_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
BATCH = 1000  # MLflow's limit of metrics per log_batch call
ERROR_CLASSES = tuple(c.value for c in StatusClass if c is not StatusClass.OK)
PERCENTILE_KEYS = {"p50": "p50_ms", "p90": "p90_ms", "p95": "p95_ms", "p99": "p99_ms",
                   "p99_9": "p999_ms", "max": "max_ms"}


class ProbeLogError(InfrastructureError):
    """The probe's run or the version tag could not be written (exit 3, no evidence linked)."""


@dataclass(frozen=True)
class Target:
    """The model version a probe's evidence is logged against, resolved before the run."""

    tracking_uri: str
    model: str
    version: str
    experiment_id: str | None  # the source run's experiment; None: use EXPERIMENT


@dataclass(frozen=True)
class LoggedRun:
    """Where the evidence went, and whether the version now links it (only a usable run is
    linked; ``kept`` is then the run the profile's tag still names, if any)."""

    run_id: str
    experiment_id: str
    model: str
    version: str
    profile: str = "steady"
    linked: bool = True
    kept: str | None = None

    @property
    def tag(self) -> str:
        return profile_tag(self.profile)

    def to_dict(self) -> dict[str, str | bool | None]:
        return {"run_id": self.run_id, "experiment_id": self.experiment_id,
                "model": self.model, "version": self.version, "profile": self.profile,
                "tag": self.tag, "linked": self.linked, "kept": self.kept}

    def summary(self) -> str:
        """One line saying where the run went and what the version links now."""
        where = (f"mlflow: run {self.run_id} (experiment {self.experiment_id}, profile "
                 f"{self.profile}); {self.model} version {self.version}")
        if self.linked:
            return f"{where} tagged {self.tag} and {PROBE_RUN_TAG}"
        still = (f"{self.tag} still names run {self.kept}" if self.kept else
                 f"{self.tag} stays unset")
        return f"{where} NOT tagged (evidence not usable): {still}"


def check_endpoint_names(report_names: Sequence[str], source: str) -> None:
    """Refuse endpoint types that cannot be part of a metric name (before any load is sent)."""
    bad = [name for name in report_names if not METRIC_SAFE.match(name)]
    if bad:
        raise InvalidInputError(
            f"{source}: endpoint {bad[0]!r} cannot name an MLflow metric",
            hint="with --model, endpoint types may use only letters, digits, '_', '.' and '-'")


def resolve_target(tracking_uri: str, model: str, version: str | None, alias: str | None
                   ) -> Target:
    """The version to log against; InvalidInputError if unknown, EvidenceSourceError if the
    registry cannot be reached or gives no complete answer within the registry deadline."""
    check_tracking_uri(tracking_uri)
    check_model_name(model)

    def resolve() -> Target:
        with _client(tracking_uri, EvidenceSourceError, "") as client:
            wanted = version
            if alias is not None:
                wanted = alias_target(get_registered_model(client, tracking_uri, model), alias)
            assert wanted is not None
            found = get_model_version(client, tracking_uri, model, wanted)
            run = get_run(client, found.run_id)
            experiment = str(run.info.experiment_id) if run else None
        return Target(tracking_uri, model, str(found.version), experiment)

    return call_registry(tracking_uri, RegistryDeadline(), resolve, EvidenceSourceError)


def probe_metrics(report: ProbeReport, response_bytes: float) -> dict[str, float]:
    """Every metric of a probe run; values that are NaN (nothing measured) are left out, so a
    check reading them reports them missing rather than judging a NaN."""
    metrics: dict[str, float] = {}
    for endpoint in report.endpoints:
        metrics.update(endpoint_metrics(endpoint))
    requests = sum(e.requests for e in report.endpoints)
    classes = sorted({*ERROR_CLASSES, *(c for e in report.endpoints for c in e.errors)})
    errors = {c: sum(e.errors.get(c, 0) for e in report.endpoints) for c in classes}
    metrics.update({
        "throughput_rps": sum(e.achieved_rps for e in report.endpoints),
        "target_rps": sum(e.target_rps for e in report.endpoints),
        # Every class counts, including ones only an importer knows (k6: "unclassified"):
        # a failure left out of the rate could let an error-rate gate pass.
        "error_rate": sum(errors.values()) / requests if requests else 0.0,
        **{f"errors.{c}_rate": n / requests if requests else 0.0 for c, n in errors.items()},
        "probe.samples": float(sum(e.samples for e in report.endpoints)),
        "probe.requests": float(requests),
        PROBE_HELD_METRIC: 1.0 if report.endpoints and report.held_target_rate else 0.0,
        "response_bytes": response_bytes,
    })
    return {k: v for k, v in metrics.items() if not math.isnan(v)}


def endpoint_metrics(e: EndpointReport) -> dict[str, float]:
    """The metrics of one endpoint type."""
    name = e.endpoint
    latency = {f"latency.{name}.{key}": getattr(e.latency, field) * 1000
               for field, key in PERCENTILE_KEYS.items()}
    service = {f"service.{name}.{key}": getattr(e.service, field) * 1000
               for field, key in PERCENTILE_KEYS.items() if field in ("p50", "p95", "p99")}
    return {**latency, **service, f"latency.{name}.samples": float(e.samples),
            f"throughput.{name}_rps": e.achieved_rps, f"target.{name}_rps": e.target_rps,
            f"error_rate.{name}": e.error_rate}


@dataclass(frozen=True)
class Logging:
    """What to log beside the metrics: the run's profile, whether it is usable evidence (only
    then is it linked), its params, the target URL as shown, and its result files."""

    profile: str
    usable: bool
    params: Mapping[str, str]
    url: str
    files: Sequence[Path] = ()


def log_probe(target: Target, metrics: Mapping[str, float], logging: Logging) -> LoggedRun:
    """Create the probe run, log metrics, params and files, then (if usable) tag the version,
    within the registry deadline (ProbeLogError past it: the result files are already
    written)."""
    return call_registry(target.tracking_uri, RegistryDeadline(),
                         lambda: _log(target, metrics, logging), ProbeLogError,
                         "probe evidence not logged")


def _log(target: Target, metrics: Mapping[str, float], logging: Logging) -> LoggedRun:
    with _client(target.tracking_uri, ProbeLogError, "probe evidence not logged") as client:
        experiment = target.experiment_id or _probe_experiment(client, target.tracking_uri)
        tags = {TAG_MODEL: target.model, TAG_VERSION: target.version, TAG_TARGET: logging.url,
                PROBE_PROFILE_TAG: logging.profile,
                "mlflow.runName": f"probe {logging.profile} {target.model} v{target.version}"}
        run_id = str(client.create_run(experiment, tags=tags).info.run_id)
        with _marked_failed_on_error(client, run_id):
            _log_batches(client, run_id, metrics, logging.params)
            for path in logging.files:
                client.log_artifact(run_id, str(path))
            client.set_terminated(run_id, "FINISHED")
        logged = LoggedRun(run_id, experiment, target.model, target.version, logging.profile)
        if not logging.usable:
            tags_now = client.get_model_version(target.model, target.version).tags or {}
            return replace(logged, linked=False, kept=tags_now.get(logged.tag) or None)
        # The profile's own link first: a failure between the two leaves the legacy tag on
        # the older usable run, never on a run no profile links.
        client.set_model_version_tag(target.model, target.version, logged.tag, run_id)
        client.set_model_version_tag(target.model, target.version, PROBE_RUN_TAG, run_id)
    return logged


def _log_batches(client: MlflowClient, run_id: str, metrics: Mapping[str, float],
                 params: Mapping[str, str]) -> None:
    import_mlflow()
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())]
    for start in range(0, len(items), BATCH):
        client.log_batch(run_id, metrics=items[start:start + BATCH])
    client.log_batch(run_id, params=[Param(k, v) for k, v in sorted(params.items())])


def _probe_experiment(client: MlflowClient, tracking_uri: str) -> str:
    """The ``gatekeeper-probe`` experiment, created on first use.

    For a SQLite registry its artifacts go beside the database (MLflow's default would be
    ``./mlruns`` of whatever directory the probe ran in).
    """
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return str(found.experiment_id)
    db = sqlite_path(tracking_uri)
    location = (db.resolve().parent / "artifacts" / EXPERIMENT).as_uri() if db else None
    return str(client.create_experiment(EXPERIMENT, artifact_location=location))


@contextmanager
def _marked_failed_on_error(client: MlflowClient, run_id: str) -> Iterator[None]:
    """A run whose logging broke off is marked FAILED (best effort), never left RUNNING."""
    try:
        yield
    except Exception:
        with contextlib.suppress(Exception):  # the first failure is the one worth reporting
            client.set_terminated(run_id, "FAILED")
        raise


@contextmanager
def _client(tracking_uri: str, error: type[InfrastructureError], context: str
            ) -> Iterator[MlflowClient]:
    with registry_errors(tracking_uri, error, context):
        require_sqlite_file(tracking_uri)
        yield mlflow_client(tracking_uri)
