"""The pipeline of ``gatekeeper status``: load policies (which aliases are protected) → read
the model's versions and aliases (registry) → read the model's audit records (verified) →
build the standing (pure). Rendering is the CLI's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gatekeeper.common.redact import redact_secrets
from gatekeeper.decide.result import PolicyRef
from gatekeeper.decide.status import ModelStatus, build_status
from gatekeeper.evidence.mlflow_versions import ModelAliases
from gatekeeper.load.policy import load_policies, protected_aliases
from gatekeeper.record import AuditStore


@dataclass(frozen=True)
class StatusRequest:
    model: str
    tracking_uri: str
    policies: Path | None = None


def run_status(request: StatusRequest, read_registry: Callable[[str, str], ModelAliases],
               audit: AuditStore) -> ModelStatus:
    """Where every version of the model stands, protected aliases judged against the gate's
    recorded promotions. ``read_registry(tracking_uri, name)`` reads the versions and aliases
    (``evidence.mlflow_versions.model_aliases``; a fake in unit tests)."""
    policies = load_policies(request.policies)  # a bad policy is exit 2 before any read
    registry = read_registry(request.tracking_uri, request.model)
    records = audit.model_records(request.model)
    return build_status(registry, records, sorted(protected_aliases(policies)),
                        tracking_uri=redact_secrets(request.tracking_uri),
                        audit_log=audit.location,
                        policies=[PolicyRef(p.policy.id, p.doc.file, p.digest)
                                  for p in policies])
