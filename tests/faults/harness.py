"""The fault-injection suite's harness: run the real ``gatekeeper`` in a subprocess, as a CI
job would, and judge the run by the rules every fault case shares.

    run = gatekeeper("check", str(playbook), ..., cwd=tmp_path)
    assert_fails_closed(run, codes={2}, within_s=30)
    assert aliases(tracking_uri, "fraud") == before

The time bound is generous (a loaded 2-core machine); the measured figures are reported by
``bench/faults.py``, which runs this suite with ``GATEKEEPER_FAULTS_REPORT`` set: every run then
appends its case, exit code and time to that JSONL file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPORT_VARIABLE = "GATEKEEPER_FAULTS_REPORT"
#: Every fault must be answered in bounded time; this bound holds on a loaded machine.
DEFAULT_BOUND_S = 60.0


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    @property
    def output(self) -> str:
        return self.out + self.err


def gatekeeper(*args: str, cwd: Path, env: Mapping[str, str] | None = None,
               stdin: str | None = None, timeout_s: float = 2 * DEFAULT_BOUND_S) -> Run:
    """``python -m gatekeeper ARGS`` in ``cwd``; MLflow's and gatekeeper's own variables are
    cleared so a developer's shell cannot change the outcome."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MLFLOW_TRACKING", "MLFLOW_REGISTRY", "GATEKEEPER_"))}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "gatekeeper", *args], cwd=cwd,
                          env={**clean, **(env or {})}, input=stdin, capture_output=True,
                          text=True, timeout=timeout_s)
    run = Run(tuple(args), proc.returncode, proc.stdout, proc.stderr,
              time.monotonic() - started)
    _report(run)
    return run


def assert_fails_closed(run: Run, *, codes: set[int], within_s: float = DEFAULT_BOUND_S,
                        message: str | None = None) -> None:
    """Never exit 0, one of ``codes``, no traceback, in bounded time, and (when given) the
    one-line message on stderr."""
    assert run.code != 0, f"exit 0 where the gate must block: {run.output}"
    assert run.code in codes, f"exit {run.code}, expected {sorted(codes)}: {run.output}"
    assert "Traceback" not in run.output, run.output
    assert run.seconds < within_s, f"took {run.seconds:.1f} s: {run.args}"
    if message is not None:
        assert message in run.err, run.err


def aliases(tracking_uri: str, model: str) -> dict[str, int]:
    """The model's aliases as MLflow has them now (read straight from the registry)."""
    from gatekeeper.evidence.mlflow_env import mlflow_client

    return dict(mlflow_client(tracking_uri).get_registered_model(model).aliases)


def _report(run: Run) -> None:
    path = os.environ.get(REPORT_VARIABLE)
    if not path:
        return
    case = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps({"case": case, "code": run.code,
                               "seconds": round(run.seconds, 3)}) + "\n")
