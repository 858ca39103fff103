"""The probe's URL rules: what it may contact, and how a URL is shown.

A URL may carry a secret (``user:pass@``, ``token@``, ``?token=``, ``?access_token=``,
``?api_key=``). :func:`redact_url` masks it; every URL the probe prints, refuses or writes
(summary, result.json, report.html, MLflow tags) passes through it first.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gatekeeper.errors import InvalidInputError

MASK = "***"
#: Query parameters whose values are secrets (compared case-insensitively).
SECRET_PARAMS = frozenset({"token", "access_token", "api_key", "apikey", "key", "password",
                           "secret", "auth", "sig", "signature"})


def redact_url(url: str) -> str:
    """``url`` with its credentials masked: ``http://***@host:9/p?token=***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # unparseable: nothing of it can be shown safely
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in pairs],
                          safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def check_url(url: str) -> None:
    """Only plain http(s) URLs to a host: the probe contacts nothing else."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise InvalidInputError(f"URL: {shown!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"URL: {shown!r} is not an http:// or https:// URL",
                                hint="the probe only sends HTTP requests to the URL it is given")
    if parts.query or parts.fragment or parts.username or parts.password or "@" in parts.netloc:
        raise InvalidInputError(f"URL: {shown!r} has a query, fragment or credentials",
                                hint="give scheme, host, port and an optional base path")
