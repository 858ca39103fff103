"""``gatekeeper demo``: the embedded default. Trains a small real scikit-learn classifier,
registers five versions in a local SQLite MLflow registry, and gates them with the example
playbook, leaving registry, audit log and JSON results in a working folder to inspect.

Accuracy and F1 are measured on a held-out split. Serving latency, throughput, cost inputs and
pilot figures stand for what a load test and a pilot would log; they are seeded (tagged
``gatekeeper.demo.seeded_metrics``) so each version lands on a known verdict.

The playbook is the packaged one, copied into the working folder (``demo/playbook.py``).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatekeeper.decide.checks import PREREQUISITE_ID
from gatekeeper.decide.result import CheckResult, Decision, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.evidence.mlflow_env import import_mlflow

MODEL_NAME = "demo-classifier"
# The check the pipeline adds to every milestone after the first; not one of the playbook's.
MEASURED_METRICS = ("accuracy", "f1")

# What a load test of the serve layer and a two-week pilot would have logged.
FAST_SERVING = {"latency.predict.p95_ms": 21.0, "latency.predict.p99_ms": 48.0,
                "latency.batch.p95_ms": 210.0, "latency.batch.p99_ms": 380.0,
                "throughput_rps": 420.0, "response_bytes": 180.0,
                "security.critical_vulnerabilities": 0.0, "privacy.pii_findings": 0.0}
SLOW_SERVING = {**FAST_SERVING, "latency.predict.p95_ms": 74.0, "latency.predict.p99_ms": 161.0,
                "throughput_rps": 95.0}
PILOT = {"latency.pilot.predict.p95_ms": 29.0, "latency.pilot.predict.p99_ms": 66.0,
         "pilot.error_rate": 0.002, "pilot.conversion_rate": 0.118}
GOVERNANCE_TAGS = {"data_classification": "internal", "owner": "ds-lead@example.com"}
MODEL_CARD = ("# demo-classifier\n\nIntended use: demo of gatekeeper. Training data: the "
              "Wisconsin breast cancer data set shipped with scikit-learn.\n")


@dataclass(frozen=True)
class DemoVersion:
    """One version to register, and what the demo expects of it."""

    story: str
    features: int | None  # None: every feature; fewer features make a weaker model
    regularization: float
    metrics: Mapping[str, float]
    run_tags: Mapping[str, str] = field(default_factory=lambda: dict(GOVERNANCE_TAGS))
    version_tags: Mapping[str, str] = field(default_factory=dict)
    model_card: bool = True
    description: str = "Logistic regression on standardised features."
    milestones: tuple[str, ...] = ("poc", "serve", "pilot")


VERSIONS = (
    DemoVersion("the champion in production today", None, 0.05,
                {**FAST_SERVING, **PILOT}, version_tags={"approved_by": "cab-2026-117"},
                milestones=()),
    DemoVersion("passes every milestone and becomes champion", None, 1.0,
                {**FAST_SERVING, **PILOT, "pilot.conversion_rate": 0.121},
                version_tags={"approved_by": "cab-2026-142"}),
    DemoVersion("blocked on latency at the serve milestone", None, 0.5, SLOW_SERVING,
                milestones=("poc", "serve")),
    DemoVersion("blocked on a quality regression against the champion", 5, 1.0, FAST_SERVING,
                milestones=("poc",)),
    DemoVersion("blocked on missing evidence (no model card, no data classification)", None,
                1.0, FAST_SERVING, run_tags={"owner": "ds-lead@example.com"},
                model_card=False, description="", milestones=("poc",)),
)
GATE_ORDER = (3, 4, 5, 2)  # the passing version last, so it replaces the champion at the end
SEEDED_METRICS = tuple(sorted({key for spec in VERSIONS for key in spec.metrics}))


@dataclass(frozen=True)
class Gated:
    version: str
    story: str
    milestone: str
    decision: str
    blockers: str  # "" on a pass
    checks: str  # e.g. "5 playbook checks: 4 pass, 1 warn; prerequisite: pass"
    promoted: str | None
    result_path: Path


def run_demo(workdir: Path, playbook: Path, progress: Callable[[str], None]) -> list[Gated]:
    """Seed the registry in ``workdir`` and gate every demo version; return what happened."""
    from gatekeeper.adapters import mlflow_adapters
    from gatekeeper.common.files import write_atomic
    from gatekeeper.pipeline import GateRequest, run_gate
    from gatekeeper.render import FORMATS

    uri = demo_tracking_uri(workdir)
    seed_registry(uri, workdir, progress)
    adapters = mlflow_adapters(uri, str(workdir / "audit.jsonl"))
    gated = []
    for number in GATE_ORDER:
        spec = VERSIONS[number - 1]
        for milestone in spec.milestones:
            request = GateRequest(playbook, MODEL_NAME, str(number), None, milestone, promote=True)
            result = run_gate(request, adapters)
            path = workdir / "results" / f"v{number}-{milestone}.json"
            write_atomic(path, FORMATS["json"](result))
            gated.append(Gated(str(number), spec.story, milestone, result.decision.value,
                               _blockers(result), count_checks(result.checks),
                               _promoted(result), path))
            progress(f"  gated v{number} {milestone:<6} {result.decision.value}")
            if result.decision is not Decision.PASS:
                break
    return gated


def _blockers(result: Result) -> str:
    return "; ".join(f"{c.id}: {c.message}" for c in result.checks if c.blocks)


def count_checks(checks: tuple[CheckResult, ...]) -> str:
    """The playbook's own checks by status, and the prerequisite (earlier milestones passed)
    apart from them: ``5 playbook checks: 4 pass, 1 warn; prerequisite: pass``."""
    own = [c for c in checks if c.id != PREREQUISITE_ID]
    statuses = Counter(c.status for c in own)
    text = f"{len(own)} playbook checks: " + ", ".join(
        f"{statuses[s]} {s.value}" for s in Status if statuses[s])
    prerequisite = [c.status.value for c in checks if c.id == PREREQUISITE_ID]
    return text + "".join(f"; prerequisite: {status}" for status in prerequisite)


def _promoted(result: Result) -> str | None:
    promotion = result.promotion
    return f"alias {promotion.alias} -> v{promotion.version}" if promotion else None


def demo_tracking_uri(workdir: Path) -> str:
    return f"sqlite:///{(workdir / 'mlflow.db').resolve()}"


def seed_registry(uri: str, workdir: Path, progress: Callable[[str], None]) -> None:
    """Register the demo versions afresh (earlier demo versions are deleted; the audit log is
    kept: it is append-only)."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # keep the demo's output readable
    mlflow = import_mlflow()
    from mlflow import MlflowClient

    workdir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    _delete_demo_model(client)
    experiment_id = _experiment(client, workdir)
    data = _dataset()
    for number, spec in enumerate(VERSIONS, start=1):
        quality = _log_version(mlflow, client, experiment_id, spec, data)
        measured = ", ".join(f"{k} {v:.3f}" for k, v in quality.items())
        progress(f"  registered v{number} ({measured} measured): {spec.story}")
        if number == 1:
            client.set_registered_model_alias(MODEL_NAME, "champion", "1")


