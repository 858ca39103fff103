"""Checkpoints of the PostgreSQL store on a real server: its origin, a signed checkpoint after
every append (in the checkpoint row and on a real git anchor), and `gatekeeper audit verify`
catching a truncated tail, a suffix rewritten with its hashes recomputed and a store rolled
back to an older backup, with the JSONL log's finding codes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from git import Repo

from gatekeeper.cli import run
from gatekeeper.record import AuditLog, AuditReadError, chain
from gatekeeper.record.checkpoint import Checkpoint, GitAnchor
from gatekeeper.record.postgres import PostgresStore
from gatekeeper.record.signing import SignatureCheck, Signer, TrustedKeys
from tests.support.audit_fixtures import fixed_clock

MakeEntry = Callable[..., dict[str, Any]]


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def checkpoint_row(url: str) -> Checkpoint:
    [(text,)] = query(url, "SELECT value FROM gatekeeper_audit_meta WHERE name = 'checkpoint'")
    return Checkpoint.from_json(text)


def signing_env(signer: Signer) -> dict[str, str]:
    raw = signer.private_key.private_bytes(serialization.Encoding.Raw,
                                           serialization.PrivateFormat.Raw,
                                           serialization.NoEncryption())
    return {"GATEKEEPER_SIGNING_KEY": base64.b64encode(raw).decode()}


@pytest.fixture
def anchor_repo(tmp_path: Path) -> Path:
    Repo.init(tmp_path / "anchor")
    return tmp_path / "anchor"


def anchored_store(url: str, repo: Path, env: dict[str, str] | None = None) -> PostgresStore:
    return PostgresStore(url, env=env or {}, clock=fixed_clock, anchors=[GitAnchor(repo)])


def verify(url: str, repo: Path, capsys: pytest.CaptureFixture[str],
           *extra: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = run(["audit", "verify", "--audit-store", url, "--anchor", f"git:{repo}", *extra])
    return code, capsys.readouterr().out.splitlines()


def codes(lines: list[str]) -> set[str]:
    """The finding codes in verify's output (``  record N: CODE: ...``)."""
    return {line.split(": ")[1] for line in lines if line.startswith("  record ")}


def test_every_record_carries_the_stores_origin_and_each_append_a_signed_checkpoint(
        postgres_url: str, anchor_repo: Path, make_entry: MakeEntry) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    store = anchored_store(postgres_url, anchor_repo, signing_env(signer))
    refs = [store.append(make_entry(n=n)) for n in range(2)]
    with store.session() as session:
        refs.append(session.append(make_entry(n=2)))

    [(origin,)] = query(postgres_url,
                        "SELECT value FROM gatekeeper_audit_meta WHERE name = 'log_id'")
    records = [r.record for r in store.records()]
    assert {r["log_id"] for r in records} == {origin}
    assert all(r["hash"] == chain.record_hash(r) for r in records)
    checkpoint = checkpoint_row(postgres_url)
    assert (checkpoint.origin, checkpoint.size, checkpoint.head) == (origin, 3, refs[-1].hash)
    trusted = TrustedKeys({signer.key_id: signer.public_key})
    assert checkpoint.key_id == signer.key_id
    assert checkpoint.check(trusted) is SignatureCheck.VALID
    # The git anchor got the same checkpoint after each append, and keeps every one.
    reading = GitAnchor(anchor_repo).read()
    assert reading.latest == checkpoint
    history = [Checkpoint.from_json(str(c.message)) for c in
               Repo(anchor_repo).iter_commits("refs/gatekeeper/audit")]
    assert [(c.size, c.head) for c in history] == [(r.seq, r.hash) for r in reversed(refs)]


