"""`gatekeeper audit verify` and `audit repair` through the real CLI (click's runner and, for
a write killed mid-append, real subprocesses)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import git
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.cli import cli
from gatekeeper.record import AuditLog
from gatekeeper.record.signing import Signer

E = "gatekeeper: error: "
MakeEntry = Callable[..., dict[str, Any]]
SIGNER = Signer(Ed25519PrivateKey.generate())
TORN = b'{"action":"decision","ac'


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["audit", *args], env={"GATEKEEPER_AUDIT_KEY": "",
                                                          "GATEKEEPER_SIGNING_KEY": "",
                                                          "GATEKEEPER_PUBLIC_KEY": "",
                                                          **(env or {})},
                              catch_exceptions=False)


def signed_log(log_path: Path, make_entry: MakeEntry, count: int = 3) -> None:
    log = AuditLog(log_path, env={"GATEKEEPER_SIGNING_KEY": _private_b64()})
    for n in range(count):
        log.append(make_entry(n=n))


def _private_b64() -> str:
    import base64

    from cryptography.hazmat.primitives import serialization

    raw = SIGNER.private_key.private_bytes(serialization.Encoding.Raw,
                                           serialization.PrivateFormat.Raw,
                                           serialization.NoEncryption())
    return base64.b64encode(raw).decode()


def test_signing_key_from_the_environment_and_public_key_as_base64(
        log_path: Path, make_entry: MakeEntry) -> None:
    signed_log(log_path, make_entry)
    assert json.loads(log_path.read_text().splitlines()[0])["key_id"] == SIGNER.key_id
    result = run("verify", "--audit-log", str(log_path), "--public-key", SIGNER.public_key_text)
    assert (result.exit_code, result.stdout.splitlines()) == (0, [
        f"audit log {log_path}: 3 records, chain intact",
        f"signatures: valid (3 records, key {SIGNER.key_id})",
    ])


def test_without_a_key_verify_says_signatures_were_not_checked(
        log_path: Path, make_entry: MakeEntry) -> None:
    signed_log(log_path, make_entry)
    result = run("verify", "--audit-log", str(log_path))
    assert (result.exit_code, result.stdout.splitlines()) == (0, [
        f"audit log {log_path}: 3 records, chain intact",
        f"signatures: NOT CHECKED: no --public-key given (3 of 3 records signed by "
        f"{SIGNER.key_id})",
    ])


def test_untrusted_key_exits_1_with_every_record(log_path: Path, make_entry: MakeEntry) -> None:
    signed_log(log_path, make_entry, count=2)
    other = Signer(Ed25519PrivateKey.generate())
    result = run("verify", "--audit-log", str(log_path), "--public-key", other.public_key_text)
    assert result.exit_code == 1
    assert [line.split(":")[0].strip() for line in result.stdout.splitlines()[1:4]] == [
        "record 1 (line 1)", "record 2 (line 2)", "record 2"]
    assert result.stdout.count(": untrusted-key: ") == 3


def test_bad_public_key_is_invalid_input(log_path: Path, make_entry: MakeEntry) -> None:
    signed_log(log_path, make_entry, count=1)
    result = run("verify", "--audit-log", str(log_path), "--public-key", "bm9wZQ==")
    assert (result.exit_code, result.stderr) == (
        2, E + "--public-key: the base64 holds 4 bytes; an Ed25519 public key has 32\n")


def test_bad_signing_key_is_invalid_input_and_never_quoted(
        log_path: Path, make_entry: MakeEntry) -> None:
    result = run("repair", "--audit-log", str(log_path),
                 env={"GATEKEEPER_SIGNING_KEY": "c2VjcmV0LXRleHQ="})
    assert result.exit_code == 2
    assert "c2VjcmV0" not in result.stderr + result.stdout
    assert result.stderr == (E + "GATEKEEPER_SIGNING_KEY: the base64 holds 11 bytes; an "
                             "Ed25519 private key has 32\n")


def test_verify_against_a_git_anchor(log_path: Path, make_entry: MakeEntry,
                                     tmp_path: Path) -> None:
    from gatekeeper.record.checkpoint import GitAnchor

    git.Repo.init(tmp_path / "anchor")
    log = AuditLog(log_path, env={}, anchors=[GitAnchor(tmp_path / "anchor")])
    for n in range(3):
        log.append(make_entry(n=n))
    anchor = f"git:{tmp_path / 'anchor'}"
    assert run("verify", "--audit-log", str(log_path), "--anchor", anchor).exit_code == 0
    lines = log_path.read_text().splitlines()
    log_path.write_text("\n".join(lines[:2]) + "\n")
    (Path(str(log_path) + ".checkpoint")).unlink()
    result = run("verify", "--audit-log", str(log_path), "--anchor", anchor)
    assert (result.exit_code, result.stdout.splitlines()[:2]) == (1, [
        f"audit log {log_path}: 2 records, 1 finding",
        f"  record 3: truncated: {anchor} vouches for 3 records; the log ends at record 2 "
        "(cut or rolled back)",
    ])


def test_bad_anchor_is_invalid_input(log_path: Path, make_entry: MakeEntry) -> None:
    AuditLog(log_path, env={}).append(make_entry())
    result = run("verify", "--audit-log", str(log_path), "--anchor", "s3:bucket")
    assert (result.exit_code, result.stderr) == (
        2, E + "--anchor s3:bucket: expected git:PATH or mlflow:MODEL[/VERSION]\n")


# -- repair ------------------------------------------------------------------------------------


def test_repair_removes_only_a_torn_tail(log_path: Path, make_entry: MakeEntry) -> None:
    log = AuditLog(log_path, env={})
    log.append(make_entry(n=1))
    log.append(make_entry(n=2))
    intact = log_path.read_bytes()
    with log_path.open("ab") as file:
        file.write(TORN)
    assert run("verify", "--audit-log", str(log_path)).exit_code == 1

    result = run("repair", "--audit-log", str(log_path), env={"GATEKEEPER_ACTOR": "ops"})

    digest = hashlib.sha256(TORN).hexdigest()
    assert (result.exit_code, result.stdout) == (0, (
        f"audit log {log_path}: removed the torn line 3 (24 bytes, sha256:{digest}); "
        "recorded as record 3\n"))
    assert log_path.read_bytes().startswith(intact)
    repair = json.loads(log_path.read_text().splitlines()[2])
    assert (repair["action"], repair["actor"], repair["removed"]["line"]) == ("repair", "ops", 3)
    assert run("verify", "--audit-log", str(log_path)).exit_code == 0
    assert run("repair", "--audit-log", str(log_path)).stdout == (
        f"audit log {log_path}: nothing to repair (no torn last line)\n")


def test_repair_refuses_anything_else(log_path: Path, make_entry: MakeEntry) -> None:
    log = AuditLog(log_path, env={})
    for n in range(3):
        log.append(make_entry(n=n, decision="block"))
    lines = log_path.read_text().splitlines()
    lines[1] = lines[1].replace('"block"', '"pass"')
    log_path.write_text("\n".join(lines) + "\n" + '{"torn')
    before = log_path.read_bytes()

    result = run("repair", "--audit-log", str(log_path))

    assert (result.exit_code, result.stdout.splitlines()) == (1, [
        f"audit log {log_path}: not repaired: repair removes only a torn last line, and the "
        "log has other findings:",
        "  record 2 (line 2): edited: hash mismatch: content changed after it was written",
    ])
    assert log_path.read_bytes() == before


def test_repair_of_a_missing_log(tmp_path: Path) -> None:
    result = run("repair", "--audit-log", str(tmp_path / "none.jsonl"))
    assert (result.exit_code, result.stderr) == (
        2, E + f"audit log {tmp_path / 'none.jsonl'} does not exist\n")


APPENDER = """
import sys
from gatekeeper.record import AuditLog
log = AuditLog(sys.argv[1], env={})
print("ready", flush=True)
n = 0
while True:
    # Big records of one length: a write() takes long enough for SIGKILL to land inside it,
    # and the file's size shows when one is under way.
    log.append({"action": "decision", "n": f"{n:08d}", "blob": "x" * 8_000_000})
    n += 1
