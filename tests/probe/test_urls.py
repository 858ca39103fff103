"""URLs: what the probe may contact, and a credential never shown."""

from __future__ import annotations

import pytest

from gatekeeper.errors import InvalidInputError
from gatekeeper.probe.urls import check_url, redact_url


@pytest.mark.parametrize(("url", "shown"), [
    ("http://127.0.0.1:5001/v1", "http://127.0.0.1:5001/v1"),
    ("http://user:pw@127.0.0.1:9", "http://***@127.0.0.1:9"),
    ("https://token@host/x", "https://***@host/x"),
    ("http://host/?token=t", "http://host/?token=***"),
    ("http://host/?ACCESS_TOKEN=t&page=2", "http://host/?ACCESS_TOKEN=***&page=2"),
    ("http://host/?api_key=k#frag", "http://host/?api_key=***#frag"),
    ("http://[::1", "***"),  # unparseable: nothing of it is shown
])
def test_redact_url_masks_every_credential(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://host/", "URL: 'ftp://host/' is not an http:// or https:// URL"),
    ("http://u:secret@host/", "URL: 'http://***@host/' has a query, fragment or credentials"),
    ("http://host/?token=secret",
     "URL: 'http://host/?token=***' has a query, fragment or credentials"),
    ("http://host:port/", "URL: 'http://host:port/': Port could not be cast to integer value "
     "as 'port'"),
])
def test_check_url_refuses_without_echoing_secrets(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_url(url)
    assert str(caught.value) == message
    assert "secret" not in str(caught.value)


def test_check_url_accepts_a_plain_url() -> None:
    check_url("https://127.0.0.1:8443/base")
