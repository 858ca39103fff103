"""Masking credentials that URLs carry, in any text gatekeeper shows or records.

Tracking URIs and Prometheus URLs may hold a password (``https://user:pass@host``), a bare
token (``https://token@host``) or a secret query parameter (``?token=...``). Every message and
every value gatekeeper outputs goes through :func:`redact_secrets` before it leaves the process.
"""

from __future__ import annotations

import re

MASK = "***"

#: Never part of a URL unencoded: where a URL in a message, a repr or JSON text ends.
_NOT_IN_URL = r"\s\"<>{}\[\]\\|^`"
#: ``scheme://user:password@`` or ``scheme://token@``: everything before the ``@`` of the
#: authority is a credential except a user name followed by a password.
_USERINFO = re.compile(
    rf"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#{_NOT_IN_URL}]*)@")
#: Query (or fragment) parameters whose name says they hold a secret, e.g. ``?token=``,
#: ``&access_token=``, ``&api_key=``, ``&X-Api-Key=``, ``&password=``, ``&client_secret=``.
_SECRET_PARAM = re.compile(
    rf"(?P<name>[?&;#][^=&;#'{_NOT_IN_URL}]*?(?:token|api[_-]?key|apikey|password|passwd|pwd"
    rf"|secret|signature|credential|auth)[^=&;#'{_NOT_IN_URL}]*=)"
    rf"(?P<value>[^&;#'{_NOT_IN_URL}]*)",
    re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """``text`` with every credential in a URL it contains replaced by ``***``.

    ``https://alice:s3cret@host`` becomes ``https://alice:***@host`` (the user name helps tell
    accounts apart), ``https://tok@host`` becomes ``https://***@host``, and ``?token=abc``
    becomes ``?token=***``. Text without URLs is returned unchanged.
    """
    if "@" not in text and "=" not in text:
        return text
    return _SECRET_PARAM.sub(_mask_param, _USERINFO.sub(_mask_userinfo, text))


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _password = match["userinfo"].partition(":")
    if not colon:
        return f"{match['scheme']}{MASK}@"
    return f"{match['scheme']}{user}:{MASK}@"


def _mask_param(match: re.Match[str]) -> str:
    return f"{match['name']}{MASK}" if match["value"] else match[0]
