"""Builds the real adapters (MLflow, audit log, identity) for a command. Kept apart so the
pipeline in ``pipeline.py`` takes them as arguments and tests can pass fakes or real ones."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from gatekeeper.pipeline import Adapters

if TYPE_CHECKING:
    from gatekeeper.act.attest import Attestor, Tagger
    from gatekeeper.record import AuditStore


def mlflow_adapters(tracking_uri: str | None, audit_log: str) -> Adapters:
    from gatekeeper.act.mlflow_registry import MlflowRegistry
    from gatekeeper.evidence.mlflow_env import default_tracking_uri
    from gatekeeper.evidence.mlflow_source import MlflowSource
    from gatekeeper.record import current_identity, open_store

    uri = tracking_uri or default_tracking_uri()
    registry = MlflowRegistry(uri)
    return Adapters(source=MlflowSource(uri), audit=anchored(open_store(audit_log), uri),
                    registry=registry, identity=current_identity(os.environ),
                    registry_url=web_address(uri), attestor=attestor(registry.set_tags))


def attestor(tag: Tagger) -> Attestor | None:
    """Signs decisions onto versions with ``GATEKEEPER_SIGNING_KEY`` (docs/attestations.md);
    None when it is unset or empty. A key that cannot be read is invalid input (exit 2)."""
    from gatekeeper.act.attest import Attestor
    from gatekeeper.errors import InvalidInputError
    from gatekeeper.record.signing import SIGNING_KEY_VARIABLE, BadKeyError, signer_from_env

    try:
        signer = signer_from_env(os.environ)
    except BadKeyError as exc:
        raise InvalidInputError(f"{SIGNING_KEY_VARIABLE}: {exc}") from None
    return Attestor(signer, tag) if signer is not None else None


def anchored(store: AuditStore, tracking_uri: str) -> AuditStore:
    """A JSONL log or PostgreSQL store publishes its checkpoints to the MLflow version each
    record is about (and to ``GATEKEEPER_ANCHOR``'s git refs):
    docs/audit.md#checkpoints-and-anchors."""
    from gatekeeper.record import AuditLog
    from gatekeeper.record.checkpoint import gate_anchors

    if isinstance(store, AuditLog) or _is_postgres(store):
        store.anchors.extend(gate_anchors(tracking_uri, os.environ))  # type: ignore[attr-defined]
    return store


def _is_postgres(store: AuditStore) -> bool:
    # Imported only for a store that already loaded it: a JSONL gate never imports SQLAlchemy.
    import sys

    module = sys.modules.get("gatekeeper.record.postgres")
    return module is not None and isinstance(store, module.PostgresStore)


def web_address(uri: str) -> str | None:
    """The MLflow server's address for links (``https://mlflow.example.com``), without
    credentials, query or fragment; None for a registry without a web UI (SQLite, files)."""
    try:
        parts = urlsplit(uri)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None  # a malformed URI: the registry step reports it (exit 2), not this one
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return urlunsplit((parts.scheme, host + port, parts.path.rstrip("/"), "", ""))
