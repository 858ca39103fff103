"""Signed approvals (docs/approvals.md): the payload an approver signs, the Ed25519 envelope
that carries it, and reading keys.

An approval binds one approver, in one role, to one model version (and its source run), one
milestone definition (its digest) and the evidence of one recorded decision (its hash and its
evidence digest), until an expiry. The signature is Ed25519 over the payload's canonical JSON
(RFC 8785), so anyone holding the public key the policy lists can check it, and a change to
any bound field breaks it.

    key = read_private_key(Path("alice.pem"))
    envelope = seal(payload, key)                  # {"payload": {...}, "signature": ...}
    opened = open_envelope(envelope)               # Sealed(payload, signature) or ValueError
    opened.verified_by(public_key)                 # True / False

Private keys are read here and used to sign; they are never returned to a caller as text,
logged or put into a record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SCHEMA = "gatekeeper.approval/v1"
SIGNATURE_PREFIX = "ed25519:"
#: The fields a payload holds, all signed; anything else is refused (it would be unsigned
#: text a reader could mistake for part of the approval).
PAYLOAD_FIELDS = ("schema", "model", "version", "run_id", "milestone", "milestone_digest",
                  "decision", "evidence_digest", "role", "approver", "key_id", "issued_at",
                  "expires_at")
#: Version tags of one approval start with this, then ``<milestone>.<role>.<approver id>``.
TAG_PREFIX = "gatekeeper.approval"


class BadKeyError(ValueError):
    """A key file or a policy's public key that cannot be used (the message says why)."""


def parse_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key written as PEM (``-----BEGIN PUBLIC KEY-----``), as OpenSSH
    (``ssh-ed25519 AAAA...``) or as the base64 of its 32 raw bytes. Raises BadKeyError."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key: object = serialization.load_pem_public_key(text.encode("ascii"))
        elif text.startswith("ssh-"):
            key = serialization.load_ssh_public_key(text.encode("ascii"))
        else:
            raw = base64.b64decode(text, validate=True)
            if len(raw) != 32:
                raise BadKeyError(f"the base64 holds {len(raw)} bytes; an Ed25519 public key "
                                "has 32")
            key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, UnsupportedAlgorithm, binascii.Error) as exc:
        if isinstance(exc, BadKeyError):
            raise
        raise BadKeyError("not an Ed25519 public key (PEM, ssh-ed25519 or the base64 of its "
                        "32 bytes)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BadKeyError(f"not an Ed25519 key ({type(key).__name__.removeprefix('_')})")
    return key


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (PEM, PKCS#8 or OpenSSH, unencrypted). Raises
    BadKeyError saying what is wrong, never quoting the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadKeyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY"):
            key: object = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise BadKeyError(f"{path}: the key is encrypted; gatekeeper reads unencrypted keys "
                        "(keep the file readable by you only)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise BadKeyError(f"{path}: not a PEM or OpenSSH private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadKeyError(f"{path}: not an Ed25519 private key")
    return key


def new_private_key_pem() -> tuple[bytes, Ed25519PublicKey]:
    """A fresh key pair: the private key as unencrypted PKCS#8 PEM, and its public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, key.public_key()


def public_key_text(key: Ed25519PublicKey) -> str:
    """The base64 of the key's 32 raw bytes: what a policy lists as ``public_key``."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name of a public key (its raw bytes' sha256, 16 hex digits)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def canonical(payload: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps(dict(payload))


def seal(payload: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed envelope of ``payload`` (which must hold exactly PAYLOAD_FIELDS)."""
    unknown = set(payload) ^ set(PAYLOAD_FIELDS)
    if unknown:
        raise ValueError(f"approval payload fields differ: {sorted(unknown)}")
    signature = base64.b64encode(key.sign(canonical(payload))).decode("ascii")
    return {"payload": dict(payload), "signature": SIGNATURE_PREFIX + signature}


@dataclass(frozen=True)
class Sealed:
    """An envelope read back: its payload (not yet trusted) and its signature bytes."""

    payload: Mapping[str, Any]
    signature: bytes

    def field(self, name: str) -> str:
        value = self.payload.get(name)
        return "" if value is None else str(value)

    def verified_by(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(self.signature, canonical(self.payload))
        except InvalidSignature:
            return False
        return True


def open_envelope(envelope: Any) -> Sealed:
    """The payload and signature of a stored envelope; raises ValueError when it is not one
    (missing or unknown fields, a signature that is not Ed25519 base64)."""
    if not isinstance(envelope, Mapping):
        raise ValueError("not an approval envelope")
    payload, signature = envelope.get("payload"), envelope.get("signature")
    if not isinstance(payload, Mapping) or set(payload) != set(PAYLOAD_FIELDS):
        raise ValueError("the payload does not hold exactly the approval fields")
    if payload.get("schema") != SCHEMA:
        raise ValueError(f"unknown approval schema {payload.get('schema')!r}")
    if not isinstance(signature, str) or not signature.startswith(SIGNATURE_PREFIX):
        raise ValueError("no Ed25519 signature")
    try:
        raw = base64.b64decode(signature.removeprefix(SIGNATURE_PREFIX), validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("the signature is not base64") from None
    return Sealed(payload, raw)


def compact(envelope: Mapping[str, Any]) -> str:
    """The envelope as compact JSON (a version tag's value: well under MLflow's limit)."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def tag_key(milestone: str, role: str, approver: str) -> str:
    """``gatekeeper.approval.<milestone>.<role>.<12 hex of the approver>``: MLflow tag keys
    allow no ``@``, so the approver is named by a hash; a newer approval by the same person
    for the same role replaces the tag (the audit store keeps every one)."""
    who = hashlib.sha256(approver.strip().casefold().encode("utf-8")).hexdigest()[:12]
    return f"{TAG_PREFIX}.{milestone}.{role}.{who}"
