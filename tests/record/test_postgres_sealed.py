"""Sealed values in the PostgreSQL store on a real server: kept in ``gatekeeper_audit_sealed``
in the same transaction as their decision record, checked by `audit verify-evidence`, and
dropped by `audit redact` while the chain and its checkpoints still verify."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.record import AuditWriteError
from gatekeeper.record.postgres import PostgresSealed, PostgresStore
from gatekeeper.record.sealed import append_sealed, seal, sealed_problems, side_store
from tests.cli.test_audit_evidence import CARD, PLAYBOOK
from tests.support.audit_fixtures import fixed_clock
from tests.support.registry import seed_version

MakeEntry = Callable[..., dict[str, Any]]
REF = "mlflow:models/churn/3/version_tags/approval.ref"


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def sealed_entry(make_entry: MakeEntry, value: str) -> tuple[dict[str, Any], dict[str, Any]]:
    digest, part = seal(value)
    return make_entry(evidence_digests={REF: {"sealed": digest}}), {REF: part}


def test_a_decisions_values_are_rows_beside_it(postgres_url: str,
                                                make_entry: MakeEntry) -> None:
    store = PostgresStore(postgres_url, env={}, clock=fixed_clock)
    entry, sealed = sealed_entry(make_entry, "CAB-1234")
    with store.session() as session:
        ref = append_sealed(session, entry, sealed, store.location)

    salt = sealed[REF]["salt"]
    assert query(postgres_url, "SELECT seq, ref, salt, value FROM gatekeeper_audit_sealed") == [
        (ref.seq, REF, salt, "CAB-1234")]
    side = side_store(store)
    assert isinstance(side, PostgresSealed)
    kept = side.of(ref.seq, ref.hash)
    assert kept == {REF: {"value": "CAB-1234", "salt": salt}}
    record = next(store.records()).record
    assert "CAB-1234" not in json.dumps(record)  # the record holds the digest only
    assert sealed_problems(record, kept) == []
    assert side.of(ref.seq, "sha256:" + "0" * 64) == {}  # bound to the record's hash

    # An edit of the table is caught against the record's digest.
    query(postgres_url, "UPDATE gatekeeper_audit_sealed SET value = 'CAB-9999'")
    digest = entry["evidence_digests"][REF]["sealed"]
    assert sealed_problems(record, side.of(ref.seq, ref.hash)) == [
        f"record 1: sealed value of {REF} does not match its digest {digest}"]


def test_the_record_and_its_values_are_written_together_or_not_at_all(
        postgres_url: str, make_entry: MakeEntry) -> None:
    store = PostgresStore(postgres_url, env={}, clock=fixed_clock)
    store.append(make_entry())
    # PostgreSQL refuses a NUL in text: the values fail after the record's INSERT ran.
    entry, sealed = sealed_entry(make_entry, "CAB\x00-1")
    with store.session() as session, pytest.raises(AuditWriteError) as caught:
        append_sealed(session, entry, sealed, store.location)

    assert str(caught.value).startswith(f"audit store {store.location}: cannot write: ")
    assert query(postgres_url, "SELECT seq FROM gatekeeper_audit") == [(1,)]
    assert query(postgres_url, "SELECT count(*) FROM gatekeeper_audit_sealed") == [(0,)]
    [(checkpoint,)] = query(postgres_url, "SELECT value FROM gatekeeper_audit_meta "
                                          "WHERE name = 'checkpoint'")
    assert json.loads(checkpoint)["size"] == 1
    with store.session() as session:  # the session is usable again, the chain intact
        assert append_sealed(session, *sealed_entry(make_entry, "CAB-2"),
                             store.location).seq == 2
    assert store.verify().ok


def test_verify_evidence_and_redact_through_the_cli(
        tracking_uri: str, postgres_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ledger.yaml").write_text(PLAYBOOK)
    (tmp_path / "org.yaml").write_text("id: org\naudit: {retention_days: 365}\n")
    version = seed_version(
        tracking_uri, "ledger", metrics={"auc": 0.9}, artifacts={"model_card.md": CARD},
        version_tags={"approval.ref": "CAB-1234", "deploy.token": "t0k3n-for-deploys"},
        run_tags={"owner.contact": "ops", "data.classification": "internal"})
    common = ["--tracking-uri", tracking_uri, "--audit-store", postgres_url]
    assert run(["check", str(tmp_path / "ledger.yaml"), "--model", "ledger", "--version",
                version, "--milestone", "poc", "--policies", str(tmp_path / "org.yaml"),
                "-o", "text", *common]) == 0
    approval = "mlflow:models/ledger/1/version_tags/approval.ref"
    card = "mlflow:models/ledger/1/artifacts/model_card.md"
    values = dict(query(postgres_url, "SELECT ref, value FROM gatekeeper_audit_sealed"))
    assert values[approval] == "CAB-1234"
    assert values["mlflow:runs/" + query(postgres_url, "SELECT run_id FROM gatekeeper_audit"
                                         )[0][0] + "/tags/data.classification"] == "internal"

    # The card replaced in MLflow: caught; the approval value is checked from the table.
    run_id = query(postgres_url, "SELECT run_id FROM gatekeeper_audit")[0][0]
    mlflow_client(tracking_uri).log_text(run_id, "# rewritten\n", "model_card.md")
    capsys.readouterr()
    assert run(["audit", "verify-evidence", "--seq", "1", *common]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"changed    {card}  (content differs)" in lines
    assert f"unchanged  {approval}" in lines

    # An edited value in the table is tampering, not a change in MLflow.
    query(postgres_url, f"UPDATE gatekeeper_audit_sealed SET value = 'CAB-9' "
                        f"WHERE ref = '{approval}'")
    assert run(["audit", "verify-evidence", "--seq", "1", *common]) == 1
    assert any(line.startswith(f"tampered   record 1: sealed value of {approval}")
               for line in capsys.readouterr().out.splitlines())
    query(postgres_url, f"UPDATE gatekeeper_audit_sealed SET value = 'CAB-1234' "
                        f"WHERE ref = '{approval}'")

    # Redacted: the value leaves the table, the digest stays, the chain still verifies.
    assert run(["audit", "redact", "--seq", "1", "--field", approval, "--reason",
                "erasure request ER-7", *common]) == 0
    assert capsys.readouterr().out.startswith(
        f"record 1: value of {approval} redacted, digest kept; redaction recorded as record 2 ")
    assert approval not in dict(query(postgres_url,
                                      "SELECT ref, value FROM gatekeeper_audit_sealed"))
    raw = dict(query(postgres_url, "SELECT seq, raw FROM gatekeeper_audit"))
    assert json.loads(raw[1])["evidence_digests"][approval]["sealed"].startswith("sha256:")
    assert json.loads(raw[2])["action"] == "redaction"
    assert run(["audit", "verify", "--audit-store", postgres_url, "--anchor", "mlflow:ledger",
                "--tracking-uri", tracking_uri]) == 0
    capsys.readouterr()
    assert run(["audit", "verify-evidence", "--seq", "1", *common]) == 1
    assert f"unchecked  {approval}  (the value was redacted)" in \
        capsys.readouterr().out.splitlines()
    assert run(["audit", "redact", "--seq", "1", "--field", approval, "--reason", "again",
                "--audit-store", postgres_url]) == 2