"""


def kill_mid_write(path: Path) -> None:
    """Start an appender and SIGKILL it when the file's size shows a line half written (or
    after a few seconds whatever it is doing)."""
    process = subprocess.Popen([sys.executable, "-c", APPENDER, str(path)],
                               stdout=subprocess.PIPE,
                               env={**os.environ, "GATEKEEPER_SIGNING_KEY": ""})
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    start = path.stat().st_size if path.exists() else 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size > start and last_byte(path, size) != b"\n":
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as file:
        return os.pread(file.fileno(), 1, size - 1)


def test_a_write_killed_mid_append_damages_no_earlier_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    torn = False
    for _attempt in range(30):
        if path.exists():
            run("repair", "--audit-log", str(path))
        before = path.read_bytes() if path.exists() else b""
        kill_mid_write(path)
        assert path.read_bytes().startswith(before)  # nothing written earlier changed
        result = run("verify", "--audit-log", str(path))
        findings = [line for line in result.stdout.splitlines() if line.startswith("  ")]
        # Either the kill fell between appends (intact) or inside one: only a torn tail.
        assert all(": torn: " in line for line in findings), result.stdout
        if findings:
            torn = True
            break
    assert torn, "no kill landed inside a write in 30 attempts"
    repaired = run("repair", "--audit-log", str(path))
    assert (repaired.exit_code, "removed the torn line" in repaired.stdout) == (0, True)
    after = run("verify", "--audit-log", str(path))
    assert (after.exit_code, after.stdout.splitlines()[0].endswith("chain intact")) == (0, True)
    # The gate appends again once the tail is repaired.
    AuditLog(path, env={}).append({"action": "decision", "n": -1})
    assert AuditLog(path, env={}).verify().ok
