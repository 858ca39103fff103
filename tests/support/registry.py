"""Real MLflow registries for tests: a migrated template database, per-test copies, and
:func:`seed_version` to log a run and register a version in one call (~50 ms once warm)."""

from __future__ import annotations

import contextlib
import functools
import shutil
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gatekeeper.evidence.mlflow_env import import_mlflow, is_not_found, mlflow_client

#: Where seed_version logs runs: MLflow's default experiment, which every fresh registry has.
EXPERIMENT_ID = "0"


def create_template_db(folder: Path) -> Path:
    """An empty MLflow database with the full schema in ``folder`` (slow: runs the migrations)."""
    import_mlflow()
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    db = folder / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{db}", str(folder / "mlruns"))  # type: ignore[no-untyped-call]
    store.engine.dispose()  # no open connection while the file is copied
    return db


def copy_registry(template: Path, folder: Path) -> str:
    """A fresh registry in ``folder`` copied from ``template``; returns its tracking URI.

    The template's default experiment stores artifacts under the template's folder (MLflow
    writes that path into the database), so every copy is re-pointed at its own folder: tests
    never share artifacts. An experiment a test creates itself needs an explicit
    ``artifact_location`` for the same reason (MLflow's default is ``./mlruns`` of the cwd).
    """
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "mlflow.db"
    shutil.copyfile(template, db)
    artifacts = folder / "artifacts" / EXPERIMENT_ID
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                     (artifacts.as_posix(), int(EXPERIMENT_ID)))
    return f"sqlite:///{db.as_posix()}"


def seed_version(
    tracking_uri: str,
    name: str,
    *,
    metrics: Mapping[str, float],
    params: Mapping[str, str] | None = None,
    run_tags: Mapping[str, str] | None = None,
    version_tags: Mapping[str, str] | None = None,
    description: str = "",
    artifacts: Mapping[str, str] | None = None,
    log_model: bool = True,
    aliases: Iterable[str] = (),
) -> str:
    """Log a run and register it as a new version of ``name``; return the version number.

    ``artifacts`` maps run-relative paths to text contents. With ``log_model`` the version's
    source is a tiny real scikit-learn model (MLflow 3: ``models:/m-<id>``, with signature and
    input example); without, it is ``runs:/<run_id>/model``, where no MLmodel exists.
    """
    mlflow = import_mlflow()
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    client = mlflow_client(tracking_uri)
    _ensure_registered_model(client, name)
    # The fluent API (start_run, log_model) reads only the process-wide tracking URI, and so
    # does a SQLite registry resolving a "models:/m-<id>" source; _use_tracking_uri restores it
    # exactly (unset), so no later test inherits this registry.
    with _use_tracking_uri(tracking_uri):
        with mlflow.start_run(experiment_id=EXPERIMENT_ID, tags=dict(run_tags or {})) as run:
            _log_run_data(mlflow, metrics, params, artifacts)
            model = _log_tiny_model(mlflow) if log_model else None
        run_id = run.info.run_id
        created = client.create_model_version(
            name,
            source=model.model_uri if model else f"runs:/{run_id}/model",
            run_id=run_id,
            model_id=model.model_id if model else None,
            tags=dict(version_tags or {}),
            description=description or None,
            await_creation_for=0,  # OSS registries create versions READY; skip the status poll
        )
    version = str(created.version)
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version)
    return version


def _ensure_registered_model(client: Any, name: str) -> None:
    try:
        client.get_registered_model(name)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        client.create_registered_model(name)


def _log_run_data(mlflow: Any, metrics: Mapping[str, float], params: Mapping[str, str] | None,
                  artifacts: Mapping[str, str] | None) -> None:
    if metrics:
        mlflow.log_metrics(dict(metrics))
    if params:
        mlflow.log_params(dict(params))
    for path, text in (artifacts or {}).items():
        mlflow.log_text(text, path)


def _log_tiny_model(mlflow: Any) -> Any:
    import mlflow.sklearn

    model, example = _tiny_model()
    # Explicit requirements: inferring them starts a subprocess that reloads the model (~secs).
    return mlflow.sklearn.log_model(model, name="model", input_example=example,
                                    pip_requirements=["scikit-learn"])


@functools.cache
def _tiny_model() -> tuple[Any, Any]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    labels = np.array([0, 1, 0, 1])
    return LogisticRegression().fit(features, labels), features[:2]

