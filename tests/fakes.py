"""Hand-written fakes of gatekeeper's adapter interfaces, for tests of the pure pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gatekeeper.errors import InvalidInputError
from gatekeeper.evidence.interface import (
    Evidence,
    EvidenceRequest,
    EvidenceSource,
    VersionEvidence,
)


def version(number: str, metrics: Mapping[str, float] | None = None, **kw: object
            ) -> VersionEvidence:
    fields: dict[str, object] = {"name": "tiny", "version": number, "run_id": f"run{number}",
                                 "source": f"models:/m-{number}", "tracking_uri": "fake://",
                                 "metrics": dict(metrics or {}), **kw}
    return VersionEvidence(**fields)  # type: ignore[arg-type]


@dataclass
class FakeSource(EvidenceSource):
    """A registry in memory: versions by number, aliases to numbers."""

    versions: dict[str, VersionEvidence]
    aliases: dict[str, str] = field(default_factory=dict)
    requests: list[EvidenceRequest] = field(default_factory=list)

    def resolve_version(self, name: str, version: str | None, alias: str | None) -> str:
        if alias is not None:
            if alias not in self.aliases:
                raise InvalidInputError(f"model '{name}' has no alias '{alias}'")
            return self.aliases[alias]
        assert version is not None
        if version not in self.versions:
            raise InvalidInputError(f"model '{name}' has no version {version}")
        return version

    def collect(self, name: str, version: str, request: EvidenceRequest) -> Evidence:
        self.requests.append(request)
        baselines = {a: self.versions.get(self.aliases.get(a, "")) for a in
                     request.baseline_aliases}
        return Evidence(candidate=self.versions[version], baselines=baselines)


@dataclass
class FakeRegistry:
    """Records alias moves; can be told to fail."""

    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: int = 0

    def alias_version(self, name: str, alias: str) -> str | None:
        return self.aliases.get(alias)

    def restore_alias(self, name: str, alias: str, version: str | None) -> None:
        if version is None:
            self.aliases.pop(alias, None)
        else:
            self.aliases[alias] = version

    def promote(self, name: str, version: str, alias: str,
                tags: Mapping[str, str]) -> str | None:
        self.calls += 1
        self.tags.setdefault(version, {}).update(tags)
        previous = self.aliases.get(alias)
        self.aliases[alias] = version
        return previous


