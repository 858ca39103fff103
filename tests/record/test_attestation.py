"""The attestation format (record/attestation.py): DSSE's PAE byte for byte, an in-toto
Statement v1 sealed with a real Ed25519 key and opened only when a trusted key signed exactly
those bytes; every forgery refused with its reason; the envelope fits a version tag."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.record.attestation import (
    MAX_TAG_CHARS,
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    AttestationRefused,
    decision_statement,
    envelope_text,
    milestone_of,
    open_attestation,
    pae,
    seal,
    subject_digest,
    tag_key,
)
from gatekeeper.record.signing import Signer, TrustedKeys

SIGNER = Signer(Ed25519PrivateKey.generate())
OTHER = Signer(Ed25519PrivateKey.generate())
TRUSTED = TrustedKeys.parse([SIGNER.public_key_text])
DIGEST = "sha256:" + "1" * 64


def predicate(**changes: Any) -> dict[str, Any]:
    return {"model": {"name": "fraud", "version": "3", "run_id": "9f2c1e"},
            "milestone": "poc", "decision": "pass", "milestone_digest": DIGEST,
            "playbook_digest": DIGEST, "policies": [{"id": "org", "digest": DIGEST}],
            "evidence_digest": DIGEST, "decided_at": "2026-12-03T12:00:00.000Z",
            "audit": {"log": "/ci/a/audit.jsonl", "seq": 4, "hash": DIGEST},
            "approvers": [], **changes}


def sealed(signer: Signer = SIGNER, **changes: Any) -> dict[str, Any]:
    return seal(decision_statement(predicate(**changes)), signer)


def payload(envelope: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return found


def test_pae_is_the_dsse_v1_encoding() -> None:
    # DSSE protocol.md: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, byte lengths.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_the_envelope_holds_an_in_toto_statement_signed_over_its_pae() -> None:
    envelope = sealed()
    assert set(envelope) == {"payloadType", "payload", "signatures"}
    assert envelope["payloadType"] == PAYLOAD_TYPE == "application/vnd.in-toto+json"
    [signature] = envelope["signatures"]
    assert signature["keyid"] == SIGNER.key_id
    body = base64.b64decode(envelope["payload"])
    # Checked with the bare public key, as any DSSE verifier would.
    SIGNER.public_key.verify(base64.b64decode(signature["sig"]), pae(PAYLOAD_TYPE, body))
    statement = json.loads(body)
    assert statement["_type"] == STATEMENT_TYPE == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == PREDICATE_TYPE
    assert statement["subject"] == [{"name": "mlflow:models/fraud/3", "digest": {
        "sha256": subject_digest("fraud", "3", "9f2c1e")}}]
    assert statement["predicate"] == predicate()
    opened = open_attestation(envelope_text(envelope), TRUSTED)
    assert (opened.key_id, opened.predicate) == (SIGNER.key_id, predicate())


def test_the_subject_digest_names_the_version_and_its_run() -> None:
    first = subject_digest("fraud", "3", "9f2c1e")
    assert len(first) == 64 and int(first, 16) >= 0
    assert first != subject_digest("fraud", "3", "another-run")
    assert first != subject_digest("fraud", "4", "9f2c1e")


def forged_payload(envelope: dict[str, Any]) -> dict[str, Any]:
    statement = payload(envelope)
    statement["predicate"]["milestone_digest"] = "sha256:" + "9" * 64
    encoded = base64.b64encode(json.dumps(statement).encode()).decode()
    return {**envelope, "payload": encoded}


@pytest.mark.parametrize(("forge", "reason"), [
    (forged_payload, "the signature does not verify (altered after signing)"),
    (lambda e: {**e, "signatures": []}, "unsigned"),
    (lambda e: {k: v for k, v in e.items() if k != "signatures"}, "unsigned"),
    (lambda e: sealed(OTHER), f"signed by untrusted key {OTHER.key_id}"),
    (lambda e: {**e, "payloadType": "application/json"},
     "the signature does not verify (altered after signing)"),
    (lambda e: {**e, "signatures": [{"keyid": SIGNER.key_id, "sig": "bm90IGEgc2ln"}]},
     "no readable Ed25519 signature"),
    (lambda e: {**e, "payload": "%%%"}, "the payload is not base64"),
    (lambda e: ["not", "an", "envelope"], "not a DSSE envelope"),
])
def test_a_forged_or_unsigned_envelope_is_refused_with_its_reason(
        forge: Any, reason: str) -> None:
    with pytest.raises(AttestationRefused) as caught:
        open_attestation(json.dumps(forge(sealed())), TRUSTED)
    assert str(caught.value) == reason


def test_a_trusted_key_counts_under_any_keyid_and_none_without_trust() -> None:
    envelope = sealed()
    envelope["signatures"][0]["keyid"] = ""  # DSSE: keyid is an optional hint
    assert open_attestation(json.dumps(envelope), TRUSTED).key_id == SIGNER.key_id
    with pytest.raises(AttestationRefused) as caught:
        open_attestation(envelope_text(sealed()), TrustedKeys())
    assert str(caught.value) == (f"signed by {SIGNER.key_id}, and no policy lists trusted "
                                 "keys (attestations)")


def test_url_safe_base64_is_read_as_dsse_allows() -> None:
    envelope = sealed()
    envelope["payload"] = base64.urlsafe_b64encode(base64.b64decode(envelope["payload"])
                                                   ).decode()
    sig = envelope["signatures"][0]
    sig["sig"] = base64.urlsafe_b64encode(base64.b64decode(sig["sig"])).decode()
    assert open_attestation(json.dumps(envelope), TRUSTED).predicate == predicate()


def test_a_signed_statement_of_another_kind_does_not_count() -> None:
    statement = decision_statement(predicate())
    other = seal({**statement, "predicateType": "https://slsa.dev/provenance/v1"}, SIGNER)
    with pytest.raises(AttestationRefused, match="is not a gatekeeper decision"):
        open_attestation(envelope_text(other), TRUSTED)
    extra = seal({**statement, "predicate": {**predicate(), "note": "x"}}, SIGNER)
    with pytest.raises(AttestationRefused, match="exactly the decision fields"):
        open_attestation(envelope_text(extra), TRUSTED)


def test_the_envelope_fits_an_mlflow_2_tag_with_many_policies() -> None:
    policies = [{"id": f"policy-{i:02d}", "digest": DIGEST} for i in range(20)]
    approvers = [{"approver": f"person{i}@example.com", "role": "ml_lead"} for i in range(4)]
    text = envelope_text(sealed(policies=policies, approvers=approvers))
    assert len(text) < MAX_TAG_CHARS == 5000
    assert len(envelope_text(sealed())) < 1600  # the usual case: one policy, no approvers
    with pytest.raises(ValueError, match="a version tag holds at most 5000"):
        envelope_text(sealed(policies=policies * 5))


def test_tag_names() -> None:
    assert tag_key("serve") == "gatekeeper.attestation.serve"
    assert milestone_of("gatekeeper.attestation.serve") == "serve"
    assert milestone_of("gatekeeper.attestation.") is None
    assert milestone_of("gatekeeper.serve.decision") is None


def test_the_model_files_digest_is_a_second_subject_when_taken() -> None:
    files = "sha256:" + "a" * 64
    statement = decision_statement(predicate(), files)
    assert statement["subject"][1] == {"name": "mlflow:models/fraud/3/model_files",
                                       "digest": {"sha256": "a" * 64}}
    opened = open_attestation(envelope_text(seal(statement, SIGNER)), TRUSTED)
    assert opened.statement["subject"] == statement["subject"]
    assert len(decision_statement(predicate(), None)["subject"]) == 1
    assert len(decision_statement(predicate(), "md5:abc")["subject"]) == 1
