"""`gatekeeper demo`, the embedded default, run as a user runs it (a subprocess, in an empty
folder: nothing from the checkout is needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gatekeeper.demo.playbook import packaged_playbook
from gatekeeper.evidence.mlflow_env import mlflow_client

REPO = Path(__file__).parents[2]
VERDICTS = [["v3", "poc", "PASS"], ["v3", "serve", "BLOCK"], ["v4", "poc", "BLOCK"],
            ["v5", "poc", "BLOCK"], ["v2", "poc", "PASS"], ["v2", "serve", "PASS"],
            ["v2", "pilot", "PASS"]]


def demo_env() -> dict[str, str]:
    """The caller's environment without anything that would point the demo elsewhere."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MLFLOW_TRACKING", "GATEKEEPER_"))}


def rerun_hint(stdout: str) -> str:
    """The command the demo prints to re-run the blocked v3 serve gate."""
    lines = stdout.splitlines()
    return lines[lines.index("re-run one (exit 1: v3 is blocked at serve):") + 1].strip()


def assert_demo_output(stdout: str, folder: Path) -> None:
    """What every demo run prints and writes, installed from a wheel or from the checkout."""
    lines = stdout.splitlines()
    verdicts = [line.split()[:3] for line in lines if line.startswith("v")]
    assert verdicts == VERDICTS
    assert ("playbook: .gatekeeper/demo-classifier.yaml (written from the packaged demo "
            "playbook: edit it and re-run)") in lines
    assert (folder / ".gatekeeper" / "demo-classifier.yaml").read_text() == packaged_playbook()
    assert any(line.startswith("v3 serve  BLOCK  latency-predict: ") and
               line.endswith("[5 playbook checks: 4 pass, 1 fail; prerequisite: pass]")
               for line in lines)
    assert any(line.startswith("v4 poc    BLOCK  accuracy-vs-champion: ") and
               line.endswith("[4 playbook checks: 3 pass, 1 fail]") for line in lines)
    assert any(line.startswith("v5 poc    BLOCK  governance-evidence: missing on "
                               "demo-classifier v5: tag 'data_classification', artifact "
                               "'model_card.md', description") for line in lines)
    assert ("v2 pilot  PASS   4 playbook checks: 4 pass; prerequisite: pass  "
            "(alias champion -> v2)") in lines
    assert "measured: accuracy, f1 of a real scikit-learn model on a held-out split." in lines
    assert any(line.startswith("seeded, not measured: latency.batch.p95_ms, ") for line in lines)
    blocked = json.loads((folder / ".gatekeeper" / "results" / "v3-serve.json").read_text())
    assert (blocked["decision"], blocked["exit_code"]) == ("block", 1)
    assert [c["id"] for c in blocked["checks"] if c["status"] == "fail"] == ["latency-predict"]


def assert_rerun_hint_runs(stdout: str, folder: Path, exe: Path) -> None:
    """The printed hint, pasted into a shell in the same folder, re-gates v3 serve: blocked."""
    hint = rerun_hint(stdout)
    program = "gatekeeper" if hint.startswith("gatekeeper ") else str(exe)  # on PATH: its name
    assert hint == (f"{program} check .gatekeeper/demo-classifier.yaml --model demo-classifier "
                    "--version 3 --milestone serve --tracking-uri sqlite:///.gatekeeper/mlflow.db "
                    "--audit-log .gatekeeper/audit.jsonl")
    proc = subprocess.run(["/bin/sh", "-c", hint], cwd=folder, env=demo_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "BLOCKED by latency-predict" in proc.stdout


def test_demo_gates_each_version_to_its_expected_verdict(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "gatekeeper"
    proc = subprocess.run([str(exe), "demo"], cwd=tmp_path, env=demo_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert_demo_output(proc.stdout, tmp_path)
    work = tmp_path / ".gatekeeper"
    client = mlflow_client(f"sqlite:///{work / 'mlflow.db'}")
    aliases = client.get_registered_model("demo-classifier").aliases
    assert aliases == {"champion": 2, "poc-validated": 2, "serve-ready": 2}
    verify = subprocess.run([str(exe), "audit", "verify", "--audit-log",
                             str(work / "audit.jsonl")], capture_output=True, text=True)
    assert verify.returncode == 0
    lines = verify.stdout.splitlines()
    assert lines[0].endswith(": 11 records, chain intact")  # 7 decisions, 4 moves
    assert lines[1] == "signatures: none to check (no record is signed)"
    assert_rerun_hint_runs(proc.stdout, tmp_path, exe)


def test_checkout_playbook_is_the_packaged_one() -> None:
    # One canonical copy: playbooks/ links to the package's, so `gatekeeper validate` holds
    # the demo playbook to the policies and an installed wheel gates with the same file.
    assert (REPO / "playbooks" / "demo-classifier.yaml").read_text() == packaged_playbook()
