"""Which version of a registered model is the newest (``gatekeeper init`` without
``--version``), and every version with the model's aliases (``gatekeeper status``), read like
every other registry call: within the deadline, failures named."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gatekeeper.errors import InvalidInputError
from gatekeeper.evidence.mlflow_env import (
    RegistryDeadline,
    call_registry,
    check_tracking_uri,
    mlflow_client,
    registry_errors,
    require_sqlite_file,
)
from gatekeeper.evidence.mlflow_source import check_model_name, get_registered_model

_NUMBER = re.compile(r"[0-9]+")


def latest_version(tracking_uri: str, name: str, deadline: RegistryDeadline | None = None
                   ) -> str:
    """The highest version number of ``name``; InvalidInputError for an unknown model or one
    without versions."""
    check_model_name(name)
    check_tracking_uri(tracking_uri)

    def read() -> str:
        with registry_errors(tracking_uri):
            require_sqlite_file(tracking_uri)
            client = mlflow_client(tracking_uri)
            get_registered_model(client, tracking_uri, name)  # unknown: lists the models
            quote = "'" if "'" not in name else '"'
            found = client.search_model_versions(filter_string=f"name = {quote}{name}{quote}")
        numbers = [int(v.version) for v in found if _NUMBER.fullmatch(str(v.version))]
        if not numbers:
            raise InvalidInputError(f"model {name!r} has no versions yet",
                                    hint="register a version first (mlflow.register_model)")
        return str(max(numbers))

    return call_registry(tracking_uri, deadline or RegistryDeadline(), read)


@dataclass(frozen=True)
class RegisteredVersion:
    """One version of a registered model: its number, the run it was registered from, and its
    tags (where its attestations are, docs/attestations.md)."""

    version: str
    run_id: str | None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelAliases:
    """A registered model's versions (oldest first) and where each of its aliases points."""

    name: str
    versions: tuple[RegisteredVersion, ...]
    aliases: Mapping[str, str]


def model_aliases(tracking_uri: str, name: str, deadline: RegistryDeadline | None = None
                  ) -> ModelAliases:
    """Every version of ``name`` and its aliases (``gatekeeper status``); InvalidInputError
    for an unknown model, EvidenceSourceError for a registry that cannot be read."""
    check_model_name(name)
    check_tracking_uri(tracking_uri)

    def read() -> ModelAliases:
        with registry_errors(tracking_uri):
            require_sqlite_file(tracking_uri)
            client = mlflow_client(tracking_uri)
            model = get_registered_model(client, tracking_uri, name)
            quote = "'" if "'" not in name else '"'
            found = client.search_model_versions(filter_string=f"name = {quote}{name}{quote}")
        versions = sorted((RegisteredVersion(str(v.version), v.run_id or None,
                                             dict(v.tags or {})) for v in found
                           if _NUMBER.fullmatch(str(v.version))), key=lambda v: int(v.version))
        aliases = {str(a): str(v) for a, v in model.aliases.items()}
        return ModelAliases(str(model.name), tuple(versions), aliases)

    return call_registry(tracking_uri, deadline or RegistryDeadline(), read)
