"""``dependency_audit``: the model's logged Python requirements are all pinned and none has a
known vulnerability (pip-audit against OSV, see :mod:`gatekeeper.evidence.scanners.pip_audit`).

Judged from the scanner's report alone:

- ``error``: no report (pip-audit not installed, the service unreachable, a timeout), a file
  not audited (no ``requirements.txt``, an include of another file, a pin pip-audit skipped),
  or no requirement declared at all. ``error`` wins over ``fail``: a waiver covers a failure,
  and must never let an unaudited dependency through with it.
- ``fail``: a known vulnerability not in ``ignore`` (OSV gives no dependable severity, so
  every known vulnerability counts), or with ``require_pinned`` an unpinned requirement.
- ``warn``: unpinned requirements when ``require_pinned: false`` (they were not audited).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status
from gatekeeper.evaluate.scans import finding_refs, scan_report
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, ScanQuery
from gatekeeper.evidence.scanners.interface import ScanReport
from gatekeeper.load.strict import Strict

QUERY = ScanQuery("pip-audit")
#: How many items a message names before "and N more" (the JSON result has them all).
SHOWN = 3


class Ignore(Strict):
    """A known vulnerability accepted on purpose, and why."""

    id: str = Field(min_length=1, description="The vulnerability's id or one of its aliases "
                    "(`PYSEC-2018-28`, `CVE-2018-18074`, `GHSA-...`).")
    reason: str = Field(min_length=1, description="Why it is accepted (recorded with the "
                        "result).")


class DependencyAudit(CheckSpecBase):
    kind: Literal["dependency_audit"]
    require_pinned: bool = Field(
        default=True, description="Fail on a requirement that is not `name==version` (a "
        "range, no version, `-e`, a URL): it cannot be audited. `false` makes it a warning.")
    ignore: tuple[Ignore, ...] = Field(
        default=(), description="Known vulnerabilities that do not fail the check, each with "
        "its reason.")

    def threshold(self) -> dict[str, Any]:
        return {"require_pinned": self.require_pinned, "ignore": [i.id for i in self.ignore]}


def needs(_spec: DependencyAudit) -> EvidenceRequest:
    return EvidenceRequest(scans=frozenset({QUERY}))


def evaluate(spec: DependencyAudit, evidence: Evidence) -> Outcome:
    report = scan_report(evidence, QUERY)
    if isinstance(report, Outcome):
        return Outcome(report.status, report.message, threshold=spec.threshold(),
                       evidence=report.evidence)
    where = f"{evidence.candidate.name} v{evidence.candidate.version}"
    vulns, ignored = split_ignored(report.facts.get("vulnerabilities", ()), spec.ignore)
    unpinned: Sequence[Mapping[str, Any]] = report.facts.get("unpinned", ())
    status, parts = judge(spec, report, vulns, unpinned, where)
    if ignored:
        parts.append(f"ignored: {', '.join(sorted({v['id'] for v in ignored}))}")
    return Outcome(status, "; ".join(parts), observed=observed(report, vulns, ignored, spec),
                   threshold=spec.threshold(), evidence=references(report))


def judge(spec: DependencyAudit, report: ScanReport, vulns: list[Mapping[str, Any]],
          unpinned: Sequence[Mapping[str, Any]], where: str) -> tuple[Status, list[str]]:
    """The state and the message's parts, most severe first."""
    parts: list[str] = []
    if report.unscanned:
        parts.append("not audited: " + listing(f"{f} ({why})" for f, why in report.unscanned))
    elif not report.facts.get("requirements"):
        parts.append(f"the model of {where} declares no requirements: nothing was audited")
    if vulns:
        parts.append(vulnerable(vulns))
    if unpinned:
        parts.append(f"{count(len(unpinned), 'unpinned requirement')}, not audited: "
                     + listing(unpinned_label(u) for u in unpinned))
    if parts and (report.unscanned or not report.facts.get("requirements")):
        return Status.ERROR, parts
    if vulns or (unpinned and spec.require_pinned):
        return Status.FAIL, parts
    audited = len(report.facts.get("audited", ()))
    clean = (f"{count(audited, 'pinned requirement')} of {where} audited against "
             f"{report.facts.get('service', 'OSV')}: no known vulnerabilities")
    return (Status.WARN if unpinned else Status.PASS), [clean, *parts]


