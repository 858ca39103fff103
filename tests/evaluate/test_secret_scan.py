"""``secret_scan``: the detect-secrets scanner's report judged purely: any finding not allowed is
a fail naming type, file, line and a short digest; unscanned files, nothing scanned and a
scan failure are errors, ahead of any finding (a waiver must never cover unread files)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evaluate.secret_scan import SecretScan, evaluate, needs
from gatekeeper.evidence.interface import Evidence, ScanQuery
from gatekeeper.evidence.scanners.interface import Finding, ScanFailure, ScanReport
from tests.evaluate.conftest import COMMON, evidence

CARD = "run/model_card.md"
CONFIG = "run/conf/serve.yaml"
SCANNED = ("model/MLmodel", CARD, CONFIG)
AWS = "hmac-sha256:" + "ab" * 32
TOKEN = "hmac-sha256:" + "0123456789" * 6 + "cdef"


def spec(**fields: Any) -> SecretScan:
    return SecretScan(**{**COMMON, "category": "security", "kind": "secret_scan", **fields})


def finding(rule: str = "AWS Access Key", file: str = CARD, line: int | None = 3,
            digest: str | None = AWS) -> Finding:
    return Finding(rule, "high", file, line, digest=digest,
                   ref=f"mlflow:models/fraud/4/artifacts/{file.removeprefix('run/')}")


def report(*findings: Finding, scanned: tuple[str, ...] = SCANNED,
           unscanned: tuple[tuple[str, str], ...] = (), **facts: Any) -> ScanReport:
    base = {"salt": "GATEKEEPER_SCAN_SALT", "binary_skipped": ["model/model.skops"]}
    return ScanReport("detect-secrets", "1.5.0", scanned, findings, unscanned,
                      {**base, **facts})


def judged(check: SecretScan, answer: ScanReport | ScanFailure) -> Outcome:
    ev = evidence()
    return evaluate(check, Evidence(ev.candidate, extra={check.query().key: answer}))


def test_no_findings_passes_and_says_what_was_read() -> None:
    outcome = judged(spec(), report())
    assert (outcome.status, outcome.message) == (
        Status.PASS, "no secrets in 3 text files of fraud v4 (1 binary file(s) skipped)")
    assert outcome.observed == {"findings": 0, "secrets": [], "allowed": [], "scanned": 3,
                                "binary_skipped": 1, "unscanned": [],
                                "salt": "GATEKEEPER_SCAN_SALT", "tool_version": "1.5.0"}
    assert outcome.threshold == {"max_findings": 0, "entropy": False, "keyword": True,
                                 "max_file_mb": 10}
    assert outcome.evidence == {"scanner": "detect-secrets"}


def test_a_finding_fails_naming_type_file_line_and_a_short_digest() -> None:
    outcome = judged(spec(), report(finding(), finding("GitHub Token", CONFIG, 2, TOKEN)))
    assert outcome.status is Status.FAIL
    assert outcome.message == (
        "2 secrets in the text files of fraud v4: AWS Access Key at run/model_card.md:3 "
        "(hmac-sha256:abababababab…); GitHub Token at run/conf/serve.yaml:2 "
        "(hmac-sha256:012345678901…)")
    assert outcome.observed["findings"] == 2
    assert outcome.observed["secrets"][0] == {"type": "AWS Access Key", "file": CARD,
                                              "line": 3, "digest": AWS}
    assert outcome.evidence == {
        "scanner": "detect-secrets",
        CARD: "mlflow:models/fraud/4/artifacts/model_card.md",
        CONFIG: "mlflow:models/fraud/4/artifacts/conf/serve.yaml"}


def test_an_advisory_check_still_reports_the_failure() -> None:
    # blocking: false turns fail into warn later (decide/); the kind itself says fail.
    assert judged(spec(blocking=False), report(finding())).status is Status.FAIL


def test_the_message_lists_five_findings_then_counts_the_rest() -> None:
    many = [finding(line=n, digest=f"hmac-sha256:{n:064x}") for n in range(1, 9)]
    outcome = judged(spec(), report(*many))
    assert outcome.message.startswith("8 secrets in the text files of fraud v4: ")
    assert outcome.message.endswith("AWS Access Key at run/model_card.md:5 "
                                    "(hmac-sha256:000000000000…) and 3 more")
    assert len(outcome.observed["secrets"]) == 8


def test_an_allow_entry_accepts_exactly_its_file_and_digest() -> None:
    allow = [{"file": CARD, "digest": AWS, "reason": "the AWS documentation's example key"}]
    outcome = judged(spec(allow=allow), report(finding()))
    assert outcome.status is Status.PASS
    assert outcome.message == ("no secrets in 3 text files of fraud v4 "
                               "(1 binary file(s) skipped, 1 allowed)")
    assert outcome.observed["allowed"] == [{"type": "AWS Access Key", "file": CARD,
                                            "line": 3, "digest": AWS}]
    assert outcome.threshold["allow"] == allow
    # The same secret in another file is not covered.
    moved = judged(spec(allow=allow), report(finding(file=CONFIG)))
    assert moved.status is Status.FAIL and "run/conf/serve.yaml:3" in moved.message


def test_allow_entries_without_a_fixed_salt_say_why_they_cannot_match() -> None:
    allow = [{"file": CARD, "digest": AWS, "reason": "example key"}]
    outcome = judged(spec(allow=allow), report(finding(digest=TOKEN), salt="random per process"))
    assert outcome.status is Status.FAIL
    assert outcome.message.endswith(
        "(the 'allow' entries cannot match: GATEKEEPER_SCAN_SALT is not set, so digests "
        "change with every run)")


def test_unscanned_files_are_an_error_even_beside_findings() -> None:
    outcome = judged(spec(), report(finding(), unscanned=(
        ("run/data.csv", "a text file of 12.0 MB, over the max_file_mb limit of 10 MB"),)))
    assert outcome.status is Status.ERROR
    assert outcome.message == (
        "the secret scan could not read 1 file(s) of fraud v4: run/data.csv: a text file of "
        "12.0 MB, over the max_file_mb limit of 10 MB; 1 secret found: AWS Access Key at "
        "run/model_card.md:3 (hmac-sha256:abababababab…)")
    assert outcome.observed["unscanned"] == [
        {"file": "run/data.csv",
         "why": "a text file of 12.0 MB, over the max_file_mb limit of 10 MB"}]


def test_no_text_file_at_all_is_an_error_nothing_was_reviewed() -> None:
    outcome = judged(spec(), report(scanned=(), binary_skipped=["model/model.pkl",
                                                                 "model/weights.bin"]))
    assert (outcome.status, outcome.message) == (
        Status.ERROR, "nothing to scan for secrets on fraud v4: no text file "
        "(2 binary file(s) skipped)")


def test_a_scan_failure_or_no_report_is_an_error() -> None:
    failure = judged(spec(), ScanFailure("detect-secrets failed (ValueError); run it by hand"))
    assert failure.status is Status.ERROR
    assert failure.message == "detect-secrets failed (ValueError); run it by hand"
    assert failure.threshold["max_findings"] == 0
    absent = evaluate(spec(), evidence())
    assert (absent.status, absent.message) == (
        Status.ERROR, "no detect-secrets report was collected for fraud v4")


def test_the_query_carries_the_scanner_options_and_is_shared() -> None:
    assert needs(spec()).scans == frozenset({ScanQuery("detect-secrets", (
        ("entropy", "false"), ("keyword", "true"), ("max_file_mb", "10")))})
    loud = spec(entropy=True, keyword=False, max_file_mb=50).query()
    assert loud.params == (("entropy", "true"), ("keyword", "false"), ("max_file_mb", "50"))
    # allow entries are judged by the check, not the scanner: one scan serves both checks.
    allowing = spec(allow=[{"file": CARD, "digest": AWS, "reason": "r"}])
    assert allowing.query() == spec().query()
    assert CHECK_KINDS["secret_scan"].scanners == ("detect-secrets",)


@pytest.mark.parametrize(("fields", "words"), [
    ({"allow": [{"file": "model_card.md", "digest": AWS, "reason": "r"}]}, "allow.0.file"),
    ({"allow": [{"file": CARD, "digest": "sha256:abc", "reason": "r"}]}, "allow.0.digest"),
    ({"allow": [{"file": CARD, "digest": AWS}]}, "allow.0.reason"),
    ({"allow": [{"file": CARD, "digest": AWS, "reason": "r"}] * 2}, "same file and digest"),
    ({"max_file_mb": 0}, "max_file_mb"),
    ({"entropy": "sometimes"}, "entropy"),
    ({"plugins": ["AWSKeyDetector"]}, "plugins"),
])
def test_bad_parameters_are_refused(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        spec(**fields)
    assert words in str(caught.value)
