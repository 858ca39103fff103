"""`--audit-store` through the real CLI: a PostgreSQL store shared by workspaces that share
nothing else but the MLflow registry (ephemeral CI runners), and the option's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.record.checkpoint import TAG as CHECKPOINT_TAG
from gatekeeper.record.checkpoint import Checkpoint
from tests.cli.test_check import PLAYBOOK, seed
from tests.support.postgres import free_port


def workspace(root: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new working folder holding only the playbook, entered; no signing key, so nothing
    but the audit store can carry a decision from one workspace to the next."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "fraud.yaml").write_text(PLAYBOOK.read_text())
    monkeypatch.chdir(folder)
    monkeypatch.delenv("GATEKEEPER_SIGNING_KEY", raising=False)
    return folder


def gatekeeper(command: str, uri: str, milestone: str, *args: str) -> int:
    return run([command, "fraud.yaml", "--model", "fraud", "--version", "1", "--milestone",
                milestone, "--tracking-uri", uri, *args])


def test_poc_and_serve_in_two_workspaces_then_promote_in_a_third(
        tracking_uri: str, postgres_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri)
    workspace(tmp_path, "a", monkeypatch)
    assert gatekeeper("check", tracking_uri, "poc", "--audit-store", postgres_url) == 0

    b = workspace(tmp_path, "b", monkeypatch)
    monkeypatch.setenv("GATEKEEPER_AUDIT_STORE", postgres_url)  # as a CI variable sets it
    assert gatekeeper("check", tracking_uri, "serve", "-o", "json=result.json") == 0
    prerequisite = next(c for c in json.loads((b / "result.json").read_text())["checks"]
                        if c["id"] == "gatekeeper.earlier-milestones")
    assert prerequisite["status"] == "pass"

    c = workspace(tmp_path, "c", monkeypatch)
    capsys.readouterr()
    assert gatekeeper("promote", tracking_uri, "serve") == 0
    assert capsys.readouterr().out.startswith("promoted: alias 'serve-ok' -> version 1")
    assert mlflow_client(tracking_uri).get_registered_model("fraud").aliases == {"serve-ok": 1}
    assert not list(c.glob("**/*.jsonl")) and not (c / ".gatekeeper").exists()

    assert run(["audit", "verify", "--anchor", "mlflow:fraud", "--tracking-uri",
                tracking_uri]) == 0
    location = postgres_url.replace("gatekeeper@", "")
    assert capsys.readouterr().out.splitlines()[:3] == [
        f"audit log {location}: 3 records, chain intact",
        "signatures: none to check (no record is signed)", "anchor mlflow:fraud: compared"]
    assert run(["audit", "log", "-o", "json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["seq"], r["action"], r["milestone"]) for r in records] == [
        (1, "decision", "poc"), (2, "decision", "serve"), (3, "promotion", "serve")]
    assert records[2]["decision_ref"]["log"] == location
    # Each gate anchored the store's checkpoint on the version, as it does a JSONL log's.
    tag = mlflow_client(tracking_uri).get_model_version("fraud", "1").tags[CHECKPOINT_TAG]
    assert Checkpoint.from_json(tag) == Checkpoint(records[0]["log_id"], 3, records[2]["hash"])
    assert run(["status", "--model", "fraud", "--tracking-uri", tracking_uri,
                "-o", "json=status.json"]) == 0
    standing = json.loads((c / "status.json").read_text())["versions"][0]
    assert [(m["milestone"], m["decision"]) for m in standing["milestones"]][:2] == [
        ("poc", "pass"), ("serve", "pass")]


def test_with_a_log_per_workspace_the_prerequisite_is_missing(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(tracking_uri)
    workspace(tmp_path, "a", monkeypatch)
    assert gatekeeper("check", tracking_uri, "poc", "--audit-store", "file:audit.jsonl") == 0
    b = workspace(tmp_path, "b", monkeypatch)
    assert gatekeeper("check", tracking_uri, "serve", "--audit-log", "audit.jsonl",
                      "-o", "json=result.json") == 1
    prerequisite = next(c for c in json.loads((b / "result.json").read_text())["checks"]
                        if c["id"] == "gatekeeper.earlier-milestones")
    assert prerequisite["status"] == "fail"
    workspace(tmp_path, "c", monkeypatch)
    assert gatekeeper("promote", tracking_uri, "serve", "--audit-log", "audit.jsonl") == 1
    assert mlflow_client(tracking_uri).get_registered_model("fraud").aliases == {}


def test_audit_log_and_audit_store_together_are_refused(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEKEEPER_AUDIT_STORE", "file:other.jsonl")
    assert run(["audit", "verify", "--audit-log", "audit.jsonl"]) == 2
    err = capsys.readouterr().err
    assert "--audit-log and --audit-store both given" in err and "Traceback" not in err


def test_an_unreachable_store_is_exit_3_without_the_password(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri)
    workspace(tmp_path, "a", monkeypatch)
    port = free_port()  # nothing listens there
    url = f"postgresql://gate:pa55word@127.0.0.1:{port}/audit"
    assert gatekeeper("check", tracking_uri, "poc", "--audit-store", url) == 3
    err = capsys.readouterr().err
    assert f"audit store postgresql://127.0.0.1:{port}/audit: cannot " in err
    assert "pa55word" not in err and "Traceback" not in err
