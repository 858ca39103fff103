"""`gatekeeper demo`, the embedded default, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gatekeeper.evidence.mlflow_env import mlflow_client

REPO = Path(__file__).parents[2]


def test_demo_gates_each_version_to_its_expected_verdict(tmp_path: Path) -> None:
    work = tmp_path / "work"
    exe = Path(sys.executable).parent / "gatekeeper"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    proc = subprocess.run([str(exe), "demo", "--workdir", str(work)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    verdicts = [line.split()[:3] for line in proc.stdout.splitlines() if line.startswith("v")]
    assert verdicts == [["v3", "poc", "PASS"], ["v3", "serve", "BLOCK"],
                        ["v4", "poc", "BLOCK"], ["v5", "poc", "BLOCK"],
                        ["v2", "poc", "PASS"], ["v2", "serve", "PASS"], ["v2", "pilot", "PASS"]]
    lines = proc.stdout.splitlines()
    assert any(line.startswith("v3 serve  BLOCK  latency-predict: ") for line in lines)
    assert any(line.startswith("v4 poc    BLOCK  accuracy-vs-champion: ") for line in lines)
    assert any(line.startswith("v5 poc    BLOCK  governance-evidence: missing on "
                               "demo-classifier v5: tag 'data_classification', artifact "
                               "'model_card.md', description") for line in lines)
    blocked = json.loads((work / "results" / "v3-serve.json").read_text())
    assert (blocked["decision"], blocked["exit_code"]) == ("block", 1)
    assert [c["id"] for c in blocked["checks"] if c["status"] == "fail"] == ["latency-predict"]
    client = mlflow_client(f"sqlite:///{work / 'mlflow.db'}")
    aliases = client.get_registered_model("demo-classifier").aliases
    assert aliases == {"champion": 2, "poc-validated": 2, "serve-ready": 2}
    verify = subprocess.run([str(exe), "audit", "verify", "--audit-log",
                             str(work / "audit.jsonl")], capture_output=True, text=True)
    assert verify.returncode == 0
    assert verify.stdout.strip().endswith(": 11 records, chain intact")  # 7 decisions, 4 moves
