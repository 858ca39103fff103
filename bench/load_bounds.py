"""How fast each bad playbook or policy input is refused: ``gatekeeper validate FILE`` run
in-process (the interpreter's start-up left out), median of several runs, one row per case of
tests/faults/test_load_faults.py, plus the valid playbook for scale.

Goal: every bad input answered with exit 2 in well under a second. Run by hand
(``.venv/bin/python bench/load_bounds.py``); figures go in notes, never into timed tests.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from gatekeeper.cli import run  # noqa: E402
from tests.faults.test_load_faults import CASES, POLICY_CASES, VALID, BadInput  # noqa: E402


def timed(args: list[str]) -> tuple[int, float, str]:
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = run(args)
    return code, time.perf_counter() - start, err.getvalue()


def measure(folder: Path, path: str, args: list[str]) -> tuple[int, float, str]:
    code, _, err = timed(args)  # warm: imports, regex compilation
    times = []
    for _ in range(RUNS):
        code, seconds, err = timed(args)
        times.append(seconds)
    first = err.splitlines()[0] if err else ""
    return code, statistics.median(times), first.replace(str(folder) + "/", "")


def main() -> None:
    rows: list[tuple[str, int, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        cases: list[tuple[str, str, BadInput | None]] = [("valid playbook", "pb.yaml", None)]
        cases += [(name, "pb.yaml", case) for name, case in CASES.items()]
        cases += [(f"policy: {name}", "policies/org.yaml", case)
                  for name, case in POLICY_CASES.items()]
        for name, path, case in cases:
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(case.content() if case else VALID.encode())
            code, seconds, first = measure(folder, path, ["validate", path])
            rows.append((name, code, seconds, first))
            target.unlink()
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  exit  median ms  first line of stderr")
    for name, code, seconds, first in rows:
        print(f"{name:<{width}}  {code:>4}  {seconds * 1000:>9.1f}  {first[:90]}")


if __name__ == "__main__":
    main()
