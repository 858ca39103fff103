"""Which version of a registered model is the newest (``gatekeeper init`` without
``--version``), read like every other registry call: within the deadline, failures named."""

from __future__ import annotations

import re

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
