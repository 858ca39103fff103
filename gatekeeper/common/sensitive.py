"""Which values gatekeeper may keep, and the keyed hash it keeps of those it may not.

A value that **looks sensitive** (:func:`why_sensitive`: a name saying TOKEN, SECRET, PASSWORD
or KEY; a URL credential; an e-mail address; a long token-like string; anything but a short
plain word) never enters a result or an audit record. Only :func:`keyed_digest` of it does:
HMAC-SHA256 under ``GATEKEEPER_RECORD_SALT`` (else a key random per process), so whoever holds
the organisation's salt can confirm a suspected value, and no one can read it back or confirm
a guess without the salt. The rule is documented in docs/audit.md ("What a record holds").
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping

from gatekeeper.common.redact import redact_secrets

#: A fixed HMAC key for sensitive values, so their hashes compare across runs and records.
SALT_ENV = "GATEKEEPER_RECORD_SALT"
KEYED_PREFIX = "hmac-sha256:"
_PROCESS_KEY = secrets.token_bytes(32)

#: Words in a name that say its value is a credential (as ``record.identity.is_sensitive``).
_NAME_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")
#: A value kept as it is: a short plain word (the rule ``required_evidence.shown`` uses).
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,47}")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
#: A run of 20 or more letters and digits: an API token, a key, a password, if it mixes both.
_TOKENISH = re.compile(r"[A-Za-z0-9_+=]{20,}")


def why_sensitive(name: str, value: str) -> str | None:
    """Why ``value`` (of the tag or field ``name``) must not be kept, or None when it may."""
    if any(marker in name.upper() for marker in _NAME_MARKERS):
        return "its name suggests a credential"
    if redact_secrets(value) != value:
        return "it holds a URL credential"
    if _EMAIL.search(value):
        return "it holds an e-mail address (personal data)"
    if any(_mixes_letters_and_digits(run) for run in _TOKENISH.findall(value)):
        return "it looks like a token or key"
    if not _PLAIN.fullmatch(value):
        return "it is not a short plain word (free text may hold personal data)"
    return None


def _mixes_letters_and_digits(text: str) -> bool:
    return any(c.isalpha() for c in text) and any(c.isdigit() for c in text)


def digest_key(env: Mapping[str, str] | None = None) -> tuple[bytes, str]:
    """The HMAC key for sensitive values, and what a record says about it (never the key)."""
    configured = (os.environ if env is None else env).get(SALT_ENV, "")
    if configured:
        return configured.encode("utf-8"), SALT_ENV
    return _PROCESS_KEY, "random per process"


def keyed_digest(value: str, key: bytes) -> str:
    """HMAC-SHA256 of ``value``: comparable by whoever holds ``key``, unreadable otherwise."""
    mac = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return KEYED_PREFIX + mac.hexdigest()
