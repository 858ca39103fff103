"""The PostgreSQL audit store against a real server: the JSONL store's contract, tampering
caught in SQL, and failures reported as one line without the password."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gatekeeper.decide.result import AuditRef
from gatekeeper.errors import ExitCode
from gatekeeper.record import (
    GENESIS_HASH,
    AuditLog,
    AuditReadError,
    AuditWriteError,
    chain,
    open_store,
)
from gatekeeper.record.postgres import PostgresStore
from gatekeeper.record.signing import Signer
from tests.support.audit_fixtures import fixed_clock

MakeEntry = Callable[..., dict[str, Any]]


def make_store(url: str, **env: str) -> PostgresStore:
    return PostgresStore(url, env=env, clock=fixed_clock)


def sql(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT seq, raw FROM gatekeeper_audit ORDER BY seq").fetchall()


def test_open_store_picks_the_store_by_its_url(postgres_url: str, tmp_path: Path) -> None:
    assert isinstance(open_store(postgres_url), PostgresStore)
    assert isinstance(open_store(f"file:{tmp_path}/a.jsonl"), AuditLog)
    assert isinstance(open_store(tmp_path / "a.jsonl"), AuditLog)


def test_location_names_the_store_without_credentials() -> None:
    store = PostgresStore("postgresql://gate:s3cret@db.internal:5433/audit", env={})
    assert store.location == "postgresql://db.internal:5433/audit"


def test_appends_build_the_jsonl_chain(postgres_url: str, make_entry: MakeEntry) -> None:
    store = make_store(postgres_url)
    refs = [store.append(make_entry(n=n)) for n in range(3)]

    # Stored in the chain's line layout (canonical body, then hash), hashed as the JSONL log
    # hashes a record: any tool that checks one checks the other.
    stored = [raw for _, raw in rows(postgres_url)]
    records = [json.loads(raw) for raw in stored]
    assert [chain.encode_line(chain.body_of(r), None)[0].decode() for r in records] == stored
    assert all(r["hash"] == chain.record_hash(r) for r in records)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["schema"] == "gatekeeper.audit/v1"
    assert records[0]["recorded_at"] == "2024-05-01T12:00:00.000Z"
    assert records[0]["prev_hash"] == GENESIS_HASH
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert refs[-1] == AuditRef(log=store.location, seq=3, hash=records[-1]["hash"])
    assert store.verify().ok and store.verify().count == 3


def test_records_lists_what_is_stored(postgres_url: str, make_entry: MakeEntry) -> None:
    store = make_store(postgres_url)
    store.append(make_entry(decision="block"))
    store.append(make_entry())

    listed = list(store.records())
    assert [(s.line, s.record["decision"]) for s in listed] == [(1, "block"), (2, "pass")]
    assert [s.raw for s in listed] == [raw for _, raw in rows(postgres_url)]


def test_a_store_never_written(postgres_url: str) -> None:
    store = make_store(postgres_url)
    assert store.latest_decisions("churn", "3", "run-3", ["staging"]) == {"staging": None}
    assert store.model_records("churn") == []
    with pytest.raises(AuditReadError, match="holds no audit records"):
        store.verify()


def test_latest_decisions_per_milestone(postgres_url: str, make_entry: MakeEntry) -> None:
    store = make_store(postgres_url)
    store.append(make_entry(decision="pass"))
    store.append(make_entry(decision="block"))  # a newer block overrides the pass
    store.append(make_entry(milestone="poc"))
    store.append(make_entry(milestone="poc", model={"name": "churn", "version": "3",
                                                    "run_id": "other-run"}))
    store.append(make_entry(milestone="poc", model={"name": "churn", "version": 4,
                                                    "run_id": "run-4"}))
    store.append(make_entry(action="promotion", milestone="poc"))

    found = store.latest_decisions("churn", "3", "run-3", ["staging", "poc", "pilot"])
    assert {m: r and (r["seq"], r["decision"]) for m, r in found.items()} == {
        "staging": (2, "block"), "poc": (3, "pass"), "pilot": None}
    # A version stored as a number is found by its text, as the JSONL store does.
    assert store.latest_decisions("churn", "4", "run-4", ["poc"])["poc"]["seq"] == 5  # type: ignore[index]


def test_model_records_are_the_models_only(postgres_url: str, make_entry: MakeEntry) -> None:
    store = make_store(postgres_url)
    store.append(make_entry())
    store.append(make_entry(model={"name": "fraud", "version": "1", "run_id": "r"}))
    store.append(make_entry(action="promotion"))

    assert [r["seq"] for r in store.model_records("churn")] == [1, 3]
    assert store.model_records("nothing") == []


def test_a_session_reads_its_own_appends(postgres_url: str, make_entry: MakeEntry) -> None:
    store = make_store(postgres_url)
    with store.session() as session:
        first = session.append(make_entry(decision="block"))
        assert session.latest_decisions("churn", "3", "run-3", ["staging"])[
            "staging"]["seq"] == first.seq  # type: ignore[index]
        second = session.append(make_entry())
    assert (first.seq, second.seq) == (1, 2)
    assert store.verify().count == 2


def test_a_session_holds_off_other_writers(postgres_url: str, make_entry: MakeEntry) -> None:
    store = make_store(postgres_url)
    store.append(make_entry())
    other = PostgresStore(postgres_url, env={}, lock_timeout=0.5)
    with store.session(), pytest.raises(AuditWriteError) as caught:
        other.append(make_entry())
    assert str(caught.value) == (f"audit store {store.location}: gave up waiting 0.5s for its "
                                 "lock")
    assert other.append(make_entry()).seq == 2  # free again once the session ended


def test_entries_cannot_set_integrity_fields(postgres_url: str, make_entry: MakeEntry) -> None:
    with pytest.raises(ValueError, match="integrity fields: hash, seq"):
        make_store(postgres_url).append(make_entry(seq=9, hash="x"))


def test_signed_records_verify_with_the_public_key(postgres_url: str,
                                                   make_entry: MakeEntry) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = Signer(Ed25519PrivateKey.generate())
    import base64

    from cryptography.hazmat.primitives import serialization
    raw_key = signer.private_key.private_bytes(serialization.Encoding.Raw,
                                               serialization.PrivateFormat.Raw,
                                               serialization.NoEncryption())
    make_store(postgres_url, GATEKEEPER_SIGNING_KEY=base64.b64encode(raw_key).decode()
               ).append(make_entry())
    record = json.loads(rows(postgres_url)[0][1])
    assert record["key_id"] == signer.key_id and record["signature"].startswith("ed25519:")

    checked = make_store(postgres_url, GATEKEEPER_PUBLIC_KEY=signer.public_key_text).verify()
    assert checked.ok and checked.key_id == signer.key_id
    stranger = Signer(Ed25519PrivateKey.generate())
    refused = make_store(postgres_url, GATEKEEPER_PUBLIC_KEY=stranger.public_key_text).verify()
    assert not refused.ok and refused.reason == (
        f"record 1: signature untrusted: key_id {signer.key_id!r}")


@pytest.mark.parametrize(("statement", "reason"), [
    ("UPDATE gatekeeper_audit SET raw = replace(raw, '\"block\"', '\"pass\"') WHERE seq = 2",
     "record 2: hash mismatch: content changed after it was written"),
    ("DELETE FROM gatekeeper_audit WHERE seq = 2",
     "record 2: seq gap: expected 2, found 3 (records removed)"),
    ("UPDATE gatekeeper_audit SET milestone = 'other' WHERE seq = 2",
     "record 2: column milestone disagrees with the record (edited in the table, which would "
     "hide or misplace it in queries)"),
    # Read as strictly as a JSONL line: a duplicated key could show one value and hash another.
    ("UPDATE gatekeeper_audit SET raw = replace(raw, '{', '{\"decision\": \"pass\", ') "
     "WHERE seq = 2", "record 2: malformed JSON: duplicate key 'decision'"),
    ("UPDATE gatekeeper_audit SET raw = '{\"seq\": NaN}' WHERE seq = 2",
     "record 2: malformed JSON: NaN is not a JSON value"),
])
def test_tampering_in_sql_is_caught(postgres_url: str, make_entry: MakeEntry, statement: str,
                                    reason: str) -> None:
    store = make_store(postgres_url)
    for decision in ("pass", "block", "pass"):
        store.append(make_entry(decision=decision))
    sql(postgres_url, statement)

    verification = store.verify()
    assert (verification.ok, verification.count, verification.reason) == (False, 1, reason)


@pytest.mark.parametrize("statement", [
    "UPDATE gatekeeper_audit SET raw = replace(raw, '\"block\"', '\"pass\"') WHERE seq = 2",
    "UPDATE gatekeeper_audit SET version = '4' WHERE seq = 2",
])
def test_a_gate_refuses_an_edited_record_it_relies_on(
        postgres_url: str, make_entry: MakeEntry, statement: str) -> None:
    store = make_store(postgres_url)
    store.append(make_entry(decision="pass"))
    store.append(make_entry(decision="block"))
    sql(postgres_url, statement)

    with pytest.raises(AuditReadError) as caught:
        store.latest_decisions("churn", "4" if "version" in statement else "3", "run-3",
                               ["staging"])
    assert str(caught.value).startswith(
        f"audit store {store.location}: failed verification: record 2: ")
    assert caught.value.exit_code is ExitCode.NO_VERDICT


def test_a_gate_refuses_to_append_after_a_removed_record(
        postgres_url: str, make_entry: MakeEntry) -> None:
    store = make_store(postgres_url)
    for _ in range(3):
        store.append(make_entry())
    sql(postgres_url, "DELETE FROM gatekeeper_audit WHERE seq = 2")

    with pytest.raises(AuditReadError) as caught:
        store.append(make_entry())
    assert str(caught.value) == (
        f"audit store {store.location}: failed verification: seq gap: 1 of records 1..3 "
        "missing (records removed); nothing was appended")
    assert [seq for seq, _ in rows(postgres_url)] == [1, 3]


def test_a_rewritten_record_with_its_hash_recomputed_is_caught(
        postgres_url: str, make_entry: MakeEntry) -> None:
    store = make_store(postgres_url)
    for decision in ("block", "pass"):
        store.append(make_entry(decision=decision))
    # Rewrite record 1 as a pass with a correct hash of its own: it no longer links to 2.
    forged = PostgresStore(postgres_url, env={}, clock=fixed_clock)
    record, raw = forged._seal(make_entry(decision="pass"), 1, GENESIS_HASH)
    sql(postgres_url, f"UPDATE gatekeeper_audit SET raw = '{raw}', hash = '{record['hash']}' "
                      "WHERE seq = 1")

    assert store.verify().reason == (
        "record 2: prev_hash mismatch: does not match the hash of the record before (a record "
        "before it was removed, inserted or rewritten)")
    with pytest.raises(AuditReadError, match="prev_hash mismatch at record 2"):
        store.latest_decisions("churn", "3", "run-3", ["staging"])


def test_an_unreachable_database_is_one_line_without_the_password(
        make_entry: MakeEntry) -> None:
    from tests.support.postgres import free_port

    port = free_port()  # nothing listens there
    store = PostgresStore(f"postgresql://gate:pa55word@127.0.0.1:{port}/audit", env={})
    with pytest.raises(AuditWriteError) as written:
        store.append(make_entry())
    with pytest.raises(AuditReadError) as read:
        store.latest_decisions("churn", "3", "run-3", ["poc"])

    for caught in (written, read):
        message = str(caught.value)
        assert message.startswith(f"audit store postgresql://127.0.0.1:{port}/audit: cannot ")
        assert "\n" not in message and "pa55word" not in message
        assert caught.value.exit_code is ExitCode.NO_VERDICT


def test_turning_signing_on_says_from_which_record(postgres_url: str,
                                                   make_entry: MakeEntry) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    make_store(postgres_url).append(make_entry())
    make_store(postgres_url).append(make_entry())
    raw_key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())
    signing = make_store(postgres_url,
                         GATEKEEPER_SIGNING_KEY=base64.b64encode(raw_key).decode())
    assert signing.append(make_entry()).seq == 3
    assert signing.notices == [f"audit store {signing.location}: signing starts at record 3; "
                               "records 1-2 stay unsigned"]
    signing.append(make_entry())  # signed from then on: said once
    assert len(signing.notices) == 1
