"""redact_secrets (gatekeeper.common.redact) and call_with_deadline (gatekeeper.common.failures):
the two helpers every server-facing message and call of the evidence sources goes through."""

from __future__ import annotations

import json
import threading
import time

import pytest

from gatekeeper.common.failures import DeadlinePassed, call_with_deadline
from gatekeeper.common.redact import redact_secrets


@pytest.mark.parametrize("text, shown", [
    ("http://alice:s3cret@host:5000", "http://alice:***@host:5000"),
    ("https://tok3n@host/api", "https://***@host/api"),
    ("reach http://alice:p@ss@h:5000/x: refused", "reach http://alice:***@h:5000/x: refused"),
    ("http://h/?token=abc&x=1", "http://h/?token=***&x=1"),
    ("http://h/p?access_token=abc", "http://h/p?access_token=***"),
    ("http://h/p?a=1&api_key=K&time=2", "http://h/p?a=1&api_key=***&time=2"),
    ("http://h/p?X-Api-Key=K", "http://h/p?X-Api-Key=***"),
    ("postgresql://u:pw@db/x?password=zz&sslmode=require",
     "postgresql://u:***@db/x?password=***&sslmode=require"),
    ("http://h/p?client_secret=s#frag", "http://h/p?client_secret=***#frag"),
    ("'https://u:p@h' and 'https://v:q@k'", "'https://u:***@h' and 'https://v:***@k'"),
], ids=lambda v: v[:24])
def test_credentials_in_urls_are_masked(text: str, shown: str) -> None:
    assert redact_secrets(text) == shown


@pytest.mark.parametrize("text", [
    "sqlite:////tmp/mlflow.db",
    "model 'fraud' has no version 3; its versions: 1, 2",
    "owners: p@example.com",
    "http://host:5000/api?query=sum(rate(x[5m]))&time=1.000",
    "a=b, threshold=0.5",
    "http://h/?token=",
])
def test_text_without_credentials_is_unchanged(text: str) -> None:
    assert redact_secrets(text) == text


def test_a_call_that_returns_in_time_returns_its_value() -> None:
    assert call_with_deadline(lambda: 42, 5.0) == 42


def test_a_call_that_raises_raises_in_the_caller() -> None:
    def fail() -> None:
        raise KeyError("gone")

    with pytest.raises(KeyError, match="gone"):
        call_with_deadline(fail, 5.0)


def test_a_call_past_its_deadline_is_abandoned() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(DeadlinePassed, match=r"slow: no complete answer within 0\.5 s"):
        call_with_deadline(lambda: release.wait(60), 0.5, "slow")
    assert time.monotonic() - started < 10
    release.set()


def test_json_text_stays_json_and_only_the_credentials_change() -> None:
    """cli/outputs masks whole renderings: a URL ends at a JSON string's closing quote."""
    value = {"a": "http://x", "owner": "p@example.com", "uri": "http://u:p@h/?token=t",
             "q": "?x", "note": "mytoken=5"}
    shown = redact_secrets(json.dumps(value, separators=(",", ":")))
    assert json.loads(shown) == {**value, "uri": "http://u:***@h/?token=***"}
