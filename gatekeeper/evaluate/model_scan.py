"""``model_scan``: the version's model files hold no unsafe code, by modelscan, before anything
loads the model.

Judges the ``modelscan`` scanner's report (:mod:`gatekeeper.evidence.scanners.modelscan`): a
finding at or above ``fail_on`` (default ``high``) is ``fail``, one at or above ``warn_on``
(default ``low``) is ``warn``. A model file modelscan could not read and that is not a safe
format (safetensors, ONNX) or plainly a text file is ``error``, whatever was found elsewhere: a
gate never passes, and a waiver never covers, a file nobody examined. So is a version without a
single model file examined, and a scan that did not run.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status
from gatekeeper.evaluate.scans import at_least, finding_refs, scan_report
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, ScanQuery
from gatekeeper.evidence.scanners.interface import SEVERITIES, Finding, ScanReport

Severity = Literal["critical", "high", "medium", "low"]
#: The one scan every model_scan check shares: modelscan's defaults on the model files.
QUERY = ScanQuery("modelscan")
#: Files named in a message, at most; the evidence and observed values hold the counts.
SHOWN = 5
#: Files listed in ``observed``, at most (a large model folder can have thousands).
LISTED = 20


class ModelScanSpec(CheckSpecBase):
    kind: Literal["model_scan"]
    fail_on: Severity = Field(default="high", description="The lowest modelscan severity that "
                              "fails: a finding at or above it blocks.")
    warn_on: Severity | None = Field(
        default="low", description="The lowest severity that warns, below `fail_on`; null: "
        "findings below `fail_on` pass silently.")

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.warn_on is not None and self.warn_on in at_least(self.fail_on):
            raise ValueError(f"'warn_on' ({self.warn_on}) must be below 'fail_on' "
                             f"({self.fail_on}), or null")
        return self

    def threshold(self) -> dict[str, str]:
        return {"fail_on": self.fail_on, **({"warn_on": self.warn_on} if self.warn_on else {})}


def evaluate(spec: ModelScanSpec, evidence: Evidence) -> Outcome:
    report = scan_report(evidence, QUERY)
    if isinstance(report, Outcome):
        return report
    observed = observed_counts(report)
    refs = {"scanner": f"modelscan {report.tool_version}", **finding_refs(report.findings)}
    label = f"{evidence.candidate.name} v{evidence.candidate.version}"
    if report.unscanned:
        return Outcome(Status.ERROR, unscanned_message(report), observed, spec.threshold(),
                       refs)
    if not (report.scanned or report.facts.get("safe_format")):
        return Outcome(Status.ERROR, f"no model file of {label} could be scanned: "
                       f"{none_message(report)}", observed, spec.threshold(), refs)
    failing = [f for f in report.findings if f.severity in at_least(spec.fail_on)]
    warning = [f for f in report.findings
               if spec.warn_on is not None and f.severity in at_least(spec.warn_on)]
    if failing:
        return Outcome(Status.FAIL, findings_message(failing, spec.fail_on, "blocks"),
                       observed, spec.threshold(), refs)
    if warning:
        return Outcome(Status.WARN, findings_message(warning, spec.warn_on or "low", "warns"),
                       observed, spec.threshold(), refs)
    return Outcome(Status.PASS, clean_message(report), observed, spec.threshold(), refs)


def observed_counts(report: ScanReport) -> dict[str, Any]:
    """Counts per severity and per outcome, and each finding's file, rule and severity."""
    by_severity = Counter(f.severity for f in report.findings)
    return {
        "findings": {s: by_severity[s] for s in SEVERITIES if by_severity[s]},
        "scanned": len(report.scanned),
        "safe_format": len(report.facts.get("safe_format", ())),
        "not_model": len(report.facts.get("not_model", ())),
        "unscanned": [{"file": name, "why": why} for name, why in report.unscanned[:LISTED]],
        "issues": [{"file": f.file, "rule": f.rule, "severity": f.severity}
                   for f in ordered(list(report.findings))[:LISTED]],
    }


def listed(items: list[str]) -> str:
    more = len(items) - SHOWN
    return "; ".join(items[:SHOWN]) + (f"; and {more} more" if more > 0 else "")


def finding_line(f: Finding) -> str:
    return f"{f.file}: {f.severity} {f.rule}"


def ordered(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by file."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.file, f.rule))


def findings_message(findings: list[Finding], severity: str, verb: str) -> str:
    files = len({f.file for f in findings})
    return (f"{len(findings)} unsafe operator(s) at or above {severity} in {files} model "
            f"file(s) ({verb}): {listed([finding_line(f) for f in ordered(findings)])}")


def unscanned_message(report: ScanReport) -> str:
    found = (f"; {len(report.findings)} finding(s) in the files it did read: "
             f"{listed([finding_line(f) for f in ordered(list(report.findings))])}"
             if report.findings else "")
    return (f"modelscan could not scan {len(report.unscanned)} model file(s) that are not a "
            f"safe format: {listed([f'{n} ({why})' for n, why in report.unscanned])}{found}")


def none_message(report: ScanReport) -> str:
    text = report.facts.get("not_model", ())
    return (f"only metadata and text ({listed(list(text))})" if text
            else "the version has no model files")


def clean_message(report: ScanReport) -> str:
    parts = [f"{len(report.scanned)} file(s) scanned"]
    if safe := report.facts.get("safe_format"):
        parts.append(f"{len(safe)} in a safe format ({listed(list(safe))})")
    below = f"; {len(report.findings)} finding(s) below the thresholds" \
        if report.findings else ""
    return f"no unsafe operator: {', '.join(parts)}{below}"


KIND = CheckKind(spec=ModelScanSpec, evaluate=evaluate,
                 needs=lambda _spec: EvidenceRequest(scans=frozenset({QUERY})),
                 summary="The version's model files scanned by modelscan before anything "
                 "loads them: unsafe operators by severity.",
                 scanners=("modelscan",))
