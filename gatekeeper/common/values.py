"""Reading numbers from evidence: the one place that decides what a check may judge.

Every check kind reads its numbers (run metrics, params, tags, Prometheus answers) through
:func:`number` or :func:`non_negative`, so "not a finite number is ``error``" holds for all of
them alike. A value that cannot be used raises :class:`UnusableValue`, whose message is safe to
print, put in the JSON result and write to the audit log: text that is not a number is never
echoed (a tag may hold a secret pasted by mistake), only its type, length and a salted hash.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import sys

# MLflow's SQL stores cannot hold infinity and write +/-inf as +/- the largest float, so an
# infinite metric comes back from the registry as 1.7976931348623157e308: infinite all the same.
MLFLOW_INFINITY = sys.float_info.max

# Per-process random salt. With a fixed salt (or none) anyone holding an audit log could hash
# likely secrets and confirm a guess, and the same secret would carry the same fingerprint in
# every run's record, linking them. A fresh salt per process still lets a reader tell two
# unparsable values of one report apart (or see that they are the same), and nothing more.
_SALT = secrets.token_bytes(16)
FINGERPRINT_HEX = 8


class UnusableValue(ValueError):
    """A value a check cannot judge; ``str()`` of it names what and why, never the raw text."""


def fingerprint(raw: object) -> str:
    """``str, 41 chars, sha256:ab12cd34…``: enough to tell values apart, not to recover one."""
    text = raw if isinstance(raw, str) else repr(raw)
    digest = hashlib.sha256(_SALT + text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{type(raw).__name__}, {len(text)} chars, sha256:{digest[:FINGERPRINT_HEX]}…"


def is_finite(value: float) -> bool:
    """Finite, and not MLflow's stand-in for infinity."""
    return math.isfinite(value) and abs(value) < MLFLOW_INFINITY


def shown(value: float) -> str:
    """A number as messages print it; MLflow's stand-in for infinity reads as ``inf``."""
    if math.isfinite(value) and abs(value) >= MLFLOW_INFINITY:
        return "inf" if value > 0 else "-inf"
    return f"{value:g}"


def number(what: str, raw: object) -> float:
    """``raw`` (a metric's float, or a param's or tag's text) as a finite float.

    ``what`` names it in the message, e.g. ``tag 'accuracy'``. Raises UnusableValue for text
    that is not a number (described by :func:`fingerprint`, never echoed) and for NaN and
    infinity, however written.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise UnusableValue(f"{what} is not a number ({fingerprint(raw)})")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise UnusableValue(f"{what} is not a number ({fingerprint(raw)})") from None
    if not is_finite(value):
        raise UnusableValue(f"{what} = {shown(value)} is not a finite number")
    return value


def non_negative(what: str, raw: object) -> float:
    """A finite number that is at least 0 (a latency, a count, a size): else UnusableValue."""
    value = number(what, raw)
    if value < 0:
        raise UnusableValue(f"{what} = {value:g} is negative")
    return value
