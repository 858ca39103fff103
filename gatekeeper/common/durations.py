"""The one grammar for durations and instants on the command line, shared by every command.

A duration is a non-negative number with an optional unit: ``500ms``, ``30s``, ``90m``,
``24h``, ``7d``, or plain seconds (``30``). Anything longer than ``MAX_SECONDS`` (ten years)
is refused: no real window is that long, and ``timedelta`` overflows not far beyond.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from gatekeeper.errors import InvalidInputError

UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
DURATION = re.compile(r"^(\d{1,12}(?:\.\d{1,9})?)(ms|s|m|h|d)?$")
MAX_SECONDS = 10 * 365 * 86400.0
EXAMPLES = "500ms, 30s or 2m"


def parse_seconds(text: str, flag: str) -> float:
    """``500ms``, ``30s``, ``2m``, ``1h``, ``7d`` or plain seconds → seconds."""
    match = DURATION.match(text.strip())
    if not match:
        raise InvalidInputError(f"{flag}: {text!r} is not a duration like {EXAMPLES}")
    seconds = float(match[1]) * UNIT_SECONDS[match[2]]
    if seconds > MAX_SECONDS:
        raise InvalidInputError(f"{flag}: {text!r} is longer than ten years")
    return seconds


def positive_seconds(text: str, flag: str) -> float:
    """Like :func:`parse_seconds`, but zero is refused."""
    seconds = parse_seconds(text, flag)
    if seconds <= 0:
        raise InvalidInputError(f"{flag}: {text!r} must be longer than 0")
    return seconds


def parse_duration(text: str, flag: str) -> timedelta:
    """``90m``, ``24h``, ``7d`` → timedelta."""
    return timedelta(seconds=parse_seconds(text, flag))


def parse_instant(text: str | None, flag: str) -> datetime:
    """ISO 8601 (a trailing Z is UTC; no zone means UTC); None → now."""
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{flag}: '{text}' is not an ISO 8601 date/time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
