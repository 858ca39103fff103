"""``model_scan``: a pure function of modelscan's report, on hand-built reports."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pydantic
import pytest

from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evaluate.model_scan import QUERY, ModelScanSpec, evaluate
from gatekeeper.evidence.interface import EvidenceRequest
from gatekeeper.evidence.scanners.interface import Finding, ScanFailure, ScanReport
from tests.evaluate.conftest import COMMON, evidence

SYSTEM = Finding("os.system", "critical", "model/model.pkl",
                 detail="unsafe operator 'system' from module 'os'",
                 ref="mlflow:models/fraud/4/model.pkl")
BROWSER = Finding("webbrowser.open", "high", "model/extra.pkl", ref="x")
LAMBDA = Finding("Keras.Lambda", "medium", "model/saved_model.pb", ref="y")


def spec(**fields: Any) -> ModelScanSpec:
    return ModelScanSpec(**{**COMMON, "category": "security", "kind": "model_scan", **fields})


def report(scanned: tuple[str, ...] = ("model/model.pkl",), findings: tuple[Finding, ...] = (),
           unscanned: tuple[tuple[str, str], ...] = (), safe: tuple[str, ...] = (),
           text: tuple[str, ...] = ("model/MLmodel",)) -> ScanReport:
    return ScanReport("modelscan", "0.8.8", scanned, findings, unscanned,
                      facts={"safe_format": safe, "not_model": text})


def run(answer: object, **fields: Any) -> Outcome:
    return evaluate(spec(**fields), replace(evidence(), extra={QUERY.key: answer}))


def test_a_clean_pickle_passes_and_says_what_was_read() -> None:
    outcome = run(report(safe=("model/w.safetensors",)))
    assert outcome.status is Status.PASS
    assert outcome.message == ("no unsafe operator: 1 file(s) scanned, 1 in a safe format "
                               "(model/w.safetensors)")
    assert outcome.observed["scanned"] == 1 and outcome.observed["not_model"] == 1
    assert outcome.threshold == {"fail_on": "high", "warn_on": "low"}
    assert outcome.evidence == {"scanner": "modelscan 0.8.8"}


def test_only_safe_formats_pass_without_a_scan() -> None:
    outcome = run(report(scanned=(), safe=("model/model.onnx",)))
    assert outcome.status is Status.PASS


def test_a_critical_operator_fails_naming_file_rule_and_severity() -> None:
    outcome = run(report(findings=(SYSTEM, LAMBDA)))
    assert outcome.status is Status.FAIL
    assert outcome.message == ("1 unsafe operator(s) at or above high in 1 model file(s) "
                               "(blocks): model/model.pkl: critical os.system")
    assert outcome.observed["findings"] == {"critical": 1, "medium": 1}
    assert outcome.observed["issues"][0] == {"file": "model/model.pkl", "rule": "os.system",
                                             "severity": "critical"}
    assert outcome.evidence["model/model.pkl"] == "mlflow:models/fraud/4/model.pkl"


def test_findings_below_fail_on_warn_and_below_warn_on_pass() -> None:
    assert run(report(findings=(LAMBDA,))).status is Status.WARN
    assert run(report(findings=(BROWSER,)), fail_on="critical").status is Status.WARN
    assert run(report(findings=(LAMBDA,)), fail_on="critical",
               warn_on="high").status is Status.PASS
    quiet = run(report(findings=(LAMBDA,)), warn_on=None)
    assert quiet.status is Status.PASS
    assert quiet.message.endswith("; 1 finding(s) below the thresholds")
    assert run(report(findings=(LAMBDA,)), fail_on="medium").status is Status.FAIL


def test_an_unscanned_file_is_error_even_beside_a_failure() -> None:
    # error, not fail: a waiver may cover a fail, never a file nobody examined.
    outcome = run(report(findings=(SYSTEM,), unscanned=(
        ("model/blob.bin", "modelscan has no scanner for this format"),)))
    assert outcome.status is Status.ERROR
    assert outcome.message == (
        "modelscan could not scan 1 model file(s) that are not a safe format: model/blob.bin "
        "(modelscan has no scanner for this format); 1 finding(s) in the files it did read: "
        "model/model.pkl: critical os.system")
    assert outcome.observed["unscanned"] == [{"file": "model/blob.bin",
                                              "why": "modelscan has no scanner for this format"}]


def test_many_files_are_listed_up_to_five() -> None:
    many = tuple((f"model/{i}.bin", "x") for i in range(8))
    assert run(report(unscanned=many)).message.endswith("model/4.bin (x); and 3 more")


def test_nothing_examined_is_error() -> None:
    assert run(report(scanned=(), text=())).message == (
        "no model file of fraud v4 could be scanned: the version has no model files")
    only_text = run(report(scanned=(), text=("model/MLmodel", "model/conda.yaml")))
    assert only_text.status is Status.ERROR
    assert only_text.message.endswith("only metadata and text (model/MLmodel; model/conda.yaml)")


def test_a_scan_that_did_not_run_is_error() -> None:
    failed = run(ScanFailure("modelscan needs the Python module 'modelscan', which is not "
                             "installed: pip install 'gatekeeper[security]'"))
    assert failed.status is Status.ERROR and "gatekeeper[security]" in failed.message
    assert run(None).status is Status.ERROR


def test_spec_rejects_warn_on_at_or_above_fail_on_and_unknown_severities() -> None:
    with pytest.raises(pydantic.ValidationError, match="'warn_on' \\(high\\) must be below"):
        spec(warn_on="high")
    with pytest.raises(pydantic.ValidationError):
        spec(fail_on="info")
    with pytest.raises(pydantic.ValidationError):
        spec(fail_on_high=True)


def test_registered_with_its_scanner_and_evidence_request() -> None:
    kind = CHECK_KINDS["model_scan"]
    assert kind.scanners == ("modelscan",)
    assert kind.needs(spec()) == EvidenceRequest(scans=frozenset({QUERY}))
