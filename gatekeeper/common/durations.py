"""Parsing of durations and instants given on the command line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from gatekeeper.errors import InvalidInputError

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def parse_duration(text: str, flag: str) -> timedelta:
    """``90m``, ``24h``, ``7d`` → timedelta."""
    match = DURATION.match(text.strip())
    if not match:
        raise InvalidInputError(f"{flag}: '{text}' is not a duration like 90m, 24h or 7d")
    return timedelta(**{UNITS[match[2]]: float(match[1])})


def parse_instant(text: str | None, flag: str) -> datetime:
    """ISO 8601 (a trailing Z is UTC; no zone means UTC); None → now."""
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{flag}: '{text}' is not an ISO 8601 date/time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
