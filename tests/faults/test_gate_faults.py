"""Fault injection on the gate itself: a broken chain, outputs that point at the wrong thing,
a full disk between the decision and the promotion record, a held lock, racing promotions.
Each case: never exit 0 where it must block, the alias unchanged after a non-zero exit, no
traceback, a time bound."""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_check import GOOD, PLAYBOOK, seed
from tests.faults.harness import Run, aliases, assert_fails_closed, gatekeeper
from tests.support.registry import seed_version

pytestmark = pytest.mark.slow


def check(uri: str, tmp_path: Path, *args: str, version: str = "1", **kw: Any) -> Run:
    return gatekeeper("check", str(PLAYBOOK), "--model", "fraud", "--version", version,
                      "--milestone", "poc", "--tracking-uri", uri, "--audit-log",
                      str(tmp_path / "audit.jsonl"), "--promote", *args, cwd=tmp_path, **kw)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("damage", ["edit", "garbage"])
def test_a_poc_gate_on_a_tampered_log_exits_3_and_promotes_nothing(
        tracking_uri: str, tmp_path: Path, damage: str) -> None:
    seed(tracking_uri)
    seed(tracking_uri)
    assert check(tracking_uri, tmp_path, "--milestone", "poc").code == 0
    log = tmp_path / "audit.jsonl"
    text = log.read_text()
    log.write_text(text.replace('"pass"', '"block"', 1) if damage == "edit"
                   else text + "not a record\n")
    before = aliases(tracking_uri, "fraud")
    run = check(tracking_uri, tmp_path, version="2")
    assert_fails_closed(run, codes={3}, message="failed verification")
    assert aliases(tracking_uri, "fraud") == before


@pytest.mark.parametrize("target", ["folder", "symlink", "device"])
def test_an_output_that_is_not_a_regular_file_is_refused_before_evaluating(
        tracking_uri: str, tmp_path: Path, target: str) -> None:
    seed(tracking_uri)
    path = tmp_path / "out"
    if target == "folder":
        path.mkdir()
    elif target == "symlink":
        (tmp_path / "real.json").write_text("keep me\n")
        path.symlink_to(tmp_path / "real.json")
    else:
        path = Path(os.devnull)
    run = check(tracking_uri, tmp_path, "-o", f"json={path}")
    assert_fails_closed(run, codes={2}, message=f"-o/--output {path}: is a ")
    assert aliases(tracking_uri, "fraud") == {}
    assert not (tmp_path / "audit.jsonl").exists()
    if target == "symlink":
        assert path.is_symlink() and (tmp_path / "real.json").read_text() == "keep me\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_two_formats_to_stdout_are_refused(tracking_uri: str, tmp_path: Path) -> None:
    seed(tracking_uri)
    run = check(tracking_uri, tmp_path, "-o", "text", "-o", "json")
    assert_fails_closed(run, codes={2}, message="text and json would both go to stdout")
    assert aliases(tracking_uri, "fraud") == {}


def test_an_empty_audit_log_path_is_exit_2(tracking_uri: str, tmp_path: Path) -> None:
    seed(tracking_uri)
    run = gatekeeper("check", str(PLAYBOOK), "--model", "fraud", "--version", "1",
                     "--milestone", "poc", "--tracking-uri", tracking_uri, "--audit-log", "",
                     "--promote", cwd=tmp_path)
    assert_fails_closed(run, codes={2},
                        message="Invalid value for '--audit-log': the path is empty")
    assert aliases(tracking_uri, "fraud") == {}


def test_a_full_disk_after_the_decision_moves_the_alias_back(
        mlflow_server: str, tmp_path: Path) -> None:
    # The registry is a real `mlflow server` in its own process, so the file-size limit below
    # bounds only what gatekeeper itself writes: the audit log.
    model = "fraud-full-disk"
    playbook = tmp_path / "pb.yaml"
    playbook.write_text(PLAYBOOK.read_text().replace("model: fraud", f"model: {model}"))
    for _ in range(2):
        seed_version(mlflow_server, model, metrics=GOOD, run_tags={"data_classification": "x"},
                     artifacts={"model_card.md": "# card\n"})
    log = tmp_path / "audit.jsonl"
    argv = [sys.executable, "-m", "gatekeeper", "check", str(playbook), "--model", model,
            "--milestone", "poc", "--tracking-uri", mlflow_server, "--audit-log", str(log),
            "--promote"]
    first = subprocess.run([*argv, "--version", "1"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr  # v1 holds poc-ok
    decision = len(log.read_text().splitlines()[0].encode()) + 64
    # A real EFBIG from the kernel: the log may grow by one decision record, not two records.
    limit = log.stat().st_size + decision

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([*argv, "--version", "2"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, preexec_fn=small_disk)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "alias 'poc-ok' was moved back (version 1): nothing was promoted" in proc.stderr
    # (over REST MLflow gives alias versions as strings)
    assert {k: str(v) for k, v in aliases(mlflow_server, model).items()} == {"poc-ok": "1"}
    assert [r["action"] for r in lines(log)] == ["decision", "promotion", "decision"]


def test_a_held_lock_is_exit_3_in_bounded_time(tracking_uri: str, tmp_path: Path) -> None:
    seed(tracking_uri)
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b"")
    with open(log, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        run = check(tracking_uri, tmp_path)
    assert_fails_closed(run, codes={3}, within_s=90, message="gave up waiting 30s for its lock")
    assert aliases(tracking_uri, "fraud") == {}


@pytest.mark.timeout(900)
def test_concurrent_promotions_record_the_true_previous_version(
        tracking_uri: str, tmp_path: Path) -> None:
    versions = [seed(tracking_uri) for _ in range(8)]
    # Eight processes on one SQLite registry of a loaded 2-core machine can take longer than
    # the registry deadline (30 s); this test is about the alias race, not that deadline.
    slow_registry = {"GATEKEEPER_MLFLOW_DEADLINE_S": "600"}
    with ThreadPoolExecutor(len(versions)) as pool:
        runs = list(pool.map(lambda v: check(tracking_uri, tmp_path, version=v,
                                             env=slow_registry, timeout_s=900), versions))
    assert [r.code for r in runs] == [0] * len(versions), [r.err for r in runs]
    moves = [r["promotion"] for r in lines(tmp_path / "audit.jsonl")
             if r["action"] == "promotion"]
    # Each move starts where the one before it left the alias: no two saw the same "before".
    assert [m["previous_version"] for m in moves] == [None] + [m["version"] for m in moves[:-1]]
    assert aliases(tracking_uri, "fraud") == {"poc-ok": int(moves[-1]["version"])}
    assert GOOD  # the seeded versions all pass poc


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--max-age", "99999999999d", "--max-age: '99999999999d' is longer than ten years"),
    ("--max-age", "-1h", "--max-age: '-1h' is not a duration"),
    ("--now", "yesterday", "--now: 'yesterday' is not an ISO 8601 date/time"),
])
def test_promote_flags_out_of_range_are_exit_2(tracking_uri: str, tmp_path: Path, flag: str,
                                               value: str, message: str) -> None:
    seed(tracking_uri)
    assert check(tracking_uri, tmp_path).code == 0
    run = gatekeeper("promote", str(PLAYBOOK), "--model", "fraud", "--version", "1",
                     "--milestone", "serve", "--tracking-uri", tracking_uri, "--audit-log",
                     str(tmp_path / "audit.jsonl"), flag, value, cwd=tmp_path)
    assert_fails_closed(run, codes={2}, message=message)
    assert aliases(tracking_uri, "fraud") == {"poc-ok": 1}
