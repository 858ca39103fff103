"""Signed approvals through the real CLI on a real SQLite registry: `keys generate`,
`approve` (the audit record and the version tag), and `check` counting approvals, refusing
forged, expired and self-approved ones, and reading pull request reviews from the GitHub API
emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.record import AuditLog, Identity
from gatekeeper.record.approval import open_envelope, parse_public_key, seal
from gatekeeper.record.records import approval_entry
from tests.cli.test_check import PLAYBOOK, seed
from tests.support.github_emulator import ApiEmulator, api_emulator

TOKEN = "ghp_reviewsTokenNeverShown0123456789"
HEAD = "c" * 40


def keys(*names: str) -> dict[str, str]:
    """A key pair per name made by `gatekeeper keys generate`: name → public key printed."""
    found = {}
    for name in names:
        assert run(["keys", "generate", "--out", f"{name}.pem"]) == 0
        found[name] = Path(f"{name}.pem")
    return {n: _public(p) for n, p in found.items()}


def _public(path: Path) -> str:
    from gatekeeper.record.approval import public_key_text, read_private_key

    return public_key_text(read_private_key(path).public_key())


def write_policy(public: dict[str, str], max_days: int = 14) -> None:
    Path("policies").mkdir(exist_ok=True)
    Path("policies/org.yaml").write_text(f"""id: org
approvals:
  max_days: {max_days}
  roles:
    ml_lead:
      members:
        - {{identity: alice@example.com, public_key: "{public['alice']}", github: alice-gh}}
    security:
      members:
        - {{identity: bob@example.com, public_key: "{public['bob']}", github: bob-gh}}
        - {{identity: carol@example.com, public_key: "{public['carol']}"}}
  stages:
    poc: {{count: 2, roles: [ml_lead, security]}}
""")


@pytest.fixture
def gated(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fraud playbook's poc milestone needing ml_lead and security, version 1 seeded,
    gated once by dave (blocked: no approvals yet)."""
    seed(tracking_uri)
    write_policy(keys("alice", "bob", "carol", "mallory"))
    Path("fraud.yaml").write_text(PLAYBOOK.read_text())
    monkeypatch.setenv("GATEKEEPER_ACTOR", "dave")
    assert gate(tracking_uri) == 1
    return tracking_uri


def gate(uri: str, *args: str) -> int:
    return run(["check", "fraud.yaml", "--model", "fraud", "--version", "1", "--milestone",
                "poc", "--tracking-uri", uri, "--audit-log", "audit.jsonl", "-o",
                "json=result.json", "-o", "text", *args])


def approve(uri: str, who: str, role: str, *args: str) -> int:
    return run(["approve", "fraud.yaml", "--model", "fraud", "--version", "1", "--milestone",
                "poc", "--role", role, "--key", f"{who}.pem", "--tracking-uri", uri,
                "--audit-log", "audit.jsonl", *args])


def approvals_check() -> dict[str, Any]:
    result = json.loads(Path("result.json").read_text())
    found: dict[str, Any] = next(c for c in result["checks"] if c["id"] == "gatekeeper.approvals")
    return found


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path("audit.jsonl").read_text().splitlines()]


