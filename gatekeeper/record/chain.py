"""The hash chain: canonical encoding, record hashes and HMAC signatures.

A record's ``hash`` is ``"sha256:" + hex(sha256(RFC 8785 canonical JSON of the record without its
``hash`` and ``signature`` fields))``. The canonical form is what makes the hash reproducible by
any other tool that reads the JSONL file, whatever key order or number spelling it uses.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import rfc8785

HASH_PREFIX = "sha256:"
GENESIS_HASH = HASH_PREFIX + "0" * 64
SIGNATURE_PREFIX = "hmac-sha256:"
# ``key_id`` stays inside the hash on purpose: which key signed a record is part of what it says.
UNHASHED_FIELDS = frozenset({"hash", "signature"})


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """RFC 8785 encoding. Raises ``rfc8785.CanonicalizationError`` for NaN, infinities, integers
    beyond 2**53 and non-JSON types."""
    encoded: bytes = rfc8785.dumps(value)
    return encoded


def record_hash(record: Mapping[str, Any]) -> str:
    """The hash a record must carry: over everything except ``hash`` and ``signature``."""
    hashed = {k: v for k, v in record.items() if k not in UNHASHED_FIELDS}
    return HASH_PREFIX + hashlib.sha256(canonical_json(hashed)).hexdigest()


def key_id(key: bytes) -> str:
    """Names a key without revealing it: the first 8 hex digits of its sha256."""
    return hashlib.sha256(key).hexdigest()[:8]


def sign(record_hash_: str, key: bytes) -> str:
    """HMAC-SHA256 of a record's hash string."""
    mac = hmac.new(key, record_hash_.encode("ascii"), hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + mac


def signature_valid(record_hash_: str, signature: str, key: bytes) -> bool:
    """Constant-time comparison, so a forger learns nothing from timing."""
    return hmac.compare_digest(sign(record_hash_, key), signature)
