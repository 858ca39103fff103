"""Builds the real adapters (MLflow, audit log, identity) for a command. Kept apart so the
pipeline in ``pipeline.py`` takes them as arguments and tests can pass fakes or real ones."""

from __future__ import annotations

import os
from pathlib import Path

from gatekeeper.pipeline import Adapters


def mlflow_adapters(tracking_uri: str | None, audit_log: Path) -> Adapters:
    from gatekeeper.act.mlflow_registry import MlflowRegistry
    from gatekeeper.evidence.mlflow_env import default_tracking_uri
    from gatekeeper.evidence.mlflow_source import MlflowSource
    from gatekeeper.record import current_identity, open_store

    uri = tracking_uri or default_tracking_uri()
    return Adapters(source=MlflowSource(uri), audit=open_store(audit_log),
                    registry=MlflowRegistry(uri), identity=current_identity(os.environ))
