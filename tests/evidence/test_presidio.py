"""The presidio scanner for real: Presidio's pattern recognisers on a blank spaCy pipeline,
offline, on personal data planted in a version's input example and sample outputs logged to a
real SQLite registry; then ``gatekeeper check`` through the real CLI in every output format,
none of which (nor the audit log) holds any of the planted values."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.cli import run
from gatekeeper.errors import ValidationError
from gatekeeper.evaluate.interface import Category, Status
from gatekeeper.evaluate.pii_scan import PiiScan, evaluate
from gatekeeper.evidence import scanners
from gatekeeper.evidence.interface import Evidence, EvidenceRequest
from gatekeeper.evidence.mlflow_source import MlflowSource
from gatekeeper.evidence.scanners import presidio
from gatekeeper.evidence.scanners.interface import ScanQuery, ScanReport, ScanTarget
from gatekeeper.evidence.scans import with_scans
from gatekeeper.load.validate import validate_paths
from tests.evaluate.conftest import evidence as bare_evidence
from tests.support.registry import seed_version

EMAIL = "ines.okafor@mailbox.example.org"
PHONE = "+1 415-555-0199"
CARD = "4111 1111 1111 1111"  # the Visa test number: Luhn-valid, never a real card
IBAN = "DE89 3704 0044 0532 0130 00"  # the standard example IBAN, checksum-valid
IP = "203.0.113.77"  # documentation range (RFC 5737)
#: Every planted value, in each form it could leak in.
PLANTED = (EMAIL, "ines.okafor", PHONE, "415-555-0199", "4155550199", CARD,
           CARD.replace(" ", ""), IBAN, IBAN.replace(" ", ""), IP)

INPUT_EXAMPLE = {"dataframe_split": {"columns": ["contact", "amount", "note"],
                                     "data": [[EMAIL, 12.5, f"paid with card {CARD}"]]}}
SERVING_EXAMPLE = {"inputs": [{"contact": EMAIL, "amount": 12.5}]}
SAMPLE_OUTPUTS = "\n".join(json.dumps(r) for r in [
    {"id": 1, "answer": "no personal data here", "score": 0.91},
    {"id": 2, "answer": f"call the customer, phone: {PHONE}", "score": 0.42},
    {"id": 3, "answer": f"refund to {IBAN} requested from {IP}", "score": 0.77},
]) + "\n"
ARTIFACTS = {
    "model/MLmodel": "artifact_path: model\nflavors: {}\n",
    "model/input_example.json": json.dumps(INPUT_EXAMPLE),
    "model/serving_input_example.json": json.dumps(SERVING_EXAMPLE, indent=2),
    "sample_outputs.jsonl": SAMPLE_OUTPUTS,
    "notes.txt": f"not scanned by pii_scan: {EMAIL}\n",
}


def check(**fields: Any) -> PiiScan:
    return PiiScan(id="pii", kind="pii_scan", category=Category.PRIVACY, owner="privacy",
                   **fields)


def scanned(tracking_uri: str, *checks: PiiScan) -> Evidence:
    version = seed_version(tracking_uri, "support-bot", metrics={"accuracy": 0.9},
                           log_model=False, artifacts=ARTIFACTS)
    source = MlflowSource(tracking_uri)
    evidence = source.collect("support-bot", version, EvidenceRequest())
    return with_scans(evidence, [c.query() for c in checks], source)


def test_planted_pii_is_found_with_types_counts_and_places(tracking_uri: str) -> None:
    default = check()
    evidence = scanned(tracking_uri, default)
    report = evidence.extra[default.query().key]
    assert isinstance(report, ScanReport)
    assert report.scanned == ("model/input_example.json", "model/serving_input_example.json",
                              "run/sample_outputs.jsonl")
    assert report.unscanned == ()
    assert {(f.rule, f.file, f.line, f.detail) for f in report.findings} == {
        ("EMAIL_ADDRESS", "model/input_example.json", None,
         "$.dataframe_split.data[0][0], score 0.9-1.0"),
        ("CREDIT_CARD", "model/input_example.json", None,
         "$.dataframe_split.data[0][2], score 0.9-1.0"),
        ("EMAIL_ADDRESS", "model/serving_input_example.json", None,
         "$.inputs[0].contact, score 0.9-1.0"),
        ("PHONE_NUMBER", "run/sample_outputs.jsonl", 2, "$.answer, score 0.7-0.8"),
        ("IBAN_CODE", "run/sample_outputs.jsonl", 3, "$.answer, score 0.9-1.0"),
        ("IP_ADDRESS", "run/sample_outputs.jsonl", 3, "$.answer, score 0.6-0.7"),
    }
    assert len(report.findings) == 6  # the IP is not also counted as a phone number
    assert report.findings[0].ref == (
        "mlflow:models/support-bot/1/model_files/input_example.json")
    assert {f.rule: f.severity for f in report.findings}["CREDIT_CARD"] == "high"
    assert "PERSON" not in report.facts["supported_entities"]
    assert set(presidio.SENSITIVITY) == set(report.facts["supported_entities"])
    assert not any(p in repr(report) for p in PLANTED)

    outcome = evaluate(default, evidence)
    assert outcome.status is Status.FAIL
    assert outcome.observed["by_entity"] == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1,
                                             "CREDIT_CARD": 1, "IBAN_CODE": 1, "IP_ADDRESS": 1}
    assert not any(p in outcome.message for p in PLANTED)


def test_limits_min_score_and_outputs_change_the_verdict(tracking_uri: str) -> None:
    lenient = check(max_findings=5, limits={"IP_ADDRESS": 1})
    picky = check(min_score=0.8, outputs=["sample_outputs.jsonl"])  # phone 0.75, IP 0.6 drop
    elsewhere = check(outputs=["eval/*.jsonl"])
    person = check(entities=["EMAIL_ADDRESS", "PERSON"])
    evidence = scanned(tracking_uri, lenient, picky, elsewhere, person)
    assert evaluate(lenient, evidence).status is Status.PASS
    picked = evaluate(picky, evidence)
    assert Counter(picked.observed["by_entity"]) == Counter(
        {"EMAIL_ADDRESS": 2, "CREDIT_CARD": 1, "IBAN_CODE": 1, "PHONE_NUMBER": 0,
         "IP_ADDRESS": 0})
    missing = evaluate(elsewhere, evidence)
    assert (missing.status, missing.message) == (
        Status.ERROR, "no run artifact of support-bot v1 matches outputs eval/*.jsonl")
    blind = evaluate(person, evidence)
    assert blind.status is Status.ERROR
    assert blind.message.startswith("the PII engine cannot detect PERSON (person names, "
                                     "locations and the like need an NER model")


def test_a_binary_sample_output_is_unscanned_and_the_check_errors(tmp_path: Path) -> None:
    target = local_target(tmp_path, {"run/predictions.parquet": b"PAR1\xff\x00\xfe",
                                     "run/predictions.csv": b"id,text\n1,hello\n"})
    report = presidio.scan(target, ScanQuery("presidio"), {})
    assert report.scanned == ("run/predictions.csv",)
    assert report.unscanned == (("run/predictions.parquet", "not UTF-8 text"),)
    candidate = bare_evidence().candidate
    outcome = evaluate(check(), Evidence(candidate, extra={check().query().key: report}))
    assert outcome.status is Status.ERROR


def test_a_key_that_is_personal_data_is_named_by_position(tmp_path: Path) -> None:
    target = local_target(tmp_path, {"model/input_example.json": json.dumps(
        {"users": {EMAIL: {"ip": IP}, "card_number": 4111111111111111}}).encode()})
    report = presidio.scan(target, ScanQuery("presidio"), {})
    assert sorted((f.rule, f.detail) for f in report.findings) == [
        ("CREDIT_CARD", "$.users.card_number, score 0.9-1.0"),  # an integer is read too
        ("EMAIL_ADDRESS", "$.users{key 0} (key), score 0.9-1.0"),
        ("IP_ADDRESS", "$.users{key 0}.ip, score 0.6-0.7"),
    ]


def test_a_line_longer_than_spacys_default_cap_is_read(tmp_path: Path) -> None:
    line = "x " * 600_000 + f"mail {EMAIL}"  # 1.2M chars; spaCy refuses 1M by default
    target = local_target(tmp_path, {"run/predictions.txt": line.encode()})
    report = presidio.scan(target, ScanQuery("presidio"), {})
    assert [(f.rule, f.line) for f in report.findings] == [("EMAIL_ADDRESS", 1)]

def test_nothing_is_downloaded_or_fetched(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """No spaCy model is loaded or downloaded, and no socket is opened (the stock e-mail
    recogniser's tldextract would fetch the public-suffix list)."""
    import spacy.cli

    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network is off in this test")

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("spaCy model download attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(spacy.cli, "download", no_download)
    presidio.batch_engine.cache_clear()  # build the engine under the fence
    presidio.offline_email_class.cache_clear()
    target = local_target(tmp_path, {"run/sample_outputs.txt": f"mail {EMAIL}\n".encode()})
    report = presidio.scan(target, ScanQuery("presidio"), {})
    assert [(f.rule, f.line) for f in report.findings] == [("EMAIL_ADDRESS", 1)]
    assert attempts == []
    assert not [m for m in sys.modules if m.startswith(("en_core", "spacy_transformers"))]
    nlp = presidio.batch_engine().analyzer_engine.nlp_engine.nlp["en"]
    assert nlp.pipe_names == [presidio.LEMMA_COMPONENT]  # blank: no ner, no tagger


PLAYBOOK = """\
model: support-bot
owners: {product: p@corp.test, platform: o@corp.test, data_science: d@corp.test}
milestones:
  - id: poc
    title: POC validation
    stage: poc
    alias: poc-ok
    checks:
      - {id: acc, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.8}
      - id: no-pii
        kind: pii_scan
        category: privacy
        owner: privacy
%s
  - id: serve
    title: Serve layer
    stage: serve
    alias: serve-ok
    checks:
      - {id: acc2, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.8}
  - id: pilot
    title: Pilot
    stage: pilot
    alias: champion
    checks:
      - {id: acc3, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.8}
"""
FORMATS = ("json", "sarif", "junit", "markdown", "html", "github")


def test_check_blocks_and_no_output_or_audit_record_holds_the_pii(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "support-bot", metrics={"accuracy": 0.9},
                           log_model=False, artifacts=ARTIFACTS)
    playbook = tmp_path / "support-bot.yaml"
    playbook.write_text(PLAYBOOK % "")
    audit = tmp_path / "audit.jsonl"
    outputs = [a for f in FORMATS for a in ("-o", f"{f}={tmp_path / ('out.' + f)}")]
    code = run(["check", str(playbook), "--model", "support-bot", "--version", version,
                "--milestone", "poc", "--tracking-uri", tracking_uri, "--audit-log", str(audit),
                "-o", "text", *outputs])
    captured = capsys.readouterr()
    assert code == 1
    line = next(x for x in captured.out.splitlines() if "no-pii" in x)
    assert line.split()[0] == "FAIL"
    assert "6 PII finding(s) in 3 file(s) scanned: CREDIT_CARD 1, EMAIL_ADDRESS 2, " \
           "IBAN_CODE 1, IP_ADDRESS 1, PHONE_NUMBER 1" in captured.out
    result = json.loads((tmp_path / "out.json").read_text())
    [pii] = [c for c in result["checks"] if c["id"] == "no-pii"]
    assert (pii["status"], pii["category"]) == ("fail", "privacy")
    assert pii["observed"]["findings"] == 6
    written = {f: (tmp_path / f"out.{f}").read_text() for f in FORMATS}
    written |= {"stdout": captured.out, "stderr": captured.err, "audit": audit.read_text()}
    for where, text in written.items():
        leaked = [p for p in PLANTED if p in text]
        assert leaked == [], f"{where} holds planted PII"
    assert "no-pii" in written["sarif"] and "no-pii" in written["junit"]


def test_asking_for_person_names_blocks_with_an_error_through_the_cli(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "support-bot", metrics={"accuracy": 0.9},
                           log_model=False, artifacts=ARTIFACTS)
    playbook = tmp_path / "support-bot.yaml"
    playbook.write_text(PLAYBOOK % "        entities: [EMAIL_ADDRESS, PERSON]")
    code = run(["check", str(playbook), "--model", "support-bot", "--version", version,
                "--milestone", "poc", "--tracking-uri", tracking_uri,
                "--audit-log", str(tmp_path / "audit.jsonl"), "-o", "text"])
    out = capsys.readouterr().out
    assert code == 1
    line = next(x for x in out.splitlines() if "no-pii" in x)
    assert line.split()[0] == "ERROR" and "cannot detect PERSON" in out


def test_presidio_not_installed_is_an_error_and_a_validate_problem(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(scanners.SCANNERS, "presidio", replace(
        presidio.SCANNER, modules=("presidio_analyzer", "gatekeeper_no_such_module")))
    default = check()
    outcome = evaluate(default, scanned(tracking_uri, default))
    assert outcome.status is Status.ERROR
    assert "pip install 'gatekeeper[privacy]'" in outcome.message

    playbook = tmp_path / "support-bot.yaml"
    playbook.write_text(PLAYBOOK % "")
    with pytest.raises(ValidationError) as caught:
        validate_paths([playbook])
    [problem] = caught.value.problems
    assert problem.path == "milestones[0].checks[1].kind"
    assert "pip install 'gatekeeper[privacy]'" in problem.message


def local_target(root: Path, files: dict[str, bytes]) -> ScanTarget:
    """A scan target of plain files, ``model/...`` and ``run/...``, without a registry."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return ScanTarget(root, root / "model" if (root / "model").is_dir() else None,
                      root / "run" if (root / "run").is_dir() else None, "support-bot v1")



def test_presidio_and_spacy_are_imported_only_when_a_scan_runs() -> None:
    """Loading the check kinds (every command does) must not pay for Presidio and spaCy."""
    probe = ("import sys, gatekeeper.evaluate, gatekeeper.evidence.scans; "
             "print(sorted(m for m in ('presidio_analyzer', 'spacy', 'tldextract') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2]).stdout
    assert out.strip() == "[]"