def test_an_untouched_store_verifies_with_its_checkpoints(
        postgres_url: str, anchor_repo: Path, make_entry: MakeEntry,
        capsys: pytest.CaptureFixture[str]) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    store = anchored_store(postgres_url, anchor_repo, signing_env(signer))
    for n in range(3):
        store.append(make_entry(n=n))
    key = base64.b64encode(signer.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()

    code, lines = verify(postgres_url, anchor_repo, capsys, "--public-key", key)
    assert code == 0, lines
    assert lines[0] == f"audit log {store.location}: 3 records, chain intact"
    assert f"anchor git:{anchor_repo}: compared" in lines
    assert not [line for line in lines if "not checked" in line]


def test_a_truncated_tail_is_caught(postgres_url: str, anchor_repo: Path,
                                    make_entry: MakeEntry,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    store = anchored_store(postgres_url, anchor_repo)
    for n in range(5):
        store.append(make_entry(n=n))
    # Every link of what is left is intact: only the checkpoints know there were five.
    query(postgres_url, "DELETE FROM gatekeeper_audit WHERE seq > 3")

    code, lines = verify(postgres_url, anchor_repo, capsys)
    assert code == 1
    assert lines[0] == f"audit log {store.location}: 3 records, 2 findings"
    assert codes(lines) == {"truncated"}
    assert (f"  record 4: truncated: git:{anchor_repo} vouches for 5 records; the log ends at "
            "record 3 (cut or rolled back)") in lines
    assert ("  record 4: truncated: checkpoint row vouches for 5 records; the log ends at "
            "record 3 (cut or rolled back)") in lines


def test_a_gate_signing_the_store_refuses_to_extend_a_truncated_tail(
        postgres_url: str, make_entry: MakeEntry) -> None:
    env = signing_env(Signer(Ed25519PrivateKey.generate()))
    store = PostgresStore(postgres_url, env=env, clock=fixed_clock)
    for n in range(3):
        store.append(make_entry(n=n))
    query(postgres_url, "DELETE FROM gatekeeper_audit WHERE seq = 3")

    with pytest.raises(AuditReadError) as caught:
        store.append(make_entry())
    assert str(caught.value) == (
        f"audit store {store.location}: failed verification: the signed checkpoint vouches "
        "for 3 records, the store holds 2 (records removed from the end); nothing was appended")
    assert query(postgres_url, "SELECT max(seq) FROM gatekeeper_audit") == [(2,)]


def test_a_suffix_rewritten_with_recomputed_hashes_is_caught(
        postgres_url: str, anchor_repo: Path, make_entry: MakeEntry,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = anchored_store(postgres_url, anchor_repo)
    for decision in ("pass", "block", "block", "block"):
        store.append(make_entry(decision=decision))
    # Records 2-4 rewritten as passes, each hash recomputed and linked to the one before, and
    # the checkpoint row forged to match: the chain is whole, only the anchor disagrees.
    forger = PostgresStore(postgres_url, env={}, clock=fixed_clock)
    origin = checkpoint_row(postgres_url).origin
    [(prev,)] = query(postgres_url, "SELECT hash FROM gatekeeper_audit WHERE seq = 1")
    for seq in (2, 3, 4):
        record, raw = forger._seal(make_entry(decision="pass"), seq, prev, origin)
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute("UPDATE gatekeeper_audit SET raw = %s, hash = %s, prev_hash = %s"
                               " WHERE seq = %s", (raw, record["hash"], prev, seq))
        prev = record["hash"]
    forged = Checkpoint(origin, 4, prev).to_json()
    query(postgres_url, f"UPDATE gatekeeper_audit_meta SET value = '{forged}' "
                        "WHERE name = 'checkpoint'")
    assert store.verify().ok  # the rows alone show nothing

    code, lines = verify(postgres_url, anchor_repo, capsys)
    assert code == 1
    assert codes(lines) == {"rewritten"}
    assert [line for line in lines if line.startswith("  ")] == [
        f"  record 4: rewritten: git:{anchor_repo}: record 4 should have hash "
        f"{GitAnchor(anchor_repo).read().latest.head[:19]}…; the log's has another"]  # type: ignore[union-attr]


def test_a_store_rolled_back_to_an_older_backup_is_caught(
        postgres_url: str, anchor_repo: Path, make_entry: MakeEntry,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = anchored_store(postgres_url, anchor_repo)
    for n in range(2):
        store.append(make_entry(n=n))
    query(postgres_url, "CREATE TABLE backup AS SELECT * FROM gatekeeper_audit; "
                        "CREATE TABLE backup_meta AS SELECT * FROM gatekeeper_audit_meta")
    for n in range(2, 4):
        store.append(make_entry(n=n))
    # Restored from the backup: rows and checkpoint row agree with each other again.
    query(postgres_url, "DELETE FROM gatekeeper_audit; DELETE FROM gatekeeper_audit_meta; "
                        "INSERT INTO gatekeeper_audit SELECT * FROM backup; "
                        "INSERT INTO gatekeeper_audit_meta SELECT * FROM backup_meta")
    capsys.readouterr()
    assert run(["audit", "verify", "--audit-store", postgres_url]) == 0  # no anchor: unseen

    code, lines = verify(postgres_url, anchor_repo, capsys)
    assert code == 1
    assert codes(lines) == {"truncated"}
    assert [line for line in lines if line.startswith("  ")] == [
        f"  record 3: truncated: git:{anchor_repo} vouches for 4 records; the log ends at "
        "record 2 (cut or rolled back)"]


def test_an_edited_row_and_its_column_are_findings_too(
        postgres_url: str, anchor_repo: Path, make_entry: MakeEntry,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = anchored_store(postgres_url, anchor_repo)
    for decision in ("block", "block", "pass"):
        store.append(make_entry(decision=decision))
    query(postgres_url, "UPDATE gatekeeper_audit SET raw = replace(raw, '\"block\"', "
                        "'\"pass\"') WHERE seq = 1")
    query(postgres_url, "UPDATE gatekeeper_audit SET milestone = 'prod' WHERE seq = 2")

    code, lines = verify(postgres_url, anchor_repo, capsys)
    assert code == 1
    found = [line for line in lines if line.startswith("  ")]
    assert found == [
        "  record 1 (line 1): edited: hash mismatch: content changed after it was written",
        "  record 2 (line 2): edited: column milestone disagrees with the record (edited in "
        "the table)"]


def test_a_corrupted_checkpoint_signature_and_a_spliced_record_are_caught(
        postgres_url: str, anchor_repo: Path, make_entry: MakeEntry, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    env = signing_env(signer)
    store = anchored_store(postgres_url, anchor_repo, env)
    for n in range(3):
        store.append(make_entry(n=n))
    # Record 2 replaced by record 2 of another log signed with the same key (its own hash and
    # signature valid): only its log_id tells.
    other = AuditLog(tmp_path / "other.jsonl", env=env, clock=fixed_clock)
    for n in range(2):
        other.append(make_entry(n=n))
    foreign = (tmp_path / "other.jsonl").read_text().splitlines()[1]
    record = json.loads(foreign)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("UPDATE gatekeeper_audit SET raw = %s, hash = %s, prev_hash = %s "
                           "WHERE seq = 2", (foreign, record["hash"], record["prev_hash"]))
    # The checkpoint row's size bumped without re-signing it.
    [(text,)] = query(postgres_url, "SELECT value FROM gatekeeper_audit_meta "
                                    "WHERE name = 'checkpoint'")
    query(postgres_url, "UPDATE gatekeeper_audit_meta SET value = '"
          + text.replace('"size":3', '"size":2') + "' WHERE name = 'checkpoint'")
    key = base64.b64encode(signer.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()

    code, lines = verify(postgres_url, anchor_repo, capsys, "--public-key", key)
    assert code == 1
    # (The forged size also names record 2 by record 3's hash: rewritten, as it claims.)
    assert codes(lines) == {"spliced", "checkpoint-signature", "rewritten"}
    assert [line for line in lines if ": spliced: " in line] == [
        f"  record 2 (line 2): spliced: log_id {record['log_id']!r} is not this log's "
        f"({next(store.records()).record['log_id']!r})"]
    assert ("  record 2: checkpoint-signature: checkpoint row: the checkpoint's signature "
            "does not verify") in lines
