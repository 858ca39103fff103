"""End to end through the real CLI on a real SQLite MLflow registry: a decision keeps the
digests and values it decided on (in the JSON result and the audit record), a planted secret
never appears anywhere, `audit verify-evidence` catches a model card replaced in MLflow after
the decision, and `audit redact` drops a value while the chain still verifies."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from tests.support.registry import seed_version

CARD = "# ledger model card\nIntended use: ledger anomaly triage.\n"
TOKEN = "ghp_Zq3xT9vLm2Kp8Rw4Yb6Nc1Hd5Fg7Js0QaEu"
EMAIL = "jane.doe@example.com"
PLAYBOOK = """\
model: ledger
owners: {product: p@example.com, platform: o@example.com, data_science: d@example.com}
milestones:
  - id: poc
    title: POC validation
    stage: poc
    alias: poc-ok
    checks:
      - {id: auc-floor, kind: metric_threshold, category: quality, owner: ds, key: auc, min: 0.8}
      - id: evidence
        kind: required_evidence
        category: governance
        owner: product
        tags: [approval.ref, deploy.token, owner.contact]
        artifacts: [model_card.md]
        input_example: true
        data_governance: {classification: true}
  - id: serve
    title: Serve layer
    stage: serve
    alias: serve-ok
    checks:
      - {id: p95, kind: latency, category: latency, owner: platform, endpoint: predict, p95_ms: 50}
  - id: pilot
    title: Pilot
    stage: pilot
    alias: champion
    checks:
      - {id: errors, kind: metric_threshold, category: latency, owner: platform, key: e, max: 1}
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "ledger.yaml").write_text(PLAYBOOK)
    (tmp_path / "org.yaml").write_text("id: org\naudit: {retention_days: 365}\n")
    return tmp_path


def test_a_decision_keeps_its_evidence_and_a_later_change_is_detected(
        tracking_uri: str, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(
        tracking_uri, "ledger", metrics={"auc": 0.9}, artifacts={"model_card.md": CARD},
        version_tags={"approval.ref": "CAB-1234", "deploy.token": TOKEN},
        run_tags={"owner.contact": EMAIL, "data.classification": "internal"})
    audit, out = workspace / "audit" / "audit.jsonl", workspace / "result.json"
    said: list[str] = []

    def output() -> list[str]:
        captured = capsys.readouterr()
        said.extend([captured.out, captured.err])
        return captured.out.splitlines()

    common = ["--tracking-uri", tracking_uri, "--audit-log", str(audit)]
    assert run(["check", str(workspace / "ledger.yaml"), "--model", "ledger", "--version",
                version, "--milestone", "poc", "--policies", str(workspace / "org.yaml"),
                "-o", "text", "-o", f"json={out}", *common]) == 0

    result = json.loads(out.read_text())
    refs = {"card": "mlflow:models/ledger/1/artifacts/model_card.md",
            "approval": "mlflow:models/ledger/1/version_tags/approval.ref",
            "token": "mlflow:models/ledger/1/version_tags/deploy.token",
            "class": f"mlflow:runs/{result['model']['run_id']}/tags/data.classification",
            "model": "mlflow:models/ledger/1/model_files",
            "example": "mlflow:models/ledger/1/model/input_example"}
    digests = result["evidence_digests"]
    card_sha = "sha256:" + hashlib.sha256(CARD.encode()).hexdigest()
    assert digests[refs["card"]] == {"sha256": card_sha, "bytes": len(CARD.encode())}
    assert digests[refs["approval"]] == {"value": "CAB-1234"}
    assert digests[refs["class"]] == {"value": "internal"}
    assert digests[refs["token"]]["hmac"].startswith("hmac-sha256:")
    assert digests[refs["example"]]["sha256"] == digests[refs["model"]]["files"][
        "input_example.json"]
    assert result["audit"]["log"] == audit.as_uri()

    record = json.loads(audit.read_text().splitlines()[0])
    assert record["criteria"]["auc-floor"]["threshold"] == {"min": 0.8}
    assert record["evidence"]["auc-floor"]["observed"] == 0.9
    assert record["evidence_digests"][refs["card"]]["sha256"] == card_sha
    assert set(record["evidence_digests"][refs["approval"]]) == {"sealed"}
    recorded = datetime.fromisoformat(record["recorded_at"].replace("Z", "+00:00"))
    until = datetime.fromisoformat(record["retain_until"].replace("Z", "+00:00"))
    assert recorded + timedelta(days=365) <= until <= recorded + timedelta(days=367)

    # Replace the model card in MLflow after the decision: re-hashing says so.
    run_id = result["model"]["run_id"]
    mlflow_client(tracking_uri).log_text(run_id, "# ledger model card\nrewritten\n",
                                         "model_card.md")
    output()
    assert run(["audit", "verify-evidence", "--seq", "1", *common]) == 1
    lines = output()
    assert f"changed    {refs['card']}  (content differs)" in lines
    assert f"unchanged  {refs['approval']}" in lines
    assert f"unchanged  {refs['model']}" in lines
    assert lines[-1] == f"record 1: {len(digests)} items, 1 changed or gone"

    # Redact the approval reference: a reason is needed before retain_until; the chain holds.
    assert run(["audit", "redact", "--seq", "1", "--field", refs["approval"],
                "--audit-log", str(audit)]) == 2
    assert run(["audit", "redact", "--seq", "1", "--field", refs["approval"],
                "--reason", "erasure request ER-7", "--audit-log", str(audit)]) == 0
    assert run(["audit", "verify", "--audit-log", str(audit)]) == 0
    assert "CAB-1234" not in Path(f"{audit}.sealed").read_text()
    output()
    assert run(["audit", "verify-evidence", "--seq", "1", *common]) == 1
    assert f"unchecked  {refs['approval']}  (the value was redacted)" in output()

    # The planted secret and the e-mail address are nowhere but in the registry itself:
    # not in the output, the result, the log or any file beside it.
    output()
    written = [p for p in workspace.rglob("*")
               if p.is_file() and p.relative_to(workspace).parts[0] != "mlflow"]
    assert {p.name for p in written} >= {"result.json", "audit.jsonl", "audit.jsonl.sealed"}
    texts = said + [p.read_text(errors="replace") for p in written]
    assert not [t for t in texts if TOKEN in t or EMAIL in t]
