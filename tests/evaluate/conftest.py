"""Hand-built evidence for the check-kind tests: the real data types, no mocks."""

from __future__ import annotations

import os

# Importing MLflow starts a telemetry call unless this is set first (see CONTRACT.md).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from collections.abc import Mapping
from typing import Any

from gatekeeper.evidence.interface import Evidence, VersionEvidence

MODEL = "fraud"

# The fields every check spec has, whatever its kind.
COMMON: dict[str, Any] = {"id": "the-check", "category": "quality", "owner": "data_science"}


def version(number: str = "4", run_id: str | None = "r4", **fields: Any) -> VersionEvidence:
    """One version of the ``fraud`` model (v4 from run r4 unless told otherwise)."""
    return VersionEvidence(name=MODEL, version=number, run_id=run_id,
                           source=f"models:/m-{number}", tracking_uri="sqlite:///mlflow.db",
                           **fields)


def evidence(metrics: Mapping[str, float] | None = None, *,
             baselines: Mapping[str, VersionEvidence | None] | None = None,
             **fields: Any) -> Evidence:
    """Evidence whose candidate is v4 with ``metrics`` and ``fields``."""
    return Evidence(candidate=version(metrics=dict(metrics or {}), **fields),
                    baselines=dict(baselines or {}))
