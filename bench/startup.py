"""Start-up cost of gatekeeper's commands, as whole processes (median of several runs).

Goals (issue 2): `check` at most 1.15 times the MLflow client import; `validate` at most
0.3 times that import.
Run by hand (`make bench`); figures go in the closing note, never into timed tests.
It also times a bare MLflow read of the same version and run, the floor for any gate that
reads a SQLite registry through MLflow's client, so gatekeeper's own share is visible.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.server import running_mlflow_server  # noqa: E402

BIN = Path(sys.executable).parent
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def timed(argv: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok_codes:
        sys.exit(f"bench: {' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}")
    return elapsed


def median(argv: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0,)) -> float:
    timed(argv, cwd, ok_codes)  # warm the page cache once
    return statistics.median(timed(argv, cwd, ok_codes) for _ in range(RUNS))


def main() -> None:
    gatekeeper = str(BIN / "gatekeeper")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "demo"
        print(f"seeding the demo registry in {work} ...", flush=True)
        subprocess.run([gatekeeper, "demo", "--workdir", str(work)], cwd=ROOT, env=ENV,
                       check=True, capture_output=True)
        uri = f"sqlite:///{work / 'mlflow.db'}"
        check = [gatekeeper, "check", "playbooks/demo-classifier.yaml", "--model",
                 "demo-classifier", "--version", "3", "--milestone", "poc", "--tracking-uri",
                 uri, "--audit-log", str(Path(tmp) / "bench-audit.jsonl"), "-o", "json"]
        bare_read = ("from mlflow import MlflowClient; "
                     f"c = MlflowClient({uri!r}); v = c.get_model_version('demo-classifier', '3');"
                     " c.get_run(v.run_id)")
        rows = {
            "import mlflow client": median([sys.executable, "-c", "from mlflow import "
                                            "MlflowClient"], ROOT),
            # The floor any MLflow-based gate pays on a SQLite registry: client construction
            # imports MLflow's SQLAlchemy tracking store, which is not part of the import above.
            "bare mlflow read": median([sys.executable, "-c", bare_read], ROOT),
            "gatekeeper --help": median([gatekeeper, "--help"], ROOT),
            "gatekeeper validate": median([gatekeeper, "validate", "playbooks/"], ROOT),
            "gatekeeper schema": median([gatekeeper, "schema"], ROOT),
            "gatekeeper check": median(check, ROOT, ok_codes=(0, 1)),
        }
        # The same check against a tracking server over the same registry (REST client: no
        # SQLAlchemy store in the gate's process), as most teams run MLflow.
        with running_mlflow_server(work) as url:
            remote = [*check[:check.index("--tracking-uri") + 1], url,
                      *check[check.index("--tracking-uri") + 2:]]
            rows["gatekeeper check (server)"] = median(remote, ROOT, ok_codes=(0, 1))
    base = rows["import mlflow client"]
    print(f"\nmedian of {RUNS} runs, whole processes")
    for name, seconds in rows.items():
        print(f"  {name:<22} {seconds:6.3f} s   {seconds / base:5.2f} x import")
    print(f"\ncheck/import    = {rows['gatekeeper check'] / base:.2f} (goal <= 1.15)")
    print(f"check on server / import = {rows['gatekeeper check (server)'] / base:.2f}")
    own = rows["gatekeeper check"] - rows["bare mlflow read"]
    print(f"gatekeeper's own share of check = {own:.3f} s = {own / base:.2f} x import "
          "(check minus the bare MLflow read of the same version and run)")
    print(f"validate/import = {rows['gatekeeper validate'] / base:.2f} (goal <= 0.30)")


if __name__ == "__main__":
    main()
