"""Ed25519 signing of the audit trail: keys as text or files, trusted keys, legacy HMAC."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.record.signing import (
    BadKeyError,
    SignatureCheck,
    Signer,
    TrustedKeys,
    load_signer,
    parse_private_key,
    signer_from_env,
)

KEY = Ed25519PrivateKey.generate()
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
RAW = base64.b64encode(KEY.private_bytes(serialization.Encoding.Raw,
                                         serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())).decode()


def test_private_key_as_pem_base64_or_file(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text(PEM)
    ids = {Signer(parse_private_key(v)).key_id for v in (PEM, RAW, str(path))}
    assert ids == {Signer(KEY).key_id}
    assert Signer(KEY).key_id.startswith("ed25519:") and len(Signer(KEY).key_id) == 24


def test_unset_or_empty_key_means_unsigned() -> None:
    assert load_signer(None) is None and load_signer("  ") is None
    assert signer_from_env({"GATEKEEPER_SIGNING_KEY": ""}) is None
    assert signer_from_env({"GATEKEEPER_SIGNING_KEY": RAW}) is not None


def test_bad_private_key_never_quoted() -> None:
    with pytest.raises(BadKeyError) as caught:
        parse_private_key("c2VjcmV0LXRleHQ=")
    assert "c2VjcmV0" not in str(caught.value)
    assert str(caught.value) == "the base64 holds 11 bytes; an Ed25519 private key has 32"


def test_trusted_keys_check_signatures(tmp_path: Path) -> None:
    signer, other = Signer(KEY), Signer(Ed25519PrivateKey.generate())
    pub = tmp_path / "k.pub"
    pub.write_text(signer.public_key_text)
    trusted = TrustedKeys.parse([str(pub)])
    signature = signer.sign(b"sha256:abc")

    assert trusted.ids == [signer.key_id]
    assert trusted.check(signer.key_id, b"sha256:abc", signature) is SignatureCheck.VALID
    assert trusted.check(signer.key_id, b"sha256:abd", signature) is SignatureCheck.INVALID
    assert trusted.check(other.key_id, b"m", other.sign(b"m")) is SignatureCheck.UNTRUSTED
    # A signature by another key under the trusted key's id does not verify.
    assert trusted.check(signer.key_id, b"m", other.sign(b"m")) is SignatureCheck.INVALID
    assert trusted.check(signer.key_id, b"m", "ed25519:AAAA") is SignatureCheck.MALFORMED
    assert trusted.check(signer.key_id, b"m", "hmac-sha256:00") is SignatureCheck.LEGACY
