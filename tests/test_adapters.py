"""The registry's web address for links in reports: never credentials, never a crash."""

from __future__ import annotations

import pytest

from gatekeeper.adapters import web_address


@pytest.mark.parametrize(("uri", "address"), [
    ("https://alice:SECRET@mlflow.example.com:8443/base/?token=x#frag",
     "https://mlflow.example.com:8443/base"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("http://[::1]:5000/", "http://[::1]:5000"),
    ("sqlite:///.gatekeeper/mlflow.db", None),
    ("file:///tmp/mlruns", None),
    ("/tmp/mlruns", None),
    # Malformed: the registry step reports them as invalid input; this one must not raise.
    ("http://alice:MLSECRET@[::1", None),
    ("http://host:notaport/", None),
])
def test_web_address(uri: str, address: str | None) -> None:
    assert web_address(uri) == address
