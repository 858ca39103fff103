"""The one duration grammar every command's flags use."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gatekeeper.common.durations import parse_duration, parse_seconds, positive_seconds
from gatekeeper.errors import InvalidInputError


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("24h", 86400.0), ("7d", 604800.0),
    ("30", 30.0), ("1.5s", 1.5), (" 90m ", 5400.0),
])
def test_units(text: str, seconds: float) -> None:
    assert parse_seconds(text, "--x") == pytest.approx(seconds)


def test_max_age_and_probe_flags_share_it() -> None:
    assert parse_duration("90m", "--max-age") == timedelta(minutes=90)
    assert parse_duration("500ms", "--max-age") == timedelta(milliseconds=500)


@pytest.mark.parametrize(("text", "message"), [
    ("10x", "--x: '10x' is not a duration like 500ms, 30s or 2m"),
    ("-5s", "--x: '-5s' is not a duration like 500ms, 30s or 2m"),
    ("inf", "--x: 'inf' is not a duration like 500ms, 30s or 2m"),
    ("", "--x: '' is not a duration like 500ms, 30s or 2m"),
    ("99999999999d", "--x: '99999999999d' is longer than ten years"),
    ("9" * 40 + "s", f"--x: '{'9' * 40}s' is not a duration like 500ms, 30s or 2m"),
])
def test_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_seconds(text, "--x")
    assert str(info.value) == message


def test_zero_is_refused_where_a_length_is_needed() -> None:
    assert parse_seconds("0s", "--warmup") == 0.0
    with pytest.raises(InvalidInputError, match="must be longer than 0"):
        positive_seconds("0s", "--timeout")
