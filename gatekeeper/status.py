"""The pipeline of ``gatekeeper status``: load policies (which aliases are protected) → read
the model's versions and aliases (registry) → read the model's audit records (verified) →
build the standing (pure). Rendering is the CLI's job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.common.redact import redact_secrets
from gatekeeper.decide.result import PolicyRef
from gatekeeper.decide.status import ModelStatus, build_status
from gatekeeper.evidence.attestations import VersionTags, read_attestations
from gatekeeper.evidence.mlflow_versions import ModelAliases
from gatekeeper.load.policy import TrustedKey, load_policies, protected_aliases, trusted_keys
from gatekeeper.record import AuditStore
from gatekeeper.record.standing import latest_decisions_by_version


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
    records += attested_records(registry, records, trusted_keys(policies))
    return build_status(registry, records, sorted(protected_aliases(policies)),
                        tracking_uri=redact_secrets(request.tracking_uri),
                        audit_log=audit.location,
                        policies=[PolicyRef(p.policy.id, p.doc.file, p.digest)
                                  for p in policies])


def attested_records(registry: ModelAliases, records: Sequence[Mapping[str, Any]],
                     trusted: Sequence[TrustedKey]) -> list[dict[str, Any]]:
    """The decisions verified attestations stand for where the audit records have none for
    that version, run and milestone (a workspace without the shared store), oldest first.
    Unverified tags are left out: status shows only what counts."""
    recorded = latest_decisions_by_version(records)
    found = []
    for v in registry.versions:
        known = recorded.get((v.version, v.run_id), {})
        tags = VersionTags(registry.name, v.version, v.run_id, v.tags)
        found += [dict(a.record) for m, a in read_attestations(tags, trusted).items()
                  if a.record is not None and m not in known]
    return sorted(found, key=lambda r: str(r.get("recorded_at")))
