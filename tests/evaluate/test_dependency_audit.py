"""``dependency_audit``: judged from hand-built pip-audit reports (no tool, no network)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.dependency_audit import QUERY, DependencyAudit, evaluate, needs
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, ScanQuery
from gatekeeper.evidence.scanners.interface import Finding, ScanFailure, ScanReport
from tests.evaluate.conftest import COMMON, version

REQS = "model/requirements.txt"
REF = "mlflow:models/fraud/4/model_files/requirements.txt"
SERVICE = "http://127.0.0.1:8999/v1/query"
VULN = {"package": "requests", "version": "2.19.0", "id": "PYSEC-2018-28",
        "aliases": ("CVE-2018-18074", "GHSA-x84v-xcm2-53pg"), "fix_versions": ("2.20.0",),
        "file": REQS, "line": 2}
UNPINNED = {"name": "numpy", "file": REQS, "line": 3, "why": "no version"}


def spec(**fields: Any) -> DependencyAudit:
    return DependencyAudit(**{**COMMON, "category": "security", "kind": "dependency_audit",
                              **fields})


def report(vulns: tuple[dict[str, Any], ...] = (), unpinned: tuple[dict[str, Any], ...] = (),
           unscanned: tuple[tuple[str, str], ...] = (), requirements: int = 3,
           audited: tuple[str, ...] = ("mlflow==3.1.0", "requests==2.19.0")) -> ScanReport:
    findings = tuple(Finding(v["id"], "high", v["file"], v["line"], ref=REF) for v in vulns)
    return ScanReport("pip-audit", "2.10.1", (REQS,), findings, unscanned, facts={
        "service": SERVICE, "requirements": requirements, "audited": audited,
        "unpinned": unpinned, "vulnerabilities": vulns, "refs": {REQS: REF}})


def judge(answer: object, **fields: Any) -> Outcome:
    evidence = Evidence(candidate=version(), extra={QUERY.key: answer} if answer else {})
    return evaluate(spec(**fields), evidence)


def test_clean_pins_pass_and_name_the_service() -> None:
    outcome = judge(report())
    assert outcome == Outcome(
        Status.PASS, f"2 pinned requirements of fraud v4 audited against {SERVICE}: no known "
        "vulnerabilities",
        observed={"audited": 2, "vulnerable": [], "ignored": [], "unpinned": [],
                  "unscanned": [], "tool": "pip-audit 2.10.1"},
        threshold={"require_pinned": True, "ignore": []},
        evidence={REQS: REF, "service": SERVICE})


def test_a_vulnerable_pin_fails_naming_package_version_id_and_fix() -> None:
    outcome = judge(report(vulns=(VULN,)))
    assert outcome.status is Status.FAIL
    assert outcome.message == ("1 known vulnerability in 1 pinned requirement: requests 2.19.0 "
                               "(model/requirements.txt:2): PYSEC-2018-28 fixed in 2.20.0")
    assert outcome.observed["vulnerable"] == [{
        "package": "requests", "version": "2.19.0", "id": "PYSEC-2018-28",
        "aliases": ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"], "fix_versions": ["2.20.0"],
        "file": REQS, "line": 2}]


def test_vulnerabilities_group_by_pin_and_say_when_no_fix_is_known() -> None:
    second = {**VULN, "id": "PYSEC-2023-74", "aliases": (), "fix_versions": ()}
    other = {**VULN, "package": "urllib3", "version": "1.24.1", "line": 4}
    outcome = judge(report(vulns=(VULN, second, other)))
    assert outcome.message == (
        "3 known vulnerabilities in 2 pinned requirements: requests 2.19.0 "
        "(model/requirements.txt:2): PYSEC-2018-28 fixed in 2.20.0, PYSEC-2023-74 (no fixed "
        "version), urllib3 1.24.1 (model/requirements.txt:4): PYSEC-2018-28 fixed in 2.20.0")


@pytest.mark.parametrize("named", ["PYSEC-2018-28", "cve-2018-18074"])
def test_an_ignored_vulnerability_passes_with_its_reason_recorded(named: str) -> None:
    outcome = judge(report(vulns=(VULN,)),
                    ignore=[{"id": named, "reason": "no redirects are followed"}])
    assert outcome.status is Status.PASS
    assert outcome.message.endswith("no known vulnerabilities; ignored: PYSEC-2018-28")
    assert outcome.observed["ignored"][0]["reason"] == "no redirects are followed"
    assert outcome.threshold == {"require_pinned": True, "ignore": [named]}


def test_an_ignore_entry_for_another_id_changes_nothing() -> None:
    outcome = judge(report(vulns=(VULN,)), ignore=[{"id": "PYSEC-1999-1", "reason": "x"}])
    assert outcome.status is Status.FAIL


def test_an_unpinned_requirement_fails() -> None:
    outcome = judge(report(unpinned=(UNPINNED, {**UNPINNED, "name": "", "line": 5,
                                                "why": "an editable requirement"})))
    assert (outcome.status, outcome.message) == (
        Status.FAIL, "2 unpinned requirements, not audited: numpy (model/requirements.txt:3, no "
        "version), a requirement (model/requirements.txt:5, an editable requirement)")


def test_unpinned_is_a_warning_when_pins_are_not_required() -> None:
    outcome = judge(report(unpinned=(UNPINNED,)), require_pinned=False)
    assert (outcome.status, outcome.message) == (
        Status.WARN, f"2 pinned requirements of fraud v4 audited against {SERVICE}: no known "
        "vulnerabilities; 1 unpinned requirement, not audited: numpy (model/requirements.txt:3, "
        "no version)")
    assert judge(report(vulns=(VULN,), unpinned=(UNPINNED,)),
                 require_pinned=False).status is Status.FAIL


def test_anything_not_audited_is_an_error_even_beside_a_vulnerability() -> None:
    skipped = (REQS, "line 7: pip-audit skipped torch==2.1.0 (not on the index)")
    outcome = judge(report(vulns=(VULN,), unscanned=(skipped,)))
    assert outcome.status is Status.ERROR  # never waivable as a mere fail
    assert outcome.message.startswith("not audited: model/requirements.txt (line 7: pip-audit "
                                      "skipped torch==2.1.0 (not on the index)); 1 known "
                                      "vulnerability")
    assert outcome.observed["unscanned"] == [{"file": REQS, "why": skipped[1]}]


def test_a_model_without_requirements_is_an_error() -> None:
    missing = (REQS, "not logged with the model, so its dependencies cannot be audited")
    outcome = judge(report(unscanned=(missing,), requirements=0, audited=()))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "not audited: model/requirements.txt (not logged with the model, so its "
        "dependencies cannot be audited)")
    empty = judge(report(requirements=0, audited=()))
    assert (empty.status, empty.message) == (
        Status.ERROR, "the model of fraud v4 declares no requirements: nothing was audited")


def test_no_report_is_an_error() -> None:
    offline = judge(ScanFailure("pip-audit: pip-audit could not reach the vulnerability "
                                f"service at {SERVICE}"))
    assert (offline.status, offline.message) == (
        Status.ERROR, f"pip-audit: pip-audit could not reach the vulnerability service at "
        f"{SERVICE}")
    assert offline.threshold == {"require_pinned": True, "ignore": []}
    absent = judge(None)
    assert (absent.status, absent.message) == (
        Status.ERROR, "no pip-audit report was collected for fraud v4")


def test_long_lists_are_cut_in_the_message_and_kept_whole_in_observed() -> None:
    many = tuple({**UNPINNED, "name": f"pkg{i}", "line": i} for i in range(5))
    outcome = judge(report(unpinned=many))
    assert outcome.message.endswith("pkg2 (model/requirements.txt:2, no version) and 2 more")
    assert len(outcome.observed["unpinned"]) == 5


def test_the_kind_asks_for_one_shared_pip_audit_run() -> None:
    assert needs(spec()) == EvidenceRequest(scans=frozenset({ScanQuery("pip-audit")}))
    assert CHECK_KINDS["dependency_audit"].scanners == ("pip-audit",)


@pytest.mark.parametrize("fields", [{"ignore": [{"id": "PYSEC-2018-28"}]},
                                    {"ignore": [{"id": "PYSEC-2018-28", "reason": ""}]},
                                    {"require_pin": True}])
def test_an_ignore_without_reason_or_an_unknown_key_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        spec(**fields)