def test_two_approvals_pass_and_are_recorded_and_tagged(
        gated: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = approvals_check()
    assert (blocked["status"], blocked["kind"], blocked["category"]) == (
        "fail", "approvals", "governance")
    assert blocked["message"] == (
        "needs 2 approvals (ml_lead, security); have 0; missing: ml_lead (one of "
        "alice@example.com), security (one of bob@example.com, carol@example.com)")
    capsys.readouterr()

    assert approve(gated, "alice", "ml_lead") == 0
    out = capsys.readouterr().out
    assert out.startswith("approved: fraud version 1, milestone poc, as ml_lead by "
                          "alice@example.com; bound to decision record 1 (sha256:")
    assert "BEGIN" not in out  # the private key never leaves its file
    record = records()[-1]
    assert (record["action"], record["role"], record["approver"], record["actor"]) == (
        "approval", "ml_lead", "alice@example.com", "dave")
    assert record["decision_ref"]["seq"] == 1
    tags = mlflow_client(gated).get_model_version("fraud", "1").tags
    [(key, value)] = [(k, v) for k, v in tags.items() if k.startswith("gatekeeper.approval.")]
    assert key.startswith("gatekeeper.approval.poc.ml_lead.")
    assert json.loads(value) == record["envelope"] and len(value) < 5000
    public = parse_public_key(Path("policies/org.yaml").read_text().split('"')[1])
    assert open_envelope(json.loads(value)).verified_by(public)

    assert gate(gated) == 1  # one of two
    assert approvals_check()["message"].startswith(
        "needs 2 approvals (ml_lead, security); have 1: ml_lead by alice@example.com (expires ")
    assert approve(gated, "carol", "security") == 0
    assert gate(gated) == 0
    passed = approvals_check()
    assert passed["status"] == "pass"
    assert [(o["role"], o["approver"]) for o in passed["observed"]] == [
        ("ml_lead", "alice@example.com"), ("security", "carol@example.com")]
    assert run(["audit", "verify", "--audit-log", "audit.jsonl"]) == 0

    promote = ["promote", "fraud.yaml", "--model", "fraud", "--version", "1", "--milestone",
               "poc", "--tracking-uri", gated, "--audit-log", "audit.jsonl"]
    monkeypatch.setenv("GATEKEEPER_ACTOR", "carol")  # an approver may not promote
    capsys.readouterr()
    assert run(promote) == 1
    assert capsys.readouterr().out == ("refused: carol approved this decision (security): "
                                       "whoever promotes must not be one of its approvers\n")
    monkeypatch.setenv("GATEKEEPER_ACTOR", "dave")
    assert run(promote) == 0
    assert mlflow_client(gated).get_registered_model("fraud").aliases == {"poc-ok": 1}


def test_a_forged_approval_blocks(gated: str) -> None:
    assert approve(gated, "alice", "ml_lead") == 0
    real = records()[-1]["envelope"]["payload"]
    mallory = Ed25519PrivateKey.generate()  # claims to be bob; the policy has bob's key
    forged = seal({**real, "role": "security", "approver": "bob@example.com"}, mallory)
    decision = records()[0]
    log = AuditLog("audit.jsonl")
    from gatekeeper.decide.result import AuditRef

    log.append(approval_entry(forged, Identity("mallory", "os_user"),
                              AuditRef("audit.jsonl", 1, decision["hash"])))
    assert gate(gated) == 1
    assert ("security by bob@example.com (record 3): the signature does not verify with the "
            "key the policy lists for bob@example.com") in approvals_check()["message"]


def test_an_expired_approval_blocks(gated: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_KEY", "alice.pem")  # --key from the environment
    assert run(["approve", "fraud.yaml", "--model", "fraud", "--version", "1", "--milestone",
                "poc", "--role", "ml_lead", "--expires-in", "1h", "--tracking-uri", gated,
                "--audit-log", "audit.jsonl"]) == 0
    assert approve(gated, "bob", "security", "--expires-in", "1h") == 0
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert gate(gated, "--now", later) == 1
    message = approvals_check()["message"]
    assert "ml_lead by alice@example.com (record 2): expired " in message
    assert gate(gated) == 0  # the same approvals, judged before they expire


def test_the_requester_cannot_approve_their_own_gate(
        gated: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert approve(gated, "alice", "ml_lead") == 0
    assert approve(gated, "bob", "security") == 0
    monkeypatch.setenv("GATEKEEPER_ACTOR", "alice")
    assert gate(gated) == 1
    assert ("ml_lead by alice@example.com (record 2): alice@example.com requested this gate "
            "(actor alice): an approver must be someone else") in approvals_check()["message"]
    capsys.readouterr()
    # alice's gate run is now the latest decision: approving it warns her
    assert approve(gated, "alice", "ml_lead") == 0
    assert "gatekeeper: warning: alice@example.com requested the decision approved" in (
        capsys.readouterr().err)


def test_bad_approve_input_exits_2(gated: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert approve(gated, "mallory", "ml_lead") == 2
    assert "--key: this key (ed25519:" in capsys.readouterr().err
    assert approve(gated, "alice", "legal") == 2
    assert capsys.readouterr().err.startswith(
        "gatekeeper: error: --role: milestone 'poc' asks for approvals by ml_lead, security, "
        "not 'legal'")
    assert approve(gated, "alice", "ml_lead", "--expires-in", "30d") == 2
    assert "longer than the policies allow (14 days)" in capsys.readouterr().err
    Path("broken.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
    assert run(["approve", "fraud.yaml", "--model", "fraud", "--version", "1", "--milestone",
                "poc", "--role", "ml_lead", "--key", "broken.pem", "--tracking-uri", gated,
                "--audit-log", "audit.jsonl"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gatekeeper: error: --key: broken.pem: not a PEM or OpenSSH "
                          "private key") and "not a key" not in err
    assert approve(gated, "alice", "ml_lead", "--audit-log", "elsewhere.jsonl") == 2
    assert "no decision recorded for milestone 'poc' of this version" in (
        capsys.readouterr().err)
    assert not Path("elsewhere.jsonl").exists()  # a refusal creates no log
    assert [r["action"] for r in records()] == ["decision"]  # nothing was approved


@pytest.fixture
def github_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiEmulator]:
    with api_emulator(TOKEN) as api:
        for name, value in {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": api.github_url,
                            "GITHUB_REPOSITORY": "acme/models", "GITHUB_SHA": "d" * 40}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("GATEKEEPER_PUBLISH_TIMEOUT", "1")
        yield api


def test_pull_request_reviews_count_as_approvals(
        gated: str, github_api: ApiEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert approve(gated, "alice", "ml_lead") == 0
    for n in range(120):  # more than one page of 100
        github_api.add_review("acme/models", 7, f"user{n}", "COMMENTED", HEAD)
    github_api.add_review("acme/models", 7, "bob-gh", "APPROVED", "e" * 40)  # an older commit
    assert gate(gated, "--github-pr", "7", "--sha", HEAD) == 1
    assert approvals_check()["message"].endswith(
        "GitHub review by bob-gh on pull request #7: approved commit eeeeeeeeeeee, not the "
        "head cccccccccccc")
    github_api.add_review("acme/models", 7, "bob-gh", "APPROVED", HEAD)
    capsys.readouterr()
    assert gate(gated, "--github-pr", "7", "--sha", HEAD) == 0
    check = approvals_check()
    assert ("security by bob@example.com (GitHub review: authenticated by GitHub, not "
            "signed)") in check["message"]
    assert check["evidence"]["github"] == f"pulls/7/reviews@{HEAD}"
    asked = [r for r in github_api.requests if r.method == "GET"]
    assert [r.path for r in asked[-2:]] == [
        "/repos/acme/models/pulls/7/reviews?per_page=100&page=1",
        "/repos/acme/models/pulls/7/reviews?per_page=100&page=2"]
    assert all(r.body is None and r.headers["Authorization"] == f"Bearer {TOKEN}"
               for r in asked)
    assert github_api.invalid == []
    assert TOKEN not in capsys.readouterr().out + Path("audit.jsonl").read_text()


def test_unreadable_reviews_are_an_error_and_missing_configuration_exit_2(
        gated: str, github_api: ApiEmulator, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(gated, "--github-pr", "8", "--sha", HEAD) == 1  # no such pull request: 404
    check = approvals_check()
    assert check["status"] == "error"
    assert "pull request #8 reviews unread: GitHub GET /repos/acme/models/pulls/8/reviews" in (
        check["message"])
    monkeypatch.delenv("GITHUB_TOKEN")
    capsys.readouterr()
    assert gate(gated, "--github-pr", "8", "--sha", HEAD) == 2
    assert capsys.readouterr().err.startswith(
        "gatekeeper: error: --github-pr: GITHUB_TOKEN is not set")


def test_a_changed_outcome_voids_the_approvals(gated: str) -> None:
    assert approve(gated, "alice", "ml_lead") == 0
    assert approve(gated, "bob", "security") == 0
    client = mlflow_client(gated)
    run_id = client.get_model_version("fraud", "1").run_id
    assert run_id is not None
    client.log_metric(run_id, "auc", 0.95)  # another value, the same outcome: pass
    assert gate(gated) == 0
    client.log_metric(run_id, "auc", 0.82)  # auc-floor now warns: not what was approved
    assert gate(gated) == 1
    message = approvals_check()["message"]
    assert ("ml_lead by alice@example.com (record 2): this run's check outcomes differ from "
            "what was approved: approve again") in message
    assert approve(gated, "alice", "ml_lead") == 0  # bound to the new decision (record 5)
    assert approve(gated, "bob", "security") == 0
    assert gate(gated) == 0
