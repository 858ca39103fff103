"""Attestations (docs/attestations.md): a gate decision as an in-toto Statement v1 in a DSSE
envelope signed with Ed25519, compact enough to be an MLflow model version tag, so a later CI
job that does not share the audit store can still tell that a milestone passed.

    envelope = seal(decision_statement(facts), signer)      # signer: record/signing.py
    text = envelope_text(envelope)                           # the tag value, < MAX_TAG_CHARS
    opened = open_attestation(text, trusted)                 # Statement, or AttestationRefused

The signature covers DSSE's pre-authentication encoding (PAE) of the payload type and the
serialised Statement, so neither can be swapped without breaking it. Reading trusts nothing
until a trusted key's signature verifies; the Statement is then parsed from exactly the bytes
that were signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from gatekeeper.record.records import evidence_digest
from gatekeeper.record.signing import SIGNATURE_PREFIX, SignatureCheck, Signer, TrustedKeys

#: DSSE payload type of an in-toto Statement (in-toto attestation spec, envelope layer).
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: What the predicate is: one gate decision for one milestone of one model version.
PREDICATE_TYPE = "https://gatekeeper.dev/attestation/decision/v1"
#: Version tags ``gatekeeper.attestation.<milestone>`` hold the latest decision's envelope.
TAG_PREFIX = "gatekeeper.attestation"
#: Longest tag value written. MLflow 3 allows 100,000 characters in a model version tag, but
#: MLflow 2 servers (and their database columns) allowed 5,000: stay under the smaller.
MAX_TAG_CHARS = 5000
#: The check whose ``observed`` lists the approvals counted (decide/approvals.py).
APPROVALS_CHECK = "gatekeeper.approvals"
#: The predicate's fields, all signed.
PREDICATE_FIELDS = ("model", "milestone", "decision", "milestone_digest", "playbook_digest",
                    "policies", "evidence_digest", "decided_at", "audit", "approvers")


class AttestationRefused(ValueError):
    """A tag that does not count as an attestation; the message says why in a few words."""


def tag_key(milestone: str) -> str:
    return f"{TAG_PREFIX}.{milestone}"


def milestone_of(tag: str) -> str | None:
    """The milestone an attestation tag names, or None when ``tag`` is not one."""
    prefix = TAG_PREFIX + "."
    if not tag.startswith(prefix) or tag == prefix:
        return None
    return tag.removeprefix(prefix)


def subject_name(model: str, version: str) -> str:
    return f"mlflow:models/{model}/{version}"


def subject_digest(model: str, version: str, run_id: str | None) -> str:
    """sha256 (hex) of the version's identity: name, number and source run, as RFC 8785 JSON.
    A re-registered version number (another run) gets another digest, so it never inherits."""
    identity = {"name": model, "version": version, "run_id": run_id}
    return hashlib.sha256(rfc8785.dumps(identity)).hexdigest()


def decision_statement(predicate: Mapping[str, Any],
                       model_files: str | None = None) -> dict[str, Any]:
    """The in-toto Statement v1 of one decision; ``predicate`` holds PREDICATE_FIELDS, its
    ``model`` {name, version, run_id} naming the subject. ``model_files`` (``sha256:<hex>``,
    the manifest digest of the version's model files, when the gate took it) adds a second
    subject a reviewer can re-hash the model against."""
    unknown = set(predicate) ^ set(PREDICATE_FIELDS)
    if unknown:
        raise ValueError(f"attestation predicate fields differ: {sorted(unknown)}")
    model = predicate["model"]
    name = subject_name(model["name"], model["version"])
    subjects = [{"name": name, "digest": {"sha256": subject_digest(
        model["name"], model["version"], model["run_id"])}}]
    if model_files and model_files.startswith("sha256:"):
        subjects.append({"name": f"{name}/model_files",
                         "digest": {"sha256": model_files.removeprefix("sha256:")}})
    return {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": PREDICATE_TYPE,
            "predicate": dict(predicate)}


def record_predicate(record: Mapping[str, Any], log: str) -> dict[str, Any]:
    """The predicate of the decision ``record`` (as an audit store holds it) in the store at
    ``log``: what ``check`` signs, rebuilt from the record (``audit export``, re-attesting)."""
    model = record.get("model") or {}
    playbook = record.get("playbook") or {}
    criteria, evidence = record.get("criteria") or {}, record.get("evidence") or {}
    observed = (evidence.get(APPROVALS_CHECK) or {}).get("observed")
    return {
        "model": {"name": model.get("name"), "version": model.get("version"),
                  "run_id": model.get("run_id")},
        "milestone": record.get("milestone"),
        "decision": record.get("decision"),
        "milestone_digest": playbook.get("milestone_digest"),
        "playbook_digest": playbook.get("digest"),
        "policies": [{"id": p.get("id"), "digest": p.get("digest")}
                     for p in record.get("policies") or ()],
        "evidence_digest": evidence_digest(criteria, evidence),
        "decided_at": record.get("finished_at"),
        "audit": {"log": log, "seq": record.get("seq"), "hash": record.get("hash")},
        "approvers": approvers(observed),
    }


def approvers(observed: object) -> list[dict[str, str]]:
    """{approver, role} of each approval the approvals check counted (its ``observed``)."""
    items = observed if isinstance(observed, list) else []
    return [{"approver": str(i.get("approver")), "role": str(i.get("role"))}
            for i in items if isinstance(i, Mapping)]


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
    lengths as ASCII decimal byte counts."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)


def seal(statement: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """The DSSE envelope of ``statement`` (serialised as RFC 8785 JSON), signed by ``signer``."""
    body = rfc8785.dumps(dict(statement))
    signature = signer.sign(pae(PAYLOAD_TYPE, body)).removeprefix(SIGNATURE_PREFIX)
    return {"payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(body).decode("ascii"),
            "signatures": [{"keyid": signer.key_id, "sig": signature}]}


def envelope_text(envelope: Mapping[str, Any]) -> str:
    """The envelope as compact JSON: a version tag's value. Raises ValueError when it would
    exceed MAX_TAG_CHARS (then it is not written at all rather than cut)."""
    text = json.dumps(envelope, separators=(",", ":"), sort_keys=True)
    if len(text) > MAX_TAG_CHARS:
        raise ValueError(f"the attestation takes {len(text)} characters; a version tag holds "
                         f"at most {MAX_TAG_CHARS}")
    return text


@dataclass(frozen=True)
class Opened:
    """A verified attestation: its Statement (parsed from the signed bytes) and the trusted
    key id whose signature verified."""

    statement: Mapping[str, Any]
    key_id: str

    @property
    def predicate(self) -> Mapping[str, Any]:
        found = self.statement.get("predicate")
        return found if isinstance(found, Mapping) else {}


def open_attestation(text: str, trusted: TrustedKeys) -> Opened:
    """The Statement of the envelope in ``text`` once a trusted key's signature over its PAE
    verifies; AttestationRefused saying why otherwise (unsigned, untrusted key, altered, not
    an in-toto Statement of a gatekeeper decision)."""
    envelope = _envelope(text)
    body, signatures = _body(envelope), envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise AttestationRefused("unsigned")
    message = pae(str(envelope.get("payloadType")), body)
    found = [_check(s, message, trusted) for s in signatures]
    valid = [key for check, key in found if check is SignatureCheck.VALID]
    if not valid:
        raise AttestationRefused(_why_not(found, trusted))
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise AttestationRefused(f"payloadType {envelope.get('payloadType')!r} is not "
                                 f"{PAYLOAD_TYPE}")
    return Opened(_statement(body), valid[0])


def _envelope(text: str) -> Mapping[str, Any]:
    try:
        envelope = json.loads(text)
    except ValueError:
        raise AttestationRefused("not JSON") from None
    if not isinstance(envelope, Mapping) or "payload" not in envelope:
        raise AttestationRefused("not a DSSE envelope")
    return envelope


def _body(envelope: Mapping[str, Any]) -> bytes:
    payload = envelope.get("payload")
    if not isinstance(payload, str):
        raise AttestationRefused("the payload is not base64")
    try:
        # DSSE allows standard or URL-safe base64; normalise to standard before decoding.
        return base64.b64decode(payload.replace("-", "+").replace("_", "/"), validate=True)
    except (ValueError, binascii.Error):
        raise AttestationRefused("the payload is not base64") from None


def _check(signature: object, message: bytes, trusted: TrustedKeys
           ) -> tuple[SignatureCheck, str]:
    if not isinstance(signature, Mapping):
        return SignatureCheck.MALFORMED, ""
    keyid, sig = str(signature.get("keyid") or ""), signature.get("sig")
    if not isinstance(sig, str):
        return SignatureCheck.MALFORMED, keyid
    text = SIGNATURE_PREFIX + sig.replace("-", "+").replace("_", "/")
    check = trusted.check(keyid, message, text)
    if check is SignatureCheck.UNTRUSTED:
        # DSSE's keyid is only a hint: a trusted key's signature counts under any keyid.
        for known in trusted.ids:
            if trusted.check(known, message, text) is SignatureCheck.VALID:
                return SignatureCheck.VALID, known
    return check, keyid


def _why_not(found: Sequence[tuple[SignatureCheck, str]], trusted: TrustedKeys) -> str:
    checks = {check for check, _ in found}
    if SignatureCheck.INVALID in checks:
        return "the signature does not verify (altered after signing)"
    if SignatureCheck.UNTRUSTED in checks:
        keys = ", ".join(sorted({k or "(no keyid)" for c, k in found
                                 if c is SignatureCheck.UNTRUSTED}))
        if not trusted:
            return f"signed by {keys}, and no policy lists trusted keys (attestations)"
        return f"signed by untrusted key {keys}"
    return "no readable Ed25519 signature"


def _statement(body: bytes) -> Mapping[str, Any]:
    try:
        statement = json.loads(body)
    except ValueError:
        raise AttestationRefused("the signed payload is not JSON") from None
    if not isinstance(statement, Mapping) or statement.get("_type") != STATEMENT_TYPE:
        raise AttestationRefused("not an in-toto Statement v1")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise AttestationRefused(f"predicateType {statement.get('predicateType')!r} is not a "
                                 "gatekeeper decision")
    predicate = statement.get("predicate")
    if not isinstance(predicate, Mapping) or set(predicate) != set(PREDICATE_FIELDS):
        raise AttestationRefused("the predicate does not hold exactly the decision fields")
    return statement
