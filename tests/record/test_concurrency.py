"""Many processes appending at once still leave one valid chain."""

from __future__ import annotations

import json
import multiprocessing
import os
from multiprocessing.synchronize import Event
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.record import AuditLog, Verification
from gatekeeper.record.signing import Signer, TrustedKeys

WORKERS = 8
APPENDS = 250
# Fixed: every spawned worker re-imports this module and must sign with the same key.
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()


def append_many(path: str, worker: int, start: Event) -> None:
    """Runs in a child process: wait for the others, then append ``APPENDS`` signed records."""
    log = AuditLog(path, env={"GATEKEEPER_SIGNING_KEY": PEM})
    start.wait()
    for n in range(APPENDS):
        log.append({"action": "decision", "worker": worker, "n": n})


def test_concurrent_appends_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    # spawn: each worker is a fresh interpreter, like separate `gatekeeper` invocations.
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=append_many, args=(str(path), w, start)) for w in range(WORKERS)
    ]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=120)

    assert [p.exitcode for p in workers] == [0] * WORKERS
    assert AuditLog(path, env={}).verify() == Verification(ok=True, count=WORKERS * APPENDS)
    # Zero findings on a log written by the real code at once: signatures, the checkpoint
    # beside the log (written by whichever writer appended last) and the chain.
    signer = Signer(KEY)
    report = AuditLog(path, env={}).inspect(TrustedKeys({signer.key_id: signer.public_key}))
    assert (report.findings, report.signed) == ((), WORKERS * APPENDS)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["seq"] for r in records] == list(range(1, WORKERS * APPENDS + 1))
    for worker in range(WORKERS):
        # Each worker's own appends land in the order it made them.
        assert [r["n"] for r in records if r["worker"] == worker] == list(range(APPENDS))


def test_every_path_to_one_file_shares_its_lock(tmp_path: Path) -> None:
    # A symlink and a hard link are other names of the same file: appends through all three
    # names at once must still leave one chain (a lock keyed by the name would fork it).
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    (tmp_path / "link.jsonl").symlink_to(path)
    (tmp_path / "other").mkdir()
    os.link(path, tmp_path / "other" / "hard.jsonl")
    names = [path, tmp_path / "link.jsonl", tmp_path / "other" / "hard.jsonl"]
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=append_many, args=(str(names[w % 3]), w, start))
               for w in range(6)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=120)

    assert [p.exitcode for p in workers] == [0] * 6
    assert AuditLog(path, env={}).verify() == Verification(ok=True, count=6 * APPENDS)
