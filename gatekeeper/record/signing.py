"""Ed25519 signing for the audit trail: the private key signs, anyone with the public key checks.

The key parsing itself lives in ``record/approval.py`` (approvals were signed first); this
module reuses it and adds what the audit trail needs: a key given as text *or* a file (the
``GATEKEEPER_SIGNING_KEY`` variable usually holds a CI secret's text, ``--signing-key`` a
path), signing a message into a self-describing string, and checking one against a set of
trusted public keys.

    signer = load_signer(os.environ.get(SIGNING_KEY_VARIABLE))   # None when unset or empty
    signature = signer.sign(b"sha256:...")                       # "ed25519:<base64>"
    trusted = TrustedKeys.parse(["alice.pub", "MCowBQYDK2VwAyEA..."])
    trusted.check(signer.key_id, b"sha256:...", signature)       # SignatureCheck.VALID

A key id is ``ed25519:`` + the first 16 hex digits of the sha256 of the raw public key: it
names a key without revealing anything, and is the same id approvals and policies show.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gatekeeper.record.approval import (
    BadKeyError,
    key_id,
    parse_public_key,
    public_key_text,
    read_private_key,
)

SIGNING_KEY_VARIABLE = "GATEKEEPER_SIGNING_KEY"
PUBLIC_KEY_VARIABLE = "GATEKEEPER_PUBLIC_KEY"
#: The pre-Ed25519 HMAC secret. Still read by ``audit verify`` to check records signed with it.
LEGACY_HMAC_VARIABLE = "GATEKEEPER_AUDIT_KEY"
SIGNATURE_PREFIX = "ed25519:"
LEGACY_SIGNATURE_PREFIX = "hmac-sha256:"


class SignatureCheck(enum.Enum):
    """What checking one signature found."""

    VALID = "valid"
    INVALID = "invalid"          # a trusted key, but not its signature of this message
    UNTRUSTED = "untrusted"      # signed by a key nobody listed as trusted
    MALFORMED = "malformed"      # not an ``ed25519:<base64>`` string of 64 bytes
    LEGACY = "legacy"            # an HMAC signature from before Ed25519


@dataclass(frozen=True)
class Signer:
    """A private key ready to sign; its text is never kept or shown."""

    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    @property
    def public_key_text(self) -> str:
        return public_key_text(self.public_key)

    def sign(self, message: bytes) -> str:
        """``ed25519:`` + the base64 of the 64-byte signature of ``message``."""
        raw = self.private_key.sign(message)
        return SIGNATURE_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_private_key(value: str) -> Ed25519PrivateKey:
    """An Ed25519 private key given as PEM/OpenSSH text, a file holding one, or the base64 of
    its 32 raw bytes. Raises BadKeyError without ever quoting the value (it is a secret)."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return _private_from_pem(text.encode("ascii", "replace"))
    path = Path(text)
    if _is_file(path):
        return read_private_key(path)
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise BadKeyError("not a key file, PEM text or the base64 of a 32-byte Ed25519 "
                          "private key") from None
    if len(raw) != 32:
        raise BadKeyError(f"the base64 holds {len(raw)} bytes; an Ed25519 private key has 32")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a long base64 string can exceed the OS's name limit
        return False


def _private_from_pem(data: bytes) -> Ed25519PrivateKey:
    try:
        if data.startswith(b"-----BEGIN OPENSSH PRIVATE KEY"):
            key: object = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise BadKeyError("the key is encrypted; gatekeeper reads unencrypted keys") from None
    except ValueError:
        raise BadKeyError("not a PEM or OpenSSH private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadKeyError("not an Ed25519 private key")
    return key


def load_signer(value: str | None) -> Signer | None:
    """The signer for ``value`` (see ``parse_private_key``); None when unset or empty: CI
    systems expand a secret the job may not see (a fork's pull request) to ""."""
    if value is None or not value.strip():
        return None
    return Signer(parse_private_key(value))


def signer_from_env(env: Mapping[str, str]) -> Signer | None:
    """``load_signer`` of ``GATEKEEPER_SIGNING_KEY``."""
    return load_signer(env.get(SIGNING_KEY_VARIABLE))


def parse_public_key_value(value: str) -> Ed25519PublicKey:
    """A public key given as text (PEM, ``ssh-ed25519 …``, base64 of 32 bytes) or as a file
    holding one. Raises BadKeyError."""
    text = value.strip()
    path = Path(text)
    if not text.startswith(("-----BEGIN", "ssh-")) and _is_file(path):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadKeyError(f"{path}: cannot read: {exc}") from None
    return parse_public_key(text)


def decode_signature(signature: object) -> bytes | None:
    """The 64 signature bytes of an ``ed25519:<base64>`` string; None when it is not one."""
    if not isinstance(signature, str) or not signature.startswith(SIGNATURE_PREFIX):
        return None
    try:
        raw = base64.b64decode(signature.removeprefix(SIGNATURE_PREFIX), validate=True)
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == 64 else None


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys a reviewer trusts, by key id."""

    keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)

    @classmethod
    def parse(cls, values: Iterable[str]) -> TrustedKeys:
        """Each value a file or key text (see ``parse_public_key_value``). Raises BadKeyError."""
        keys = (parse_public_key_value(v) for v in values)
        return cls({key_id(k): k for k in keys})

    def __bool__(self) -> bool:
        return bool(self.keys)

    @property
    def ids(self) -> list[str]:
        return sorted(self.keys)

    def check(self, signer_id: object, message: bytes, signature: object) -> SignatureCheck:
        """Whether ``signature`` is ``signer_id``'s signature of ``message``, that key being
        trusted."""
        if isinstance(signature, str) and signature.startswith(LEGACY_SIGNATURE_PREFIX):
            return SignatureCheck.LEGACY
        raw = decode_signature(signature)
        if raw is None:
            return SignatureCheck.MALFORMED
        key = self.keys.get(signer_id) if isinstance(signer_id, str) else None
        if key is None:
            return SignatureCheck.UNTRUSTED
        try:
            key.verify(raw, message)
        except InvalidSignature:
            return SignatureCheck.INVALID
        return SignatureCheck.VALID


__all__ = [
    "LEGACY_HMAC_VARIABLE",
    "LEGACY_SIGNATURE_PREFIX",
    "PUBLIC_KEY_VARIABLE",
    "SIGNATURE_PREFIX",
    "SIGNING_KEY_VARIABLE",
    "BadKeyError",
    "SignatureCheck",
    "Signer",
    "TrustedKeys",
    "decode_signature",
    "key_id",
    "load_signer",
    "parse_private_key",
    "parse_public_key_value",
    "signer_from_env",
]
