"""Where each version of a model stands (``gatekeeper status``): the milestones it passed and
when, the aliases pointing at it, and every protected alias that points at a version the gate
never promoted it to (moved by hand in MLflow). Frozen data built by one pure function from
facts gathered first (the registry's versions and aliases, the model's audit records).

Not a ``Result`` (nothing is gated), so it has its own schema, ``gatekeeper.status/v1``, and its
own renderers (``gatekeeper.render.status``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gatekeeper.decide.result import PolicyRef
from gatekeeper.errors import ExitCode
from gatekeeper.evidence.mlflow_versions import ModelAliases
from gatekeeper.record.query import nested
from gatekeeper.record.standing import latest_decisions_by_version, latest_promotions

SCHEMA = "gatekeeper.status/v1"


@dataclass(frozen=True)
class MilestoneStanding:
    """The latest decision recorded for one milestone of one version."""

    milestone: str
    decision: str
    recorded_at: str | None
    seq: int | None


@dataclass(frozen=True)
class VersionStanding:
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    milestones: tuple[MilestoneStanding, ...]

    @property
    def passed(self) -> tuple[str, ...]:
        return tuple(m.milestone for m in self.milestones if m.decision == "pass")


@dataclass(frozen=True)
class AliasStanding:
    """One alias: where it points, where the gate last moved it (None: never), whether a
    policy protects it, and whether that makes it flagged (protected, moved outside the gate).
    A protected alias that is not set has ``version`` None and is never flagged."""

    alias: str
    version: str | None
    protected: bool
    promoted: str | None
    promoted_at: str | None = None
    promotion_seq: int | None = None

    @property
    def by_gate(self) -> bool:
        return self.version is not None and self.promoted == self.version

    @property
    def flagged(self) -> bool:
        return self.protected and self.version is not None and not self.by_gate

    def describe(self) -> str:
        """``set by the gate (record 4, 2026-...)`` or why it was not."""
        if self.version is None:
            return "not set"
        if self.by_gate:
            return f"set by the gate (record {self.promotion_seq}, {self.promoted_at})"
        last = (f"the gate last moved it to v{self.promoted} (record {self.promotion_seq})"
                if self.promoted else "the gate never moved it")
        return f"moved outside the gate: {last}"


@dataclass(frozen=True)
class ModelStatus:
    model: str
    tracking_uri: str
    audit_log: str
    policies: tuple[PolicyRef, ...]
    versions: tuple[VersionStanding, ...]
    aliases: tuple[AliasStanding, ...]

    @property
    def flagged(self) -> tuple[AliasStanding, ...]:
        return tuple(a for a in self.aliases if a.flagged)

    @property
    def exit_code(self) -> ExitCode:
        """1 when a protected alias was moved outside the gate (a scheduled job alerts), else 0."""
        return ExitCode.BLOCKED if self.flagged else ExitCode.PASSED

    def to_dict(self) -> dict[str, Any]:
        """The ``gatekeeper.status/v1`` document (``-o json``)."""
        return {
            "schema": SCHEMA,
            "model": self.model,
            "tracking_uri": self.tracking_uri,
            "audit_log": self.audit_log,
            "policies": [asdict(p) for p in self.policies],
            "exit_code": int(self.exit_code),
            "flagged": [a.alias for a in self.flagged],
            "versions": [{**asdict(v), "passed": list(v.passed)} for v in self.versions],
            "aliases": [{**asdict(a), "by_gate": a.by_gate, "flagged": a.flagged}
                        for a in self.aliases],
        }


def build_status(registry: ModelAliases, records: Sequence[Mapping[str, Any]],
                 protected: Sequence[str], *, tracking_uri: str, audit_log: str,
                 policies: Sequence[PolicyRef] = ()) -> ModelStatus:
    """The standing of every version of ``registry`` from the model's audit ``records``
    (oldest first), protected aliases judged against the latest gate promotion of each."""
    decisions = latest_decisions_by_version(records)
    order = _milestone_order(records)
    pointing: dict[str, list[str]] = {}
    for alias, version in sorted(registry.aliases.items()):
        pointing.setdefault(version, []).append(alias)
    versions = tuple(
        VersionStanding(v.version, v.run_id, tuple(pointing.get(v.version, ())),
                        _milestones(decisions.get((v.version, v.run_id), {}), order))
        for v in registry.versions)
    promotions = latest_promotions(records)
    names = sorted(set(registry.aliases) | set(protected))
    aliases = tuple(_alias(a, registry.aliases.get(a), a in protected, promotions.get(a))
                    for a in names)
    return ModelStatus(registry.name, tracking_uri, audit_log, tuple(policies), versions,
                       aliases)


def _milestone_order(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Milestones in the order the model first met them (poc before serve before pilot: a
    later milestone cannot be decided before an earlier one passed)."""
    order: dict[str, int] = {}
    for record in records:
        milestone = record.get("milestone")
        if record.get("action") == "decision" and isinstance(milestone, str):
            order.setdefault(milestone, len(order))
    return order


def _milestones(latest: Mapping[str, Mapping[str, Any]],
                order: Mapping[str, int]) -> tuple[MilestoneStanding, ...]:
    return tuple(
        MilestoneStanding(m, str(r.get("decision")), _text(r.get("recorded_at")),
                          _int(r.get("seq")))
        for m, r in sorted(latest.items(), key=lambda item: order.get(item[0], len(order))))


def _alias(alias: str, version: str | None, protected: bool,
           promotion: Mapping[str, Any] | None) -> AliasStanding:
    if promotion is None:
        return AliasStanding(alias, version, protected, None)
    promoted = nested(promotion, "promotion", "version")
    return AliasStanding(alias, version, protected, None if promoted is None else str(promoted),
                         _text(promotion.get("recorded_at")), _int(promotion.get("seq")))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
