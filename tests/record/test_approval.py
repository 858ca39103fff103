"""The approval envelope and its keys (record/approval.py) and the evidence digest an approval
binds to (record/records.py): real Ed25519 keys in every format a user may hold them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from gatekeeper.decide.result import CheckResult
from gatekeeper.evaluate.interface import Category, Status
from gatekeeper.record.approval import (
    BadKeyError,
    open_envelope,
    parse_public_key,
    public_key_text,
    read_private_key,
    seal,
    tag_key,
)
from gatekeeper.record.records import checks_evidence, evidence_digest
from tests.decide.test_approvals import KEYS, approval

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()
Enc, Pub, Priv = serialization.Encoding, serialization.PublicFormat, serialization.PrivateFormat


@pytest.mark.parametrize("text", [
    public_key_text(PUBLIC),
    PUBLIC.public_bytes(Enc.PEM, Pub.SubjectPublicKeyInfo).decode(),
    PUBLIC.public_bytes(Enc.OpenSSH, Pub.OpenSSH).decode() + " alice@laptop",
])
def test_a_public_key_in_every_format(text: str) -> None:
    assert public_key_text(parse_public_key(text)) == public_key_text(PUBLIC)


@pytest.mark.parametrize(("text", "message"), [
    ("bm90IGEga2V5", "the base64 holds 9 bytes; an Ed25519 public key has 32"),
    ("not base64!", "not an Ed25519 public key (PEM, ssh-ed25519 or the base64 of its 32 "
                    "bytes)"),
    (generate_private_key(65537, 2048).public_key().public_bytes(
        Enc.PEM, Pub.SubjectPublicKeyInfo).decode(), "not an Ed25519 key (RSAPublicKey)"),
])
def test_a_bad_public_key_says_why(text: str, message: str) -> None:
    with pytest.raises(BadKeyError) as caught:
        parse_public_key(text)
    assert str(caught.value) == message


def test_private_keys_pem_and_openssh_and_the_refusals(tmp_path: Path) -> None:
    pem = tmp_path / "k.pem"
    pem.write_bytes(KEY.private_bytes(Enc.PEM, Priv.PKCS8, serialization.NoEncryption()))
    ssh = tmp_path / "id_ed25519"
    ssh.write_bytes(KEY.private_bytes(Enc.PEM, Priv.OpenSSH, serialization.NoEncryption()))
    for path in (pem, ssh):
        assert public_key_text(read_private_key(path).public_key()) == public_key_text(PUBLIC)
    locked = tmp_path / "locked.pem"
    locked.write_bytes(KEY.private_bytes(Enc.PEM, Priv.PKCS8,
                                         serialization.BestAvailableEncryption(b"pw")))
    rsa = tmp_path / "rsa.pem"
    rsa.write_bytes(generate_private_key(65537, 2048).private_bytes(
        Enc.PEM, Priv.PKCS8, serialization.NoEncryption()))
    for path, message in ((locked, "the key is encrypted"), (rsa, "not an Ed25519 private key"),
                          (tmp_path / "none.pem", "cannot read")):
        with pytest.raises(BadKeyError) as caught:
            read_private_key(path)
        assert str(caught.value).startswith(f"{path}: {message}")


def test_an_envelope_verifies_only_unaltered_and_with_its_key() -> None:
    envelope = approval(1, "alice", "ml_lead")["envelope"]
    payload = envelope["payload"]
    alice, bob = KEYS["alice"].public_key(), KEYS["bob"].public_key()
    assert open_envelope(envelope).verified_by(alice)
    assert not open_envelope(envelope).verified_by(bob)
    altered = {**envelope, "payload": {**payload, "version": "4"}}
    assert not open_envelope(altered).verified_by(alice)
    for bad, message in (({**envelope, "signature": "rsa:xx"}, "no Ed25519 signature"),
                         ({**envelope, "payload": {**payload, "extra": 1}},
                          "the payload does not hold exactly the approval fields"),
                         ({**envelope, "payload": {**payload, "schema": "v0"}},
                          "unknown approval schema 'v0'"), ("text", "not an approval envelope")):
        with pytest.raises(ValueError, match=message):
            open_envelope(bad)
    with pytest.raises(ValueError):
        seal({**payload, "extra": 1}, KEYS["alice"])


def test_tag_keys_name_the_approver_by_a_hash() -> None:
    key = tag_key("pilot", "ml_lead", "Alice@Example.com ")
    assert key == tag_key("pilot", "ml_lead", "alice@example.com")
    assert key.startswith("gatekeeper.approval.pilot.ml_lead.") and "@" not in key


def check(id_: str, status: Status, observed: object, kind: str = "metric_threshold"
          ) -> CheckResult:
    return CheckResult(id=id_, kind=kind, category=Category.QUALITY, status=status,
                       blocking=True, message=f"{id_} {observed}", observed=observed,
                       threshold={"min": 0.8}, evidence={"metric": f"t={observed}"})


def test_the_evidence_digest_binds_outcomes_not_readings() -> None:
    checks = [check("auc", Status.PASS, 0.9), check("p95", Status.PASS, 41.5),
              check("gatekeeper.approvals", Status.FAIL, [], kind="approvals")]
    digest = evidence_digest(*checks_evidence(checks))
    moved = [replace(checks[0], observed=0.93, evidence={"metric": "t=2"}), *checks[1:]]
    assert evidence_digest(*checks_evidence(moved)) == digest
    approved = [*checks[:2], replace(checks[2], status=Status.PASS)]
    assert evidence_digest(*checks_evidence(approved)) == digest
    warned = [replace(checks[0], status=Status.WARN), *checks[1:]]
    assert evidence_digest(*checks_evidence(warned)) != digest
    tighter = [replace(checks[0], threshold={"min": 0.85}), *checks[1:]]
    assert evidence_digest(*checks_evidence(tighter)) != digest
    assert evidence_digest(*checks_evidence(checks[:1])) != digest
