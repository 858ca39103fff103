"""The hash chain: canonical encoding, record hashes, the stored line layout, legacy HMAC.

A record's ``hash`` is ``"sha256:" + hex(sha256(RFC 8785 canonical JSON of the record without its
``hash`` and ``signature`` fields))``. The canonical form is what makes the hash reproducible by
any other tool that reads the JSONL file, whatever key order or number spelling it uses.

Lines are *stored* in that canonical form too, with ``hash`` (and ``signature``) appended as the
last members (``encode_line``). So a verifier can hash the stored bytes up to ``,"hash":`` (plus
the closing brace) instead of re-encoding the parsed record (``stored_body``): when those bytes'
sha256 is the stored hash, they are the bytes that were hashed when the record was written. Only
a line where that fails (a legacy line in key-insertion order, or a tampered one) is
canonicalised, which then decides. Why that is sound is in docs/audit.md ("Speed").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any

import rfc8785

HASH_PREFIX = "sha256:"
GENESIS_HASH = HASH_PREFIX + "0" * 64
#: Signatures made with ``GATEKEEPER_AUDIT_KEY`` before Ed25519 replaced HMAC (see signing.py).
LEGACY_SIGNATURE_PREFIX = "hmac-sha256:"
# ``key_id`` stays inside the hash on purpose: which key signed a record is part of what it says.
UNHASHED_FIELDS = frozenset({"hash", "signature"})
# The stored tail: `,"hash":"sha256:<64 hex>"` and optionally `,"signature":"<no quote>"`, `}`.
_TAIL = re.compile(rb',"hash":"sha256:[0-9a-f]{64}"(?:,"signature":"[^"\\]*")?}')


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """RFC 8785 encoding. Raises ``rfc8785.CanonicalizationError`` for NaN, infinities, integers
    beyond 2**53 and non-JSON types."""
    encoded: bytes = rfc8785.dumps(value)
    return encoded


def body_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed part of a record: everything except ``hash`` and ``signature``."""
    return {k: v for k, v in record.items() if k not in UNHASHED_FIELDS}


def record_hash(record: Mapping[str, Any]) -> str:
    """The hash a record must carry: over everything except ``hash`` and ``signature``."""
    return HASH_PREFIX + hashlib.sha256(canonical_json(body_of(record))).hexdigest()


def encode_line(body: Mapping[str, Any], signature: str | Callable[[str], str] | None
                ) -> tuple[bytes, str]:
    """The stored line (without newline) of a non-empty record body (without ``hash`` and
    ``signature``), and its hash: the canonical body with ``hash`` and the signature (given,
    or ``signature(hash)``) appended as its last members."""
    encoded = canonical_json(body_of(body))
    digest = HASH_PREFIX + hashlib.sha256(encoded).hexdigest()
    tail = f',"hash":"{digest}"'
    if signature is not None:
        text = signature(digest) if callable(signature) else signature
        tail += f',"signature":"{text}"'
    return encoded[:-1] + tail.encode("ascii") + b"}", digest


def stored_body_hash(raw: bytes) -> str | None:
    """The hash written at the end of a line in the stored layout, if its canonical body
    bytes (everything before ``,"hash":``, closed) hash to it; else None (decide by
    canonicalising)."""
    at = raw.rfind(b',"hash":"sha256:')
    if at < 0 or not _TAIL.fullmatch(raw, at):
        return None
    stored = raw[at + 16:at + 80]  # the 64 hex digits after `,"hash":"sha256:`
    hasher = hashlib.sha256(memoryview(raw)[:at])  # no copy of the body
    hasher.update(b"}")
    digest = hasher.hexdigest()
    return HASH_PREFIX + digest if digest.encode("ascii") == stored else None


def legacy_signature_valid(record_hash_: str, signature: str, key: bytes) -> bool:
    """Whether ``signature`` is the pre-Ed25519 HMAC-SHA256 of a record's hash under ``key``
    (constant-time, so a forger learns nothing from timing)."""
    mac = hmac.new(key, record_hash_.encode("ascii"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(LEGACY_SIGNATURE_PREFIX + mac, signature)


def legacy_key_id(key: bytes) -> str:
    """How a legacy HMAC key was named: the first 8 hex digits of its sha256."""
    return hashlib.sha256(key).hexdigest()[:8]
