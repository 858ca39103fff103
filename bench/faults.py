"""The fault-injection suite's figures: every case in tests/faults/ with its exit code and the
time the real ``gatekeeper`` process took to answer.

Runs ``pytest tests/faults`` with ``GATEKEEPER_FAULTS_REPORT`` set (see tests/faults/harness.py),
then prints one row per run of the CLI. Run by hand (``python bench/faults.py``); the figures go
in the closing note, the tests themselves only assert generous bounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "faults.jsonl"
        env = {**os.environ, "GATEKEEPER_FAULTS_REPORT": str(report)}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/faults", *sys.argv[1:]], cwd=ROOT, env=env)
        rows = [json.loads(line) for line in report.read_text().splitlines()] \
            if report.exists() else []
    width = max((len(r["case"]) for r in rows), default=4)
    print(f"\n{'case':<{width}}  exit  seconds")
    for row in rows:
        print(f"{row['case']:<{width}}  {row['code']:>4}  {row['seconds']:>7.2f}")
    print(f"{len(rows)} runs of the CLI; pytest exit {proc.returncode}")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
