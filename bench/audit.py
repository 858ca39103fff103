"""The audit trail's speed, side by side in one run (issue 9), printing the ratios.

1. `audit verify` of 100,000 real decision records against the standard library's floor:
   `json.loads` + sha256 of every line of the same file (goal: ratio <= 1).
2. `audit verify` of 1,000,000 records (goal: within 60 s).
3. A gate's audit work (open the log, find the earlier milestones' decisions, append its own)
   against a 100,000-record log and against an empty log (goal: ratio within 1.05).
4. Appends with fsync: one writer, and eight processes at once (records a second).

The records are `decision_entry(sample_result())` (tests/support/results.py, ~4 KB each), sealed
exactly as `AuditLog` stores them (canonical JSON, hash appended), varying version and
milestone; the log is generated from one canonical template per record shape (writing 10^6
records through `append`, each fsynced, would take hours) and then checked to verify intact
and to accept a real append. Run by hand (`python bench/audit.py`); figures go in
docs/audit.md#speed, never into timed tests. BENCH_SMALL=1 runs a tenth of the sizes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gatekeeper.record.scan as scan_module  # noqa: E402
from gatekeeper.record import AuditLog, Identity, decision_entry  # noqa: E402
from gatekeeper.record.chain import GENESIS_HASH, HASH_PREFIX, canonical_json  # noqa: E402
from tests.support.results import sample_result  # noqa: E402

SCALE = 10 if os.environ.get("BENCH_SMALL") else 1
N = 100_000 // SCALE
BIG = 1_000_000 // SCALE

MILESTONES = ("poc", "serve", "pilot")
IDENTITY = Identity("alice", "GITHUB_ACTOR", {"GITHUB_REPOSITORY": "acme/models",
                                              "GITHUB_RUN_ID": "8812"})


def entry() -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(decision_entry(sample_result(), IDENTITY)))
    return plain


def templates(log_id: str) -> list[bytes]:
    """One canonical body per (version mod 50, milestone), with markers for seq and prev."""
    base = entry()
    out = []
    for version in range(50):
        for milestone in MILESTONES:
            body = {**base, "schema": "gatekeeper.audit/v1", "seq": 999_999_999_999,
                    "recorded_at": "2024-05-01T12:00:00.000Z", "log_id": log_id,
                    "prev_hash": HASH_PREFIX + "f" * 64, "milestone": milestone,
                    "model": {**base["model"], "version": str(version)}}
            out.append(canonical_json(body))
    return out


def generate(path: Path, count: int) -> None:
    """``count`` records, sealed as AuditLog seals them (see the module docstring)."""
    shapes = templates(uuid.uuid4().hex)
    prev = GENESIS_HASH
    with open(path, "wb") as file:
        for seq in range(1, count + 1):
            body = shapes[seq % len(shapes)].replace(
                b'"seq":999999999999', b'"seq":%d' % seq, 1).replace(
                (HASH_PREFIX + "f" * 64).encode(), prev.encode(), 1)
            digest = HASH_PREFIX + hashlib.sha256(body).hexdigest()
            file.write(body[:-1] + b',"hash":"' + digest.encode() + b'"}\n')
            prev = digest


def baseline(path: Path, clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    with open(path, "rb") as file:
        for line in file:
            json.loads(line)
            hashlib.sha256(line).hexdigest()
    return clock() - start


def cpu_ratio(path: Path) -> float:
    """Ours over the baseline in CPU seconds of one process (verify forced serial): fair on a
    machine other jobs share, where wall-clock times swing."""
    saved = scan_module.PARALLEL_FROM
    scan_module.PARALLEL_FROM = 1 << 62
    try:
        ours = min(verify(path, time.process_time) for _ in range(3))
        base = min(baseline(path, time.process_time) for _ in range(3))
    finally:
        scan_module.PARALLEL_FROM = saved
    return ours / base


def verify(path: Path, clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    report = AuditLog(path, env={}).inspect()
    elapsed = clock() - start
    if not report.ok:
        sys.exit(f"bench: the generated log does not verify: {report.findings[:3]}")
    return elapsed


def gate(path: Path) -> float:
    """One gate's audit work: open (head check + catch-up), look up, append a decision."""
    log = AuditLog(path, env={})
    start = time.perf_counter()
    with log.session() as session:
        session.latest_decisions("demo", "7", "run-7", ["poc", "serve"])
        session.append({"action": "decision", "model": {"name": "demo", "version": "7",
                                                        "run_id": "run-7"},
                        "milestone": "pilot", "decision": "pass"})
    return time.perf_counter() - start


def gate_ratio(full: Path, empty: Path, runs: int = 41) -> tuple[float, float]:
    gate(full)  # the first gate after generation builds the index (once per log)
    gate(empty)
    times: dict[Path, list[float]] = {full: [], empty: []}
    for _ in range(runs):  # interleaved, so the machine's drifting load hits both alike
        for path in (full, empty):
            times[path].append(gate(path))
    return statistics.median(times[full]), statistics.median(times[empty])


def appender(path: str, count: int, start: multiprocessing.synchronize.Event) -> None:
    log = AuditLog(path, env={})
    start.wait()
    for n in range(count):
        log.append({"action": "decision", "n": n})


def throughput(path: Path, writers: int, per_writer: int) -> float:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    procs = [context.Process(target=appender, args=(str(path), per_writer, start))
             for _ in range(writers)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every interpreter start
    began = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - began
    if not AuditLog(path, env={}).verify().ok:
        sys.exit("bench: concurrent appends broke the chain")
    return writers * per_writer / elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = folder / "audit.jsonl"
        generate(log, N)
        AuditLog(log, env={}).append(entry())  # the real code accepts and extends it
        size = log.stat().st_size
        baseline(log)  # warm the page cache
        base = min(baseline(log) for _ in range(3))
        ours = min(verify(log) for _ in range(3))
        print(f"verify {N:,} records ({size / N / 1024:.1f} KiB each): {ours:.2f} s; "
              f"json.loads + sha256 of every line: {base:.2f} s; ratio {ours / base:.2f} "
              f"(wall clock, {os.cpu_count()} cores); CPU time, one process: ratio "
              f"{cpu_ratio(log):.2f}")

        empty = folder / "empty.jsonl"
        full_gate, empty_gate = gate_ratio(log, empty)
        print(f"gate's audit work on {N:,} records: {full_gate * 1000:.2f} ms; on an empty "
              f"log: {empty_gate * 1000:.2f} ms; ratio {full_gate / empty_gate:.2f}")

        one = throughput(folder / "one.jsonl", 1, 400 // SCALE)
        eight = throughput(folder / "eight.jsonl", 8, 100 // SCALE)
        print(f"appends with fsync: one writer {one:,.0f}/s; eight processes {eight:,.0f}/s "
              "in total")

        log.unlink()
        big = folder / "big.jsonl"
        generate(big, BIG)
        big_time = verify(big)
        print(f"verify {BIG:,} records: {big_time:.1f} s "
              f"({big.stat().st_size / 2**30:.2f} GiB)")


if __name__ == "__main__":
    main()
