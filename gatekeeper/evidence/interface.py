"""Evidence data types and the interface every evidence source implements.

Checks are pure functions of their parameters and an :class:`Evidence`; only sources do I/O.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.errors import InfrastructureError


class EvidenceSourceError(InfrastructureError):
    """A source could not be read (unreachable server, timeout, ...): no verdict."""


@dataclass(frozen=True)
class ModelInfo:
    """What the logged MLflow model declares about itself (from its MLmodel file)."""

    uri: str
    flavors: tuple[str, ...]
    has_signature: bool
    has_input_example: bool


@dataclass(frozen=True)
class VersionEvidence:
    """One registered model version and its source run, as read from the registry.

    ``artifacts`` is ``None`` when artifacts were not listed (no check needed them), and
    ``model`` is ``None`` when the version has no readable MLflow model.
    """

    name: str
    version: str
    run_id: str | None
    source: str
    tracking_uri: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    version_tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    run_tags: Mapping[str, str] = field(default_factory=dict)
    artifacts: frozenset[str] | None = None
    model: ModelInfo | None = None

    def ref(self, section: str, key: str) -> str:
        """A stable pointer to one piece of evidence, cited in results and audit records."""
        if section in {"metrics", "params", "tags"} and self.run_id:
            return f"mlflow:runs/{self.run_id}/{section}/{key}"
        return f"mlflow:models/{self.name}/{self.version}/{section}/{key}"


@dataclass(frozen=True)
class Evidence:
    """Everything checks may look at for one evaluation."""

    candidate: VersionEvidence
    baselines: Mapping[str, VersionEvidence | None] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def baseline(self, alias: str) -> VersionEvidence | None:
        """The version ``alias`` pointed to when evidence was collected, or None if unset."""
        return self.baselines.get(alias)


@dataclass(frozen=True)
class EvidenceRequest:
    """What the checks of one milestone need, so a source reads no more than that."""

    baseline_aliases: frozenset[str] = frozenset()
    artifacts: bool = False
    model_info: bool = False

    def merge(self, other: EvidenceRequest) -> EvidenceRequest:
        return EvidenceRequest(
            baseline_aliases=self.baseline_aliases | other.baseline_aliases,
            artifacts=self.artifacts or other.artifacts,
            model_info=self.model_info or other.model_info,
        )


class EvidenceSource(abc.ABC):
    """Reads model versions and their evidence from a registry."""

    @abc.abstractmethod
    def resolve_version(self, name: str, version: str | None, alias: str | None) -> str:
        """Return the version number for ``version`` or ``alias``; InvalidInputError if unknown."""

    @abc.abstractmethod
    def collect(self, name: str, version: str, request: EvidenceRequest) -> Evidence:
        """Read the candidate, and each baseline alias asked for, in one go.

        A baseline alias that is not set maps to ``None``; an unknown model or version raises
        InvalidInputError; an unreachable registry raises EvidenceSourceError.
        """
