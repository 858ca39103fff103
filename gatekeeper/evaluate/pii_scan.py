"""``pii_scan``: personal data in the version's input example and in its logged sample outputs.

Judges the ``presidio`` scanner's report (:mod:`gatekeeper.evidence.scanners.presidio`): the
findings of the asked entity types are counted, in total and per type, against ``max_findings``
(default 0) and per-type ``limits``; more is ``fail``. An entity type the configured engine
cannot detect (person names and locations need an NER model, which gatekeeper never loads), an
unscanned file, nothing to scan at all, or ``outputs`` globs that match no artifact are
``error``: the gate did not see the evidence. Messages give entity types, counts and places,
never the personal data.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status
from gatekeeper.evaluate.scans import finding_refs, scan_report
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, ScanQuery
from gatekeeper.evidence.scanners.interface import Finding, ScanReport
from gatekeeper.evidence.scanners.presidio import (
    DEFAULT_MIN_SCORE,
    DEFAULT_OUTPUTS,
    INPUT_EXAMPLES,
)

Entity = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
Glob = Annotated[str, Field(min_length=1)]

#: What the check looks for unless told otherwise.
DEFAULT_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS")
#: Presidio entity types only a named-entity-recognition model finds, named in the error.
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION", "DATE_TIME"})
#: How many places a message lists before it says "and N more".
SHOWN = 5


class PiiScan(CheckSpecBase):
    kind: Literal["pii_scan"]
    entities: tuple[Entity, ...] = Field(
        default=DEFAULT_ENTITIES, min_length=1, description="Presidio entity types to look "
        "for; asking for one the offline engine cannot detect (PERSON, LOCATION: they need an "
        "NER model) is error.")
    max_findings: int = Field(default=0, ge=0, description="Most findings allowed in total, "
                              "over the entity types without their own limit.")
    limits: dict[Entity, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description="Most findings allowed per entity type, e.g. "
        "IP_ADDRESS: 3; each type named must be in 'entities'.")
    min_score: float = Field(default=DEFAULT_MIN_SCORE, ge=0, le=1, description="Presidio "
                             "confidence below which a match is not counted (a bare phone "
                             "number scores 0.4).")
    outputs: tuple[Glob, ...] | None = Field(
        default=None, min_length=1, description="Globs of run artifacts holding sample outputs "
        "(on the path in the run, or on the file name when the glob has no '/'); default "
        f"{', '.join(DEFAULT_OUTPUTS)}. Globs named here must match at least one artifact.")

    @model_validator(mode="after")
    def _check_limits(self) -> Self:
        if len(set(self.entities)) != len(self.entities):
            raise ValueError("'entities' lists an entity type twice")
        if stray := sorted(set(self.limits) - set(self.entities)):
            raise ValueError(f"'limits' names {', '.join(stray)}, not in 'entities'")
        return self

    def query(self) -> ScanQuery:
        outputs = tuple(("output", g) for g in self.outputs or DEFAULT_OUTPUTS)
        return ScanQuery("presidio", (("min_score", f"{self.min_score:g}"), *outputs))

    def threshold(self) -> dict[str, Any]:
        asked: dict[str, Any] = {"entities": list(self.entities),
                                 "max_findings": self.max_findings, "min_score": self.min_score}
        if self.limits:
            asked["limits"] = dict(self.limits)
        return asked


def needs(spec: PiiScan) -> EvidenceRequest:
    return EvidenceRequest(scans=frozenset({spec.query()}))


def evaluate(spec: PiiScan, evidence: Evidence) -> Outcome:
    report = scan_report(evidence, spec.query())
    if isinstance(report, Outcome):
        return Outcome(report.status, report.message, threshold=spec.threshold(),
                       evidence=report.evidence)
    cand = evidence.candidate
    if problem := unusable(spec, report, f"{cand.name} v{cand.version}"):
        return Outcome(Status.ERROR, problem, threshold=spec.threshold(),
                       evidence={"scanner": report.scanner})
    return judge(spec, report)


def unusable(spec: PiiScan, report: ScanReport, label: str) -> str | None:
    """Why the report cannot decide this check, or None when it can."""
    supported = set(report.facts.get("supported_entities", ()))
    if blind := [e for e in spec.entities if e not in supported]:
        return cannot_detect(blind, supported)
    if report.unscanned:
        files = "; ".join(f"{name}: {why}" for name, why in report.unscanned)
        return f"the PII scan could not read {len(report.unscanned)} file(s): {files}"
    if spec.outputs is not None and not report.facts.get("outputs_found"):
        return f"no run artifact of {label} matches outputs {', '.join(spec.outputs)}"
    if not report.scanned:
        globs = ", ".join(report.facts.get("outputs", DEFAULT_OUTPUTS))
        return (f"nothing to scan for PII on {label}: no input example "
                f"({', '.join(INPUT_EXAMPLES)}) and no run artifact matching {globs}")
    return None


def cannot_detect(blind: list[str], supported: set[str]) -> str:
    why = (" (person names, locations and the like need an NER model, which the offline "
           "engine does not load)" if NER_ENTITIES & set(blind) else "")
    return (f"the PII engine cannot detect {', '.join(blind)}{why}; it detects "
            f"{', '.join(sorted(supported)) or 'nothing'}")


def judge(spec: PiiScan, report: ScanReport) -> Outcome:
    """Counts of the asked entity types against the limits."""
    found = [f for f in report.findings if f.rule in spec.entities]
    counts = Counter(f.rule for f in found)
    pooled = sum(n for e, n in counts.items() if e not in spec.limits)
    over = [f"{e} {counts[e]} > {limit}" for e, limit in sorted(spec.limits.items())
            if counts[e] > limit]
    if pooled > spec.max_findings:
        over.insert(0, f"{pooled} > max_findings {spec.max_findings}")
    observed = {"findings": len(found), "by_entity": {e: counts[e] for e in spec.entities},
                "files_scanned": len(report.scanned)}
    summary = describe(found, len(report.scanned))
    status = Status.FAIL if over else Status.PASS
    message = f"{summary}; over the limit: {', '.join(over)}" if over else summary
    return Outcome(status, message, observed=observed, threshold=spec.threshold(),
                   evidence=finding_refs(tuple(found)) or {"scanned": ", ".join(report.scanned)})


def describe(found: list[Finding], scanned: int) -> str:
    """``N PII finding(s) in M file(s): TYPE count, ...; at place, ...`` without any value."""
    if not found:
        return f"no PII found in {scanned} file(s)"
    counts = Counter(f.rule for f in found)
    types = ", ".join(f"{e} {n}" for e, n in sorted(counts.items()))
    places = [f"{f.rule} at {place(f)}" for f in found[:SHOWN]]
    more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return (f"{len(found)} PII finding(s) in {scanned} file(s) scanned: {types}; "
            f"{'; '.join(places)}{more}")


def place(finding: Finding) -> str:
    """File, line and JSON path of a finding (its detail holds the path and score bucket)."""
    return f"{finding.where()} ({finding.detail})" if finding.detail else finding.where()


KIND = CheckKind(spec=PiiScan, evaluate=evaluate, needs=needs, scanners=("presidio",),
                 summary="Personal data in the input example and sample outputs (Presidio "
                 "pattern recognisers, offline) within limits.")
