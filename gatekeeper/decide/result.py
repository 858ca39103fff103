"""The result of one gate evaluation: frozen data that owns the verdict.

``Result.to_dict`` is the contract's JSON (``gatekeeper.result/v1``); every output format is
rendered from it, and ``Result.from_dict`` reads it back (``gatekeeper report --from``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gatekeeper.decide.verdict import Decision as Decision  # re-exported: part of a Result
from gatekeeper.decide.verdict import decide
from gatekeeper.errors import ExitCode
from gatekeeper.evaluate.interface import Category, Status

SCHEMA = "gatekeeper.result/v1"


@dataclass(frozen=True)
class Location:
    file: str
    line: int


@dataclass(frozen=True)
class CheckResult:
    id: str
    kind: str
    category: Category
    status: Status
    blocking: bool
    message: str
    observed: Any = None
    threshold: Any = None
    evidence: Mapping[str, str] = field(default_factory=dict)
    waiver: Mapping[str, Any] | None = None
    location: Location | None = None
    #: Who answers for the check (the playbook's ``owner``; the prerequisite has none).
    owner: str | None = None
    #: One line on what to do about a fail or error: the evidence missing and how it is
    #: usually added, or the threshold crossed and by how much (``decide/remedy.py``).
    remedy: str | None = None

    @property
    def blocks(self) -> bool:
        return self.blocking and self.status.blocks


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    run_id: str | None
    source: str


@dataclass(frozen=True)
class MilestoneRef:
    id: str
    title: str


@dataclass(frozen=True)
class PlaybookRef:
    path: str
    digest: str
    git_commit: str | None
    #: What a pass of the milestone is bound to (``LoadedPlaybook.milestone_digest``).
    milestone_digest: str | None = None


@dataclass(frozen=True)
class PolicyRef:
    """A policy the playbook was held to."""

    id: str
    path: str
    digest: str


@dataclass(frozen=True)
class BaselineRef:
    alias: str
    version: str
    run_id: str | None


@dataclass(frozen=True)
class AuditRef:
    log: str
    seq: int
    hash: str


@dataclass(frozen=True)
class MilestoneHistory:
    """One milestone of the playbook and the latest decision the audit store held for this
    version before this evaluation (``decision`` None: never gated)."""

    id: str
    stage: str
    alias: str
    decision: str | None = None
    recorded_at: str | None = None
    seq: int | None = None
    hash: str | None = None


@dataclass(frozen=True)
class Promotion:
    alias: str
    version: str
    previous_version: str | None


@dataclass(frozen=True)
class WaiverNote:
    """One waiver of the run: ``id``, where it is written (``waivers.yaml:12``), the checks it
    covered or was meant for, and, when ignored or unmatched, why."""

    id: str
    where: str
    checks: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class WaiverFileRef:
    """A waiver file read for the run, with the sha256 of its bytes."""

    path: str
    digest: str


@dataclass(frozen=True)
class WaiverReport:
    """The waivers that applied to this model, version and milestone: ``used`` (a failing
    check is ``waived``), ``ignored`` (expired, not approved, against a policy, or for a check
    no waiver may cover) and ``unmatched`` (nothing to waive), and the files they came from."""

    files: tuple[WaiverFileRef, ...] = ()
    used: tuple[WaiverNote, ...] = ()
    ignored: tuple[WaiverNote, ...] = ()
    unmatched: tuple[WaiverNote, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaiverReport:
        def notes(key: str) -> tuple[WaiverNote, ...]:
            return tuple(WaiverNote(**{**n, "checks": tuple(n.get("checks") or ())})
                         for n in data.get(key) or ())
        return cls(tuple(WaiverFileRef(**f) for f in data.get("files") or ()),
                   notes("used"), notes("ignored"), notes("unmatched"))

    def tally(self) -> str:
        """``1 used, 1 ignored, 0 unmatched``."""
        return (f"{len(self.used)} used, {len(self.ignored)} ignored, "
                f"{len(self.unmatched)} unmatched")


def summarize(checks: tuple[CheckResult, ...]) -> dict[str, int]:
    return {s.value: sum(1 for c in checks if c.status is s) for s in Status}


@dataclass(frozen=True)
class Result:
    model: ModelRef
    milestone: MilestoneRef
    playbook: PlaybookRef
    baseline: BaselineRef | None
    checks: tuple[CheckResult, ...]
    actor: str
    started_at: str
    finished_at: str
    gatekeeper_version: str
    audit: AuditRef | None = None
    promotion: Promotion | None = None
    policies: tuple[PolicyRef, ...] = ()
    #: Every milestone of the playbook, in order, with its latest recorded decision.
    history: tuple[MilestoneHistory, ...] = ()
    #: The MLflow server's web address when it has one (http/https, no credentials), so
    #: reports can link evidence; None for a local SQLite or file registry.
    registry_url: str | None = None
    #: The waivers given with ``--waivers`` and what became of each; None without the flag.
    waivers: WaiverReport | None = None
    #: What the checks read, fixed (``evidence/digests.py``), by evidence reference: an
    #: artifact's ``{"sha256", "bytes"}`` (a folder or the model adds ``files``), a required
    #: tag's ``{"value"}`` or, when it looks sensitive, ``{"hmac", "key", "why"}`` only, and
    #: ``{"error"}`` for what could not be read or was over the size cap.
    evidence_digests: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def decision(self) -> Decision:
        return decide(self.checks)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PASSED if self.decision is Decision.PASS else ExitCode.BLOCKED

    @property
    def summary(self) -> dict[str, int]:
        return summarize(self.checks)

    def with_audit(self, audit: AuditRef) -> Result:
        return replace(self, audit=audit)

    def with_promotion(self, promotion: Promotion) -> Result:
        return replace(self, promotion=promotion)

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object, keys in a stable order."""
        return {
            "schema": SCHEMA,
            "decision": self.decision.value,
            "exit_code": int(self.exit_code),
            "model": asdict(self.model),
            "milestone": asdict(self.milestone),
            "playbook": asdict(self.playbook),
            "policies": [asdict(p) for p in self.policies],
            "baseline": asdict(self.baseline) if self.baseline else None,
            "checks": [_check_to_dict(c) for c in self.checks],
            "summary": self.summary,
            "actor": self.actor,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "gatekeeper_version": self.gatekeeper_version,
            "audit": asdict(self.audit) if self.audit else None,
            "promotion": asdict(self.promotion) if self.promotion else None,
            "history": [asdict(h) for h in self.history],
            "registry_url": self.registry_url,
            "waivers": asdict(self.waivers) if self.waivers else None,
            "evidence_digests": {ref: dict(self.evidence_digests[ref])
                                 for ref in sorted(self.evidence_digests)},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        """Read back what ``to_dict`` wrote. Raises KeyError/TypeError/ValueError on bad input."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document (schema: {data.get('schema')!r})")
        baseline, audit, promotion = data["baseline"], data["audit"], data["promotion"]
        return cls(
            model=ModelRef(**data["model"]),
            milestone=MilestoneRef(**data["milestone"]),
            playbook=PlaybookRef(**data["playbook"]),
            baseline=BaselineRef(**baseline) if baseline else None,
            checks=tuple(_check_from_dict(c) for c in data["checks"]),
            actor=data["actor"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            gatekeeper_version=data["gatekeeper_version"],
            audit=AuditRef(**audit) if audit else None,
            promotion=Promotion(**promotion) if promotion else None,
            policies=tuple(PolicyRef(**p) for p in data.get("policies") or ()),
            history=tuple(MilestoneHistory(**h) for h in data.get("history") or ()),
            registry_url=data.get("registry_url"),
            waivers=WaiverReport.from_dict(data["waivers"]) if data.get("waivers") else None,
            evidence_digests=dict(data.get("evidence_digests") or {}),
        )


def _check_to_dict(check: CheckResult) -> dict[str, Any]:
    data = asdict(check)
    data["category"] = check.category.value
    data["status"] = check.status.value
    data["evidence"] = dict(check.evidence)
    data["waiver"] = dict(check.waiver) if check.waiver else None
    return data


def _check_from_dict(data: Mapping[str, Any]) -> CheckResult:
    location = data.get("location")
    return CheckResult(
        id=data["id"], kind=data["kind"], category=Category(data["category"]),
        status=Status(data["status"]), blocking=data["blocking"], message=data["message"],
        observed=data.get("observed"), threshold=data.get("threshold"),
        evidence=data.get("evidence") or {}, waiver=data.get("waiver"),
        location=Location(**location) if location else None,
        owner=data.get("owner"), remedy=data.get("remedy"),
    )
