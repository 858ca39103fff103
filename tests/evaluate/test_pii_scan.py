"""``pii_scan``: the presidio scanner's report judged purely: counts of the asked entity types
against the limits, and every report that cannot decide (an entity the engine cannot detect,
unscanned files, nothing scanned, a scan failure) an error."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evaluate.pii_scan import PiiScan, evaluate, needs
from gatekeeper.evidence.interface import Evidence, ScanQuery
from gatekeeper.evidence.scanners.interface import Finding, ScanFailure, ScanReport
from tests.evaluate.conftest import COMMON, evidence

SUPPORTED = ["CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER",
             "US_SSN"]
EXAMPLE = "model/input_example.json"
OUTPUTS = "run/sample_outputs.jsonl"


def spec(**fields: Any) -> PiiScan:
    return PiiScan(**{**COMMON, "category": "privacy", "kind": "pii_scan", **fields})


def finding(rule: str, file: str = OUTPUTS, line: int | None = 3,
            detail: str = "$.text, score 0.9-1.0") -> Finding:
    return Finding(rule, "medium", file, line, detail, ref=f"mlflow:models/fraud/4/x/{file}")


def report(*findings: Finding, scanned: tuple[str, ...] = (EXAMPLE, OUTPUTS),
           unscanned: tuple[tuple[str, str], ...] = (), **facts: Any) -> ScanReport:
    base = {"supported_entities": SUPPORTED, "outputs": ["sample_outputs*", "predictions*"],
            "outputs_found": [OUTPUTS] if OUTPUTS in scanned else []}
    return ScanReport("presidio", "2.2.366", scanned, findings, unscanned, {**base, **facts})


def judged(check: PiiScan, answer: ScanReport | ScanFailure) -> Outcome:
    ev = evidence()
    return evaluate(check, Evidence(ev.candidate, extra={check.query().key: answer}))


def test_no_findings_passes_and_says_how_much_was_scanned() -> None:
    outcome = judged(spec(), report())
    assert (outcome.status, outcome.message) == (Status.PASS, "no PII found in 2 file(s)")
    assert outcome.observed == {"findings": 0, "files_scanned": 2, "by_entity": {
        "EMAIL_ADDRESS": 0, "PHONE_NUMBER": 0, "CREDIT_CARD": 0, "IBAN_CODE": 0,
        "IP_ADDRESS": 0}}
    assert outcome.threshold == {"entities": ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD",
                                              "IBAN_CODE", "IP_ADDRESS"],
                                 "max_findings": 0, "min_score": 0.4}


def test_any_finding_fails_by_default_naming_types_counts_and_places() -> None:
    outcome = judged(spec(), report(
        finding("EMAIL_ADDRESS", EXAMPLE, None, "$.data[0][0], score 0.9-1.0"),
        finding("CREDIT_CARD"), finding("EMAIL_ADDRESS", OUTPUTS, 7, "score 0.9-1.0")))
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        "3 PII finding(s) in 2 file(s) scanned: CREDIT_CARD 1, EMAIL_ADDRESS 2; "
        "EMAIL_ADDRESS at model/input_example.json ($.data[0][0], score 0.9-1.0); "
        "CREDIT_CARD at run/sample_outputs.jsonl:3 ($.text, score 0.9-1.0); "
        "EMAIL_ADDRESS at run/sample_outputs.jsonl:7 (score 0.9-1.0); "
        "over the limit: 3 > max_findings 0")
    assert outcome.observed["by_entity"]["EMAIL_ADDRESS"] == 2
    assert outcome.evidence == {EXAMPLE: f"mlflow:models/fraud/4/x/{EXAMPLE}",
                                OUTPUTS: f"mlflow:models/fraud/4/x/{OUTPUTS}"}


def test_findings_of_types_not_asked_for_are_not_counted() -> None:
    outcome = judged(spec(entities=["EMAIL_ADDRESS"]), report(finding("US_SSN"),
                                                              finding("IP_ADDRESS")))
    assert (outcome.status, outcome.observed["findings"]) == (Status.PASS, 0)


def test_per_entity_limits_apart_from_the_total() -> None:
    check = spec(max_findings=1, limits={"IP_ADDRESS": 2})
    ips = [finding("IP_ADDRESS", line=n) for n in (1, 2)]
    assert judged(check, report(*ips, finding("PHONE_NUMBER"))).status is Status.PASS
    over = judged(check, report(*ips, finding("IP_ADDRESS", line=9), finding("PHONE_NUMBER"),
                                finding("EMAIL_ADDRESS")))
    assert over.status is Status.FAIL
    assert over.message.endswith("over the limit: 2 > max_findings 1, IP_ADDRESS 3 > 2")
    assert over.threshold["limits"] == {"IP_ADDRESS": 2}


def test_a_long_list_of_places_is_cut_short() -> None:
    outcome = judged(spec(), report(*[finding("PHONE_NUMBER", line=n) for n in range(1, 9)]))
    assert "PHONE_NUMBER at run/sample_outputs.jsonl:5 ($.text, score 0.9-1.0) and 3 more; " \
           "over the limit" in outcome.message
    assert ":6 " not in outcome.message


def test_an_entity_the_engine_cannot_detect_is_an_error_saying_why() -> None:
    outcome = judged(spec(entities=["EMAIL_ADDRESS", "PERSON"]), report(finding("EMAIL_ADDRESS")))
    assert outcome.status is Status.ERROR
    assert outcome.message == (
        "the PII engine cannot detect PERSON (person names, locations and the like need an "
        "NER model, which the offline engine does not load); it detects CREDIT_CARD, "
        "EMAIL_ADDRESS, IBAN_CODE, IP_ADDRESS, PHONE_NUMBER, US_SSN")
    other = judged(spec(entities=["UK_NINO"]), report())
    assert other.message.startswith("the PII engine cannot detect UK_NINO; it detects ")


def test_unscanned_files_are_an_error_even_with_findings_elsewhere() -> None:
    outcome = judged(spec(), report(finding("EMAIL_ADDRESS"),
                                    unscanned=(("run/predictions.parquet", "not UTF-8 text"),)))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "the PII scan could not read 1 file(s): run/predictions.parquet: "
        "not UTF-8 text")


def test_nothing_to_scan_is_an_error() -> None:
    outcome = judged(spec(), report(scanned=()))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "nothing to scan for PII on fraud v4: no input example "
        "(input_example.json, serving_input_example.json) and no run artifact matching "
        "sample_outputs*, predictions*")


def test_outputs_named_by_the_playbook_must_be_found() -> None:
    check = spec(outputs=["eval/*.jsonl"])
    outcome = judged(check, report(scanned=(EXAMPLE,)))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "no run artifact of fraud v4 matches outputs eval/*.jsonl")
    # With the default globs an input example alone is enough.
    assert judged(spec(), report(scanned=(EXAMPLE,))).status is Status.PASS


def test_a_scan_failure_or_no_report_is_an_error() -> None:
    failed = judged(spec(), ScanFailure("presidio failed (ValueError); run it by hand"))
    assert (failed.status, failed.message) == (Status.ERROR,
                                               "presidio failed (ValueError); run it by hand")
    none = evaluate(spec(), evidence())
    assert (none.status, none.message) == (Status.ERROR,
                                           "no presidio report was collected for fraud v4")


def test_the_query_carries_what_changes_the_scan() -> None:
    assert needs(spec()).scans == frozenset({ScanQuery("presidio", (
        ("min_score", "0.4"), ("output", "sample_outputs*"), ("output", "predictions*")))})
    assert spec(min_score=0.75, outputs=["a/*.json"], entities=["IP_ADDRESS"]).query() == \
        ScanQuery("presidio", (("min_score", "0.75"), ("output", "a/*.json")))
    # Checks differing only in entities or limits share one scan.
    assert spec(entities=["IP_ADDRESS"], max_findings=3).query() == spec().query()


@pytest.mark.parametrize(("fields", "words"), [
    ({"limits": {"IP_ADDRESS": 1}, "entities": ["EMAIL_ADDRESS"]},
     "'limits' names IP_ADDRESS, not in 'entities'"),
    ({"entities": ["EMAIL_ADDRESS", "EMAIL_ADDRESS"]}, "lists an entity type twice"),
    ({"entities": ["email"]}, "String should match pattern"),
    ({"entities": []}, "at least 1 item"),
    ({"max_findings": -1}, "greater than or equal to 0"),
    ({"min_score": 1.5}, "less than or equal to 1"),
    ({"outputs": []}, "at least 1 item"),
    ({"max_finding": 2}, "Extra inputs are not permitted"),
])
def test_a_bad_spec_is_refused(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=words):
        spec(**fields)


def test_registered_with_its_scanner() -> None:
    kind = CHECK_KINDS["pii_scan"]
    assert kind.spec is PiiScan and kind.scanners == ("presidio",)