def split_ignored(vulns: Iterable[Mapping[str, Any]], ignore: Iterable[Ignore]
                  ) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The vulnerabilities that count, and those an ``ignore`` entry names (by id or alias)."""
    ignore = tuple(ignore)
    kept: list[Mapping[str, Any]] = []
    dropped: list[Mapping[str, Any]] = []
    for v in vulns:
        (dropped if reason(v, ignore) else kept).append(v)
    return kept, dropped


def vulnerable(vulns: list[Mapping[str, Any]]) -> str:
    """``requests 2.19.0 (model/requirements.txt:1): PYSEC-2018-28 fixed in 2.20.0``, per
    package."""
    by_pin: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for v in vulns:
        by_pin.setdefault((v["package"], v["version"], f"{v['file']}:{v['line']}"), []).append(v)
    pins = [f"{name} {version} ({loc}): " + ", ".join(fixed(v) for v in found)
            for (name, version, loc), found in by_pin.items()]
    return (f"{count(len(vulns), 'known vulnerability', 'known vulnerabilities')} in "
            f"{count(len(by_pin), 'pinned requirement')}: {listing(pins)}")


def fixed(vuln: Mapping[str, Any]) -> str:
    fixes = vuln.get("fix_versions", ())
    return f"{vuln['id']} fixed in {', '.join(fixes)}" if fixes else \
        f"{vuln['id']} (no fixed version)"


def unpinned_label(req: Mapping[str, Any]) -> str:
    name = req["name"] or "a requirement"
    return f"{name} ({req['file']}:{req['line']}, {req['why']})"


def listing(items: Iterable[str]) -> str:
    shown = list(items)
    more = f" and {len(shown) - SHOWN} more" if len(shown) > SHOWN else ""
    return ", ".join(shown[:SHOWN]) + more


def count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def observed(report: ScanReport, vulns: list[Mapping[str, Any]],
             ignored: list[Mapping[str, Any]], spec: DependencyAudit) -> dict[str, Any]:
    return {
        "audited": len(report.facts.get("audited", ())),
        "vulnerable": [entry(v) for v in vulns],
        "ignored": [{**entry(v), "reason": reason(v, spec.ignore)} for v in ignored],
        "unpinned": [dict(u) for u in report.facts.get("unpinned", ())],
        "unscanned": [{"file": f, "why": why} for f, why in report.unscanned],
        "tool": f"{report.scanner} {report.tool_version}",
    }


def reason(vuln: Mapping[str, Any], ignore: Iterable[Ignore]) -> str:
    """The reason of the first ``ignore`` entry naming ``vuln``."""
    names = {str(vuln["id"]).upper(), *(str(a).upper() for a in vuln.get("aliases", ()))}
    return next((i.reason for i in ignore if i.id.upper() in names), "")


def entry(vuln: Mapping[str, Any]) -> dict[str, Any]:
    return {"package": vuln["package"], "version": vuln["version"], "id": vuln["id"],
            "aliases": list(vuln.get("aliases", ())),
            "fix_versions": list(vuln.get("fix_versions", ())),
            "file": vuln["file"], "line": vuln["line"]}


def references(report: ScanReport) -> dict[str, str]:
    """The requirement files read, the files of findings and the service asked."""
    refs = {**report.facts.get("refs", {}), **finding_refs(report.findings)}
    refs["service"] = str(report.facts.get("service", ""))
    return {k: v for k, v in refs.items() if v}


KIND = CheckKind(spec=DependencyAudit, evaluate=evaluate, needs=needs,
                 summary="The model's Python requirements pinned and free of known "
                 "vulnerabilities (pip-audit, OSV).", scanners=("pip-audit",))