def _delete_demo_model(client: Any) -> None:
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # first run: nothing to delete
        client.delete_registered_model(MODEL_NAME)


def _experiment(client: Any, workdir: Path) -> str:
    found = client.get_experiment_by_name(MODEL_NAME)
    if found is not None:
        return str(found.experiment_id)
    artifacts = (workdir / "artifacts").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    return str(client.create_experiment(MODEL_NAME, artifact_location=artifacts.as_uri()))


def _dataset() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    features, labels = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.3, random_state=7, stratify=labels)
    return x_train, x_test, y_train, y_test


def _log_version(mlflow: Any, client: Any, experiment_id: str, spec: DemoVersion,
                 data: tuple[Any, Any, Any, Any]) -> dict[str, float]:
    """Train, measure and register one version; return its measured quality metrics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, x_test, y_train, y_test = data
    columns = slice(None) if spec.features is None else slice(0, spec.features)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=spec.regularization,
                                                               max_iter=1000))
    model.fit(x_train[:, columns], y_train)
    predicted = model.predict(x_test[:, columns])
    quality = {"accuracy": float(accuracy_score(y_test, predicted)),
               "f1": float(f1_score(y_test, predicted))}
    tags = {**spec.run_tags, "gatekeeper.demo.seeded_metrics": ",".join(sorted(spec.metrics))}
    with mlflow.start_run(experiment_id=experiment_id, tags=tags):
        mlflow.log_params({"C": spec.regularization, "features": spec.features or "all"})
        mlflow.log_metrics({**quality, **spec.metrics})
        if spec.model_card:
            mlflow.log_text(MODEL_CARD, "model_card.md")
        # MLflow prints "Created version ..." itself; the demo reports its own progress.
        with contextlib.redirect_stderr(io.StringIO()):
            info = mlflow.sklearn.log_model(model, name="model",
                                            input_example=x_test[:2, columns],
                                            registered_model_name=MODEL_NAME)
    version = str(info.registered_model_version)
    client.update_model_version(MODEL_NAME, version, description=spec.description)
    for key, value in spec.version_tags.items():
        client.set_model_version_tag(MODEL_NAME, version, key, value)
    return quality
