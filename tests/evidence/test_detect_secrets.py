"""The detect-secrets scanner for real: an AWS key, a GitHub token, a private key block and a
password in a URL planted in a model card, a YAML config and an input example logged to a real
SQLite registry, found by type, file and line with an HMAC digest stable under a fixed
GATEKEEPER_SCAN_SALT; then ``gatekeeper check`` through the real CLI in every output format,
none of which (nor the audit log) holds any planted secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.cli import run
from gatekeeper.errors import ValidationError
from gatekeeper.evidence import scanners
from gatekeeper.evidence.interface import EvidenceRequest
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.evidence.mlflow_source import MlflowSource
from gatekeeper.evidence.scanners import detect_secrets
from gatekeeper.evidence.scanners.interface import ScanQuery, ScanReport, ScanTarget
from gatekeeper.evidence.scans import with_scans
from gatekeeper.load.validate import validate_paths
from gatekeeper.render import FORMATS
from tests.support.registry import seed_version

# Made-up credentials in the real formats (none was ever issued).
AWS_KEY = "AKIAZ3MPLE7QX4RT2VWB"
GITHUB_TOKEN = "ghp_" + "R4nd0mT0kenV4lue1234567890abcdefGHIJ"
KEY_BODY = "MIIEpAIBAAKCAQEAz9Fak3Priv4teK3yB0dyQx7Lm2Np"
PASSWORD = "Tr41n-P4ssw0rd-x9"
#: Every planted secret, in each form it could leak in.
PLANTED = (AWS_KEY, GITHUB_TOKEN, GITHUB_TOKEN[4:], KEY_BODY, PASSWORD)

CARD = (
    "# fraud model card\n"
    "\n"
    f"Training data was read with the key {AWS_KEY} from s3://features.\n"
    f"Features come from postgresql://trainer:{PASSWORD}@db.internal:5432/features\n"
)
CONFIG = (
    "serve:\n"
    "  workers: 4\n"
    f"  github_token: {GITHUB_TOKEN}\n"
    "  url: ${SERVE_URL}\n"
)
INPUT_EXAMPLE = json.dumps({"columns": ["client_cert"], "data": [[
    f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----"]]})
ARTIFACTS = {
    "model/MLmodel": "artifact_path: model\nflavors: {}\n",
    "model/input_example.json": INPUT_EXAMPLE,
    "model_card.md": CARD,
    "conf/serve.yaml": CONFIG,
}
#: What the scan finds: (type, file, line).
EXPECTED = {
    ("Private Key", "model/input_example.json", 1),
    ("AWS Access Key", "run/model_card.md", 3),
    ("Basic Auth Credentials", "run/model_card.md", 4),
    ("GitHub Token", "run/conf/serve.yaml", 3),
}
SALT = "org-wide-secret-salt"


def seed_with_binary(tracking_uri: str, tmp_path: Path) -> str:
    """A version whose model folder holds the planted text files and a binary pickle."""
    version = seed_version(tracking_uri, "fraud", metrics={"auc": 0.9}, log_model=False,
                           artifacts=ARTIFACTS)
    client = mlflow_client(tracking_uri)
    run_id = client.get_model_version("fraud", version).run_id
    weights = tmp_path / "model.pkl"
    # A pickle's bytes: not UTF-8, with NUL bytes; nobody ever loads it.
    weights.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00" + AWS_KEY.encode())
    client.log_artifact(run_id, str(weights), "model")
    return version


def scan_version(tracking_uri: str, version: str, env: dict[str, str]) -> Any:
    query = ScanQuery("detect-secrets")
    source = MlflowSource(tracking_uri)
    evidence = source.collect("fraud", version, EvidenceRequest())
    return with_scans(evidence, [query], source, env).extra[query.key]


def mac(salt: str, secret: str) -> str:
    return "hmac-sha256:" + hmac.new(salt.encode(), secret.encode(), hashlib.sha256).hexdigest()


def test_planted_secrets_are_found_by_type_file_and_line(tracking_uri: str,
                                                         tmp_path: Path) -> None:
    version = seed_with_binary(tracking_uri, tmp_path)
    report = scan_version(tracking_uri, version, {"GATEKEEPER_SCAN_SALT": SALT})
    assert isinstance(report, ScanReport)
    assert {(f.rule, f.file, f.line) for f in report.findings} == EXPECTED
    assert set(report.scanned) == {"model/MLmodel", "model/input_example.json",
                                   "run/model_card.md", "run/conf/serve.yaml"}
    assert report.facts["binary_skipped"] == ["model/model.pkl"]  # its AWS key is not text
    assert report.unscanned == ()
    assert report.facts["salt"] == "GATEKEEPER_SCAN_SALT"
    assert "Secret Keyword" in report.facts["detectors"]
    assert "Base64 High Entropy String" not in report.facts["detectors"]
    # The digest is the HMAC of the secret under the organisation's salt, nothing else.
    aws = next(f for f in report.findings if f.rule == "AWS Access Key")
    assert aws.digest == mac(SALT, AWS_KEY)
    assert aws.ref == f"mlflow:models/fraud/{version}/artifacts/model_card.md"
    text = repr(report)
    assert not [s for s in PLANTED if s in text]
    assert SALT not in text


def test_the_digest_is_stable_under_a_fixed_salt_and_differs_otherwise(
        tracking_uri: str, tmp_path: Path) -> None:
    version = seed_with_binary(tracking_uri, tmp_path)

    def digests(env: dict[str, str]) -> dict[tuple[str, str], str | None]:
        report = scan_version(tracking_uri, version, env)
        return {(f.rule, f.file): f.digest for f in report.findings}

    first, again = digests({"GATEKEEPER_SCAN_SALT": SALT}), digests({"GATEKEEPER_SCAN_SALT": SALT})
    other = digests({"GATEKEEPER_SCAN_SALT": "another-salt"})
    unsalted = scan_version(tracking_uri, version, {})
    assert first == again
    assert all(first[k] != other[k] for k in first)
    assert unsalted.facts["salt"] == "random per process"
    assert {f.digest for f in unsalted.findings}.isdisjoint(first.values())


def test_binary_large_and_half_text_files_are_sorted_by_rule(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    (run_dir / "big.csv").write_text("a,b\n" + "1,2\n" * 300_000)  # 1.2 MB of text
    (run_dir / "mixed.txt").write_bytes(b"x" * 9000 + b"\xff\xfe not utf-8")
    (run_dir / "poetry.lock").write_text(f"url = \"https://u:{PASSWORD}@pypi.internal/simple\"\n")
    target = ScanTarget(tmp_path, None, run_dir, "fraud v1")
    report = detect_secrets.scan(target, ScanQuery("detect-secrets", (("max_file_mb", "1"),)),
                                 {})
    assert report.facts["binary_skipped"] == ["run/weights.safetensors"]
    assert dict(report.unscanned) == {
        "run/big.csv": "a text file of 1.1 MB, over the max_file_mb limit of 1 MB",
        "run/mixed.txt": "text in its first 8 KiB but not UTF-8 further on"}
    # detect-secrets would skip a lock file by its name: here it is read like any text.
    assert [(f.rule, f.file) for f in report.findings] == [
        ("Basic Auth Credentials", "run/poetry.lock")]


def test_the_inline_allowlist_comment_does_not_hide_a_secret(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "conf.yaml").write_text(
        f"aws_key: {AWS_KEY}  # pragma: allowlist secret\n")
    report = detect_secrets.scan(ScanTarget(tmp_path, None, tmp_path / "run", "fraud v1"),
                                 ScanQuery("detect-secrets"), {})
    assert ("AWS Access Key", 1) in {(f.rule, f.line) for f in report.findings}


def test_entropy_and_keyword_detectors_follow_the_query(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "conf.yaml").write_text(
        "password: correcthorsebatterystaple\n"
        "digest: 'Zr9xQ2vLk8PmN4tW7yB1cH6jD3fG5sA0eRu+'\n")
    target = ScanTarget(tmp_path, None, tmp_path / "run", "fraud v1")

    def rules(**params: str) -> set[str]:
        query = ScanQuery("detect-secrets", tuple(params.items()))
        return {f.rule for f in detect_secrets.scan(target, query, {}).findings}

    assert rules() == {"Secret Keyword"}
    assert rules(keyword="false") == set()
    assert "Base64 High Entropy String" in rules(entropy="true", keyword="false")


PLAYBOOK = {
    "model": "fraud",
    "owners": {"product": "p@example.com", "platform": "o@example.com",
               "data_science": "d@example.com"},
    "milestones": [
        {"id": "poc", "title": "POC validation", "stage": "poc", "alias": "poc-ok",
         "checks": [{"id": "secrets", "kind": "secret_scan", "category": "security",
                     "owner": "security"}]},
        {"id": "serve", "title": "Serve layer", "stage": "serve", "alias": "serve-ok",
         "checks": [{"id": "auc", "kind": "metric_threshold", "category": "quality",
                     "owner": "ds", "key": "auc", "min": 0.8}]},
        {"id": "pilot", "title": "Pilot", "stage": "pilot", "alias": "champion",
         "checks": [{"id": "auc", "kind": "metric_threshold", "category": "quality",
                     "owner": "ds", "key": "auc", "min": 0.8}]},
    ],
}


def write_playbook(path: Path, allow: list[dict[str, str]] | None = None) -> Path:
    book = json.loads(json.dumps(PLAYBOOK))
    if allow:
        book["milestones"][0]["checks"][0]["allow"] = allow
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


def check_every_format(tracking_uri: str, version: str, playbook: Path, out: Path,
                       audit: Path) -> int:
    outputs = [f"-o{name}={out / name}" for name in sorted(FORMATS)]
    return run(["check", str(playbook), "--model", "fraud", "--version", version,
                "--milestone", "poc", "--tracking-uri", tracking_uri, "--audit-log",
                str(audit), "-o", "text", *outputs])


def test_check_blocks_in_every_format_and_no_secret_leaves_the_process(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEKEEPER_SCAN_SALT", SALT)
    version = seed_with_binary(tracking_uri, tmp_path)
    out, audit = tmp_path / "out", tmp_path / "audit.jsonl"
    out.mkdir()
    code = check_every_format(tracking_uri, version, write_playbook(tmp_path / "p.yaml"),
                              out, audit)
    captured = capsys.readouterr()
    assert code == 1
    result = json.loads((out / "json").read_text())
    [check] = result["checks"]
    assert (check["kind"], check["status"], check["category"]) == (
        "secret_scan", "fail", "security")
    assert check["message"].startswith(f"4 secrets in the text files of fraud v{version}: ")
    for rule, file, line in EXPECTED:
        assert f"{rule} at {file}:{line} (hmac-sha256:" in check["message"]
        assert f"{rule} at {file}:{line}" in captured.out
    assert {(s["type"], s["file"], s["line"]) for s in check["observed"]["secrets"]} == EXPECTED
    assert check["observed"]["binary_skipped"] == 1

    texts = {name: (out / name).read_text() for name in FORMATS}
    texts |= {"stdout": captured.out, "stderr": captured.err, "audit": audit.read_text()}
    leaks = {(where, s) for where, text in texts.items() for s in (*PLANTED, SALT)
             if s in text}
    assert leaks == set()
    assert "AWS Access Key" in texts["audit"] and "run/model_card.md" in texts["sarif"]


def test_allow_entries_from_the_json_result_let_the_same_version_pass(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_SCAN_SALT", SALT)
    version = seed_with_binary(tracking_uri, tmp_path)
    out, audit = tmp_path / "out", tmp_path / "audit.jsonl"
    out.mkdir()
    assert check_every_format(tracking_uri, version, write_playbook(tmp_path / "p.yaml"),
                              out, audit) == 1
    secrets = json.loads((out / "json").read_text())["checks"][0]["observed"]["secrets"]
    allow = [{"file": s["file"], "digest": s["digest"], "reason": "test fixture"}
             for s in secrets]
    assert check_every_format(tracking_uri, version,
                              write_playbook(tmp_path / "allowing.yaml", allow), out,
                              audit) == 0
    [check] = json.loads((out / "json").read_text())["checks"]
    assert check["status"] == "pass" and len(check["observed"]["allowed"]) == 4
    # With another salt the same entries match nothing: the version is blocked again.
    monkeypatch.setenv("GATEKEEPER_SCAN_SALT", "another-salt")
    assert check_every_format(tracking_uri, version, tmp_path / "allowing.yaml", out,
                              audit) == 1


def test_without_detect_secrets_the_check_is_an_error_and_validate_names_the_extra(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(scanners.SCANNERS, "detect-secrets", replace(
        detect_secrets.SCANNER, modules=("gatekeeper_no_such_module",)))
    playbook = write_playbook(tmp_path / "p.yaml")
    with pytest.raises(ValidationError) as caught:
        validate_paths([playbook])
    [problem] = caught.value.problems
    assert problem.path == "milestones[0].checks[0].kind"
    assert "pip install 'gatekeeper[security]'" in problem.message

    version = seed_version(tracking_uri, "fraud", metrics={"auc": 0.9}, log_model=False,
                           artifacts={"model/MLmodel": "flavors: {}\n"})
    out, audit = tmp_path / "out", tmp_path / "audit.jsonl"
    out.mkdir()
    assert check_every_format(tracking_uri, version, playbook, out, audit) == 1
    [check] = json.loads((out / "json").read_text())["checks"]
    assert check["status"] == "error"
    assert check["message"] == (
        "detect-secrets needs the Python module 'gatekeeper_no_such_module', which is not "
        "installed: pip install 'gatekeeper[security]'")
