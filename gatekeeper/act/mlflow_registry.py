"""Promotion: the only place gatekeeper writes to MLflow (version tags, then the alias).

Every public call runs within the registry's deadline (:class:`RegistryDeadline`), and every
failure names the tracking URI with its credentials masked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from gatekeeper.errors import InfrastructureError
from gatekeeper.evidence.interface import EvidenceSourceError
from gatekeeper.evidence.mlflow_env import (
    RegistryDeadline,
    call_registry,
    check_tracking_uri,
    mlflow_client,
    registry_errors,
    require_sqlite_file,
)
from gatekeeper.evidence.mlflow_source import get_model_version, get_registered_model

if TYPE_CHECKING:
    from mlflow import MlflowClient

T = TypeVar("T")


class PromotionError(InfrastructureError):
    """The registry refused or failed a write: the version is not (fully) promoted (exit 3)."""


class MlflowRegistry:
    """Reads and moves aliases in the MLflow registry at ``tracking_uri``."""

    def __init__(self, tracking_uri: str, deadline: RegistryDeadline | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.deadline = deadline or RegistryDeadline()

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points to, or None when it is not set."""
        def read() -> str | None:
            with self._client() as client:
                return self._alias_version(client, name, alias)

        return self._bounded(read)

    def promote(self, name: str, version: str, alias: str,
                tags: Mapping[str, str]) -> str | None:
        """Tag ``version`` with ``tags``, then point ``alias`` at it.

        Tags go first so that an alias never points at a version without its gate record.
        Returns the version the alias pointed to before, or None.
        """
        def write() -> str | None:
            with self._client() as client:
                get_model_version(client, self.tracking_uri, name, version)
                previous = self._alias_version(client, name, alias)
                self._write_tags(client, name, version, tags)
                self._move_alias(client, name, version, alias)
            return previous

        # Past the deadline a write may still land: the message says so rather than "not moved".
        return self._bounded(write, PromotionError,
                             f"promoting {name} version {version} to alias {alias!r} did not "
                             "finish, so the alias may or may not have moved")

    def set_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        """Tag ``version`` with ``tags`` (an attestation), within the deadline; PromotionError
        (exit 3) when the registry refuses or fails."""
        def write() -> None:
            with self._client() as client:
                self._write_tags(client, name, version, tags, "")

        self._bounded(write, PromotionError, f"tagging {name} version {version} did not finish")

    def _bounded(self, call: Callable[[], T],
                 error: type[InfrastructureError] = EvidenceSourceError, context: str = "") -> T:
        return call_registry(self.tracking_uri, self.deadline, call, error, context)

    def restore_alias(self, name: str, alias: str, version: str | None) -> None:
        """Point ``alias`` back at ``version``, or remove it when it was not set (undoing a
        promotion whose record could not be written)."""
        context = f"could not move alias {alias!r} of {name} back"
        with self._client() as client, registry_errors(self.tracking_uri, PromotionError,
                                                       context):
            if version is None:
                client.delete_registered_model_alias(name, alias)
            else:
                client.set_registered_model_alias(name, alias, version)

    @contextmanager
    def _client(self) -> Iterator[MlflowClient]:
        with registry_errors(self.tracking_uri, EvidenceSourceError):
            check_tracking_uri(self.tracking_uri)
            require_sqlite_file(self.tracking_uri)
            yield mlflow_client(self.tracking_uri)

    def _alias_version(self, client: MlflowClient, name: str, alias: str) -> str | None:
        version = get_registered_model(client, self.tracking_uri, name).aliases.get(alias)
        return None if version is None else str(version)

    def _write_tags(self, client: MlflowClient, name: str, version: str,
                    tags: Mapping[str, str], then: str = "; alias not moved") -> None:
        context = f"could not tag {name} version {version}{then}"
        with registry_errors(self.tracking_uri, PromotionError, context):
            for key, value in sorted(tags.items()):
                client.set_model_version_tag(name, version, key, value)

    def _move_alias(self, client: MlflowClient, name: str, version: str, alias: str) -> None:
        context = f"tagged {name} version {version} but could not set alias {alias!r}"
        with registry_errors(self.tracking_uri, PromotionError, context):
            client.set_registered_model_alias(name, alias, version)
