"""What a decision record holds of the evidence (record/records.py, record/sealed.py): observed
values and thresholds, digests, sealed tag values beside the chain, keyed hashes of sensitive
values, the store's URI, retention, and redaction that leaves the chain verifying."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.common.sensitive import why_sensitive
from gatekeeper.decide.result import CheckResult, Result
from gatekeeper.errors import InvalidInputError, ValidationError
from gatekeeper.evaluate.interface import Status
from gatekeeper.load.policy import load_policies, retention_days
from gatekeeper.record import AuditLog, Identity
from gatekeeper.record.records import sealed_decision_entry
from gatekeeper.record.sealed import SideStore, append_sealed, redact, sealed_problems

MakeResult = Callable[..., Result]
MakeCheck = Callable[..., CheckResult]
CARD = "mlflow:models/churn/3/artifacts/model_card.md"
APPROVAL = "mlflow:models/churn/3/version_tags/approval.ref"
TOKEN = "mlflow:models/churn/3/version_tags/deploy.token"
READ: dict[str, dict[str, Any]] = {
    CARD: {"sha256": "sha256:" + "c0" * 32, "bytes": 41},
    APPROVAL: {"value": "CAB-1234"},
    TOKEN: {"hmac": "hmac-sha256:" + "7e" * 32, "key": "random per process",
            "why": "its name suggests a credential"},
    "mlflow:models/churn/3/model_files": {"error": "not copied: 900 bytes, over the 10 bytes "
                                                   "left of the digest cap", "bytes": 900},
}
AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def result(make_result: MakeResult, make_check: MakeCheck) -> Result:
    checks = (make_check("auc", Status.PASS, observed=0.91, threshold={"min": 0.8}),
              make_check("evidence", Status.PASS, observed={"found": ["tag 'approval.ref'"]},
                         threshold={"tags": ["approval.ref"]}, evidence={"tag": APPROVAL}))
    return replace(make_result(*checks), evidence_digests=READ)


def logged(tmp_path: Path, result: Result, identity: Identity, **kw: int) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl", env={})
    entry, sealed = sealed_decision_entry(result, identity, now=AT, **kw)
    with log.session() as session:
        append_sealed(session, entry, sealed, log.location)
    return log


def test_the_record_holds_observed_values_thresholds_digests_and_sealed_values(
        tmp_path: Path, result: Result, identity: Identity) -> None:
    record = next(iter(logged(tmp_path, result, identity).records())).record
    assert record["criteria"]["auc"]["threshold"] == {"min": 0.8}
    assert record["evidence"]["auc"]["observed"] == 0.91
    held = record["evidence_digests"]
    assert held[CARD] == READ[CARD] and held[TOKEN] == READ[TOKEN]
    assert held["mlflow:models/churn/3/model_files"]["error"].startswith("not copied")
    assert set(held[APPROVAL]) == {"sealed"}  # the digest only: the value is beside the chain
    kept = SideStore.for_store(AuditLog(tmp_path / "audit.jsonl").location)
    assert kept is not None and kept.path == tmp_path / "audit.jsonl.sealed"
    values = kept.of(1, record["hash"])
    assert values[APPROVAL]["value"] == "CAB-1234" and sealed_problems(record, values) == []
    assert "CAB-1234" not in (tmp_path / "audit.jsonl").read_text()


def test_an_edited_sealed_value_is_caught(tmp_path: Path, result: Result,
                                          identity: Identity) -> None:
    record = next(iter(logged(tmp_path, result, identity).records())).record
    side = tmp_path / "audit.jsonl.sealed"
    side.write_text(side.read_text().replace("CAB-1234", "CAB-9999"))
    values = SideStore(side).of(1, record["hash"])
    assert sealed_problems(record, values) == [
        f"record 1: sealed value of {APPROVAL} does not match its digest "
        f"{record['evidence_digests'][APPROVAL]['sealed']}"]


def test_references_carry_the_stores_absolute_uri(tmp_path: Path, result: Result,
                                                  identity: Identity,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = AuditLog(Path("relative.jsonl"), env={})
    ref = log.append(sealed_decision_entry(result, identity)[0])
    assert ref.log == (tmp_path / "relative.jsonl").as_uri() == log.location
    assert ref.log.startswith("file:///")


def test_retention_defaults_to_six_months_and_follows_the_policy(
        tmp_path: Path, result: Result, identity: Identity) -> None:
    assert sealed_decision_entry(result, identity, now=AT)[0]["retain_until"] == (
        "2024-11-02T00:00:00Z")
    policy = tmp_path / "org.yaml"
    policy.write_text("id: org\naudit:\n  retention_days: 400\n")
    days = retention_days(load_policies(policy))
    assert days == 400
    entry = sealed_decision_entry(result, identity, now=AT, retention_days=days)[0]
    assert entry["retain_until"] == "2025-06-07T00:00:00Z"
    policy.write_text("id: org\naudit:\n  retention_days: 30\n")
    with pytest.raises(ValidationError, match="greater than or equal to 183"):
        load_policies(policy)


def test_redaction_keeps_the_digest_and_the_chain(tmp_path: Path, result: Result,
                                                  identity: Identity) -> None:
    log = logged(tmp_path, result, identity)
    before = next(iter(log.records())).raw
    with pytest.raises(InvalidInputError, match="kept until 2024-11-02T00:00:00Z: redacting a "
                                                "value before then needs --reason"):
        redact(log, 1, APPROVAL, None, identity, datetime(2024, 6, 1, tzinfo=UTC))
    with pytest.raises(InvalidInputError, match="has no sealed value"):
        redact(log, 1, CARD, "erasure request", identity, AT)

    done = redact(log, 1, APPROVAL, "erasure request ER-7", identity, AT)
    assert done.seq == 2
    stored = [s.record for s in log.records()]
    assert next(iter(log.records())).raw == before  # the record itself is untouched
    assert stored[1]["action"] == "redaction" and stored[1]["reason"] == "erasure request ER-7"
    assert stored[1]["redacted"] == {"seq": 1, "hash": stored[0]["hash"], "ref": APPROVAL,
                                     "digest": stored[0]["evidence_digests"][APPROVAL]["sealed"]}
    assert log.verify().ok
    assert "CAB-1234" not in (tmp_path / "audit.jsonl.sealed").read_text()
    with pytest.raises(InvalidInputError, match="is not kept \\(already redacted\\?\\)"):
        redact(log, 1, APPROVAL, "again", identity, AT)
    # After retain_until no reason is needed.
    log2 = logged(tmp_path / "b", result, identity)
    assert redact(log2, 1, APPROVAL, None, identity, datetime(2024, 11, 2, tzinfo=UTC)).seq == 2


@pytest.mark.parametrize(("name", "value", "why"), [
    ("data.classification", "internal", None),
    ("privacy.dpia_ref", "DPIA-2024-017", None),
    ("approval.ref", "CAB-1234", None),
    ("deploy.token", "x", "its name suggests a credential"),
    ("source", "https://bob:hunter2@git.example.com/x", "it holds a URL credential"),
    ("owner", "jane.doe@example.com", "it holds an e-mail address (personal data)"),
    ("note", "ghp_Zq3xT9vLm2Kp8Rw4Yb6Nc1Hd5Fg7Js0QaEu", "it looks like a token or key"),
    ("note", "approved by Jane Doe", "it is not a short plain word (free text may hold "
                                     "personal data)"),
])
def test_which_values_look_sensitive(name: str, value: str, why: str | None) -> None:
    assert why_sensitive(name, value) == why


def test_a_result_round_trips_its_evidence_digests(result: Result) -> None:
    data = json.loads(json.dumps(result.to_dict()))
    assert data["evidence_digests"][APPROVAL] == {"value": "CAB-1234"}
    assert Result.from_dict(data).evidence_digests == READ
