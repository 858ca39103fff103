"""The real CLI end to end on a real MLflow registry (SQLite, and a real `mlflow server`):
exit codes, exact messages, the JSON result, the audit log, and promotion only on a pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from tests.support.registry import seed_version

ASSETS = Path(__file__).parents[1] / "assets"
PLAYBOOK = ASSETS / "playbooks" / "fraud.yaml"
REPO = Path(__file__).parents[2]
GOOD = {"auc": 0.9, "latency.predict.p95_ms": 20.0, "latency.predict.p99_ms": 60.0,
        "pilot.error_rate": 0.001}


def seed(uri: str, metrics: Mapping[str, float] = GOOD, **kw: Any) -> str:
    """A version of `fraud` with the governance evidence the playbook asks for."""
    return seed_version(uri, "fraud", metrics=metrics,
                        run_tags={"data_classification": "internal"},
                        artifacts={"model_card.md": "# fraud\n"}, **kw)


def gate(tracking_uri: str, audit: Path, *args: str) -> int:
    return run(["check", str(PLAYBOOK), "--model", "fraud", "--tracking-uri", tracking_uri,
                "--audit-log", str(audit), *args])


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


def test_pass_prints_one_line_per_check_and_records(tracking_uri: str, audit: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    version = seed(tracking_uri)
    assert gate(tracking_uri, audit, "--version", version, "--milestone", "poc") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "fraud version 1 · milestone poc (POC validation)"
    assert out[2:5] == [
        "  PASS   auc-floor        auc = 0.9, within min 0.8, warn_min 0.85",
        "  SKIP   auc-vs-champion  baseline alias 'champion' is not set on model fraud; skipped "
        "(on_missing_baseline: skip)",
        "  PASS   evidence         present on fraud v1: tag 'data_classification', "
        "artifact 'model_card.md', signature, input example",
    ]
    assert out[6] == "PASSED (2 pass, 1 skip)"
    assert out[7].startswith(f"audit: {audit.as_uri()} record 1 sha256:")
    assert run(["audit", "verify", "--audit-log", str(audit)]) == 0


def test_block_exits_1_and_json_result_follows_the_contract(
        tracking_uri: str, audit: Path, tmp_path: Path) -> None:
    version = seed(tracking_uri, {**GOOD, "auc": 0.7})
    out = tmp_path / "out" / "result.json"
    code = gate(tracking_uri, audit, "--version", version, "--milestone", "poc",
                "-o", f"json={out}", "--promote")
    assert code == 1
    result = json.loads(out.read_text())
    assert result["schema"] == "gatekeeper.result/v1"
    assert (result["decision"], result["exit_code"]) == ("block", 1)
    assert result["model"]["name"] == "fraud" and result["model"]["version"] == version
    assert result["model"]["run_id"] and result["model"]["source"].startswith("models:/")
    assert result["milestone"] == {"id": "poc", "title": "POC validation"}
    assert result["playbook"]["digest"].startswith("sha256:")
    assert result["summary"] == {"pass": 1, "warn": 0, "fail": 1, "error": 0, "skip": 1,
                                 "waived": 0}
    failing = next(c for c in result["checks"] if c["id"] == "auc-floor")
    assert failing | {"evidence": None} == {
        "id": "auc-floor", "kind": "metric_threshold", "category": "quality",
        "status": "fail", "blocking": True, "observed": 0.7,
        "threshold": {"min": 0.8, "warn_min": 0.85},
        "message": "auc = 0.7, outside min 0.8, warn_min 0.85", "evidence": None,
        "waiver": None, "location": {"file": str(PLAYBOOK), "line": 10}, "owner": "ds",
        "remedy": "observed 0.7 is 0.1 (13%) below the minimum 0.8"}
    assert result["audit"]["seq"] == 1 and result["promotion"] is None
    assert "poc-ok" not in mlflow_client(tracking_uri).get_registered_model("fraud").aliases


def test_promote_flag_moves_alias_only_on_pass_and_records_previous(
        tracking_uri: str, audit: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = seed(tracking_uri, aliases=("poc-ok",))
    new = seed(tracking_uri)
    assert gate(tracking_uri, audit, "--version", new, "--milestone", "poc", "--promote") == 0
    assert f"promoted: alias 'poc-ok' -> version {new} (was version {old})" in (
        capsys.readouterr().out)
    client = mlflow_client(tracking_uri)
    assert str(client.get_model_version_by_alias("fraud", "poc-ok").version) == new
    tags = client.get_model_version("fraud", new).tags
    assert tags["gatekeeper.poc.decision"] == "pass"
    assert tags["gatekeeper.poc.audit_hash"].startswith("sha256:")
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["action"] for r in records] == ["decision", "promotion"]
    assert records[1]["promotion"] == {"alias": "poc-ok", "version": new, "previous_version": old}


def test_milestones_in_order_and_promote_command(tracking_uri: str, audit: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    version = seed(tracking_uri)
    base = ["--version", version]
    assert gate(tracking_uri, audit, *base, "--milestone", "serve") == 1
    assert "earlier milestone poc not passed" in capsys.readouterr().out
    promote = ["promote", str(PLAYBOOK), "--model", "fraud", *base, "--tracking-uri",
               tracking_uri, "--audit-log", str(audit)]
    assert run([*promote, "--milestone", "poc"]) == 1
    assert capsys.readouterr().out.startswith("refused: no passing decision for milestone 'poc'")
    assert gate(tracking_uri, audit, *base, "--milestone", "poc") == 0
    assert run([*promote, "--milestone", "poc", "--now", "2999-01-01T00:00:00Z"]) == 1
    assert "is older than 1 day, 0:00:00" in capsys.readouterr().out
    assert run([*promote, "--milestone", "poc"]) == 0
    assert "promoted: alias 'poc-ok' -> version 1" in capsys.readouterr().out
    assert gate(tracking_uri, audit, *base, "--milestone", "serve", "--promote") == 0
    actions = [json.loads(line)["action"] for line in audit.read_text().splitlines()]
    assert actions == ["decision", "promotion_refused", "decision", "promotion_refused",
                       "promotion", "decision", "promotion"]
    assert run(["audit", "verify", "--audit-log", str(audit)]) == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "nope", "--version", "1", "--milestone", "poc"],
     "gatekeeper: error: {playbook}: this playbook gates model 'fraud', not 'nope'"),
    (["--model", "fraud", "--version", "9", "--milestone", "poc"],
     "gatekeeper: error: model 'fraud' has no version 9; its versions: 1"),
    (["--model", "fraud", "--alias", "prod", "--milestone", "poc"],
     "gatekeeper: error: model 'fraud' has no alias 'prod'; it has no aliases"),
    (["--model", "fraud", "--version", "1", "--milestone", "prod"],
     "gatekeeper: error: {playbook}: no milestone 'prod' (defined: poc, serve, pilot)"),
    (["--model", "fraud", "--version", "1", "--alias", "x", "--milestone", "poc"],
     "gatekeeper: error: give exactly one of --version or --alias"),
    (["--model", "fraud", "--version", "1", "--milestone", "poc", "-o", "xml"],
     "gatekeeper: error: -o/--output: unknown format 'xml' (available: github, html, json, "
     "junit, markdown, sarif, text)"),
])
def test_invalid_input_exits_2_with_one_line(tracking_uri: str, audit: Path, args: list[str],
                                             message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    seed_version(tracking_uri, "fraud", metrics=GOOD, log_model=False)
    code = run(["check", str(PLAYBOOK), "--tracking-uri", tracking_uri, "--audit-log",
                str(audit), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[0] == message.format(playbook=PLAYBOOK)
    assert "Traceback" not in err
    assert not audit.exists()


def test_unreachable_tracking_server_exits_3_naming_the_uri(
        audit: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = "http://127.0.0.1:9"
    assert gate(uri, audit, "--version", "1", "--milestone", "poc") == 3
    err = capsys.readouterr().err
    assert err.startswith(f"gatekeeper: error: cannot reach MLflow tracking server at {uri}")
    assert not audit.exists()


def test_unwritable_audit_log_exits_3_and_does_not_promote(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed(tracking_uri)
    (tmp_path / "blocker").write_text("")
    audit = tmp_path / "blocker" / "audit.jsonl"
    assert gate(tracking_uri, audit, "--version", version, "--milestone", "poc",
                "--promote") == 3
    assert "audit" in capsys.readouterr().err
    assert mlflow_client(tracking_uri).get_registered_model("fraud").aliases == {}


def test_check_against_a_real_mlflow_server(mlflow_server: str, audit: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    version = seed(mlflow_server)
    capsys.readouterr()
    assert gate(mlflow_server, audit, "--version", version, "--milestone", "poc",
                "--promote", "-o", "json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decision"] == "pass"
    assert result["promotion"]["alias"] == "poc-ok"
    client = mlflow_client(mlflow_server)
    assert str(client.get_model_version_by_alias("fraud", "poc-ok").version) == version


def test_environment_variables_stand_in_for_options(
        tracking_uri: str, audit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = seed(tracking_uri)
    monkeypatch.setenv("GATEKEEPER_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("GATEKEEPER_AUDIT_LOG", str(audit))
    monkeypatch.setenv("GATEKEEPER_MODEL", "fraud")
    assert run(["check", str(PLAYBOOK), "--version", version, "--milestone", "poc"]) == 0
    assert audit.exists()


def test_validate_reports_every_problem_and_exits_2(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ASSETS / "playbooks" / "invalid")
    assert run(["validate", "duplicate-ids.yaml", "bad-category.yaml"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "bad-category.yaml:10:43: milestones[0].checks[0].category: unknown value 'qualty'; "
        "did you mean 'quality'? (known: latency, cost, quality, privacy, security, governance)",
        "duplicate-ids.yaml:11:5: milestones[1].id: duplicate milestone id 'poc' (first at line 5)",
        "duplicate-ids.yaml:17:10: milestones[1].checks[1].id: duplicate check id 'p99' "
        "(first at line 16)",
        "gatekeeper: 3 problem(s) in 2 file(s)",
        "hint: fix the problems above; `gatekeeper schema` prints the playbook format",
    ]


def test_validate_missing_path_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "no/such/dir"]) == 2
    assert capsys.readouterr().err == "gatekeeper: error: no/such/dir: no such file or directory\n"


def test_light_commands_never_import_mlflow() -> None:
    code = ("import sys; from gatekeeper.cli import run; "
            "codes = [run(['validate', 'playbooks', 'policies']), run(['schema'])]; "
            "assert codes == [0, 0], codes; "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('mlflow', 'sklearn', 'pandas', 'git')); print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"


def test_console_script_smoke(tmp_path: Path) -> None:
    """The installed `gatekeeper` entry point, as a user runs it."""
    exe = Path(sys.executable).parent / "gatekeeper"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    help_out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, env=env)
    assert help_out.returncode == 0 and "Exit codes: 0 passed, 1 blocked" in help_out.stdout
    bad = subprocess.run([str(exe), "check", "missing.yaml", "--model", "m", "--version", "1",
                          "--milestone", "poc"], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == "missing.yaml:1:1: cannot read file: No such file or directory\n" \
        "gatekeeper: 1 problem(s) in 1 file(s)\n" \
        "hint: fix the problems above; `gatekeeper schema` prints the playbook format\n"
