"""What the scanner check kinds share: reading a scanner's report from the evidence.

A report that is missing, or a :class:`ScanFailure` in its place, is ``error`` (fail closed):
the check did not see the scan, whatever the reason.
"""

from __future__ import annotations

from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evidence.interface import Evidence, ScanQuery
from gatekeeper.evidence.scanners.interface import SEVERITIES, Finding, ScanFailure, ScanReport


def scan_report(evidence: Evidence, query: ScanQuery) -> ScanReport | Outcome:
    """The report ``query`` produced, or the ``error`` outcome that says why there is none."""
    answer = evidence.extra.get(query.key)
    if isinstance(answer, ScanReport):
        return answer
    if isinstance(answer, ScanFailure):
        return Outcome(Status.ERROR, answer.message, evidence={"scanner": query.scanner})
    return Outcome(Status.ERROR, f"no {query.scanner} report was collected for "
                   f"{evidence.candidate.name} v{evidence.candidate.version}",
                   evidence={"scanner": query.scanner})


def at_least(severity: str) -> frozenset[str]:
    """``severity`` and every severity above it."""
    return frozenset(SEVERITIES[:SEVERITIES.index(severity) + 1])


def finding_refs(findings: tuple[Finding, ...], limit: int = 20) -> dict[str, str]:
    """Evidence references of the files findings are in (at most ``limit``)."""
    refs: dict[str, str] = {}
    for f in findings:
        if len(refs) >= limit:
            break
        refs.setdefault(f.file, f.ref or f.file)
    return refs
