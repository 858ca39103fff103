"""The probe fails closed through the real CLI, in bounded time: a slow target with few
connections cannot stretch a run (waiting for a connection counts against the timeout), a
credential in the URL is never echoed, and a hostile mix file is one located problem (exit 2),
never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.harness import assert_fails_closed, gatekeeper
from tests.probe.target import Reply, Target, always
from tests.probe.test_importers import K6

SECRET = "s3cr3t-pa55"
ENDPOINT = ["--endpoint", "slow=/"]


def test_a_slow_target_with_few_connections_ends_within_duration_plus_timeout(
        tmp_path: Path) -> None:
    # 20/s for 5 s into 4 connections answering in 1.5 s: about 2.7 answers/s fit, so most
    # requests never get a connection. Before, each waited as long as it took (a 775 s run);
    # now each gives up at its 2 s timeout, and the run ends at about 5 + 2 s.
    duration_s, timeout_s = 5.0, 2.0
    with Target(always(Reply(delay_s=1.5))) as url:
        run = gatekeeper("probe", url, *ENDPOINT, "--rate", "20", "--duration", "5s",
                         "--warmup", "1s", "--timeout", "2s", "--connections", "4",
                         "--min-samples", "1", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert_fails_closed(run, codes={1}, within_s=duration_s + timeout_s + 45)
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    slow = result["endpoints"][0]
    assert slow["errors"]["timeout"] > slow["requests"] / 2, slow["errors"]
    assert not result["usable"]
    assert any("target rate NOT held" in p for p in result["problems"]), result["problems"]


@pytest.mark.parametrize(("url", "shown"), [
    (f"http://user:{SECRET}@127.0.0.1:9", "http://***@127.0.0.1:9"),
    (f"http://{SECRET}@127.0.0.1:9/v1", "http://***@127.0.0.1:9/v1"),
    (f"http://127.0.0.1:9/?token={SECRET}", "http://127.0.0.1:9/?token=***"),
    (f"http://127.0.0.1:9/?access_token={SECRET}", "http://127.0.0.1:9/?access_token=***"),
    (f"http://127.0.0.1:9/?x=1&api_key={SECRET}", "http://127.0.0.1:9/?x=1&api_key=***"),
])
def test_a_credentialed_url_is_refused_without_echoing_the_credential(
        tmp_path: Path, url: str, shown: str) -> None:
    run = gatekeeper("probe", url, *ENDPOINT, "--rate", "5", cwd=tmp_path)
    assert_fails_closed(run, codes={2}, within_s=30,
                        message=f"URL: '{shown}' has a query, fragment or credentials")
    assert SECRET not in run.output
    assert not (tmp_path / ".gatekeeper").exists()  # refused before anything was written


def test_an_imported_run_labelled_with_a_credentialed_url_never_writes_it(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = gatekeeper("probe", f"http://ci:{SECRET}@127.0.0.1:9/?api_key={SECRET}",
                     "--import-k6", str(K6), "--out", str(out), cwd=tmp_path)
    assert_fails_closed(run, codes={1}, within_s=30)  # no --target-rps: not usable
    assert "probe http://***@127.0.0.1:9/?api_key=***: import of k6 summary" in run.out
    assert SECRET not in run.output
    for name in ("result.json", "report.html"):
        text = (out / name).read_text()
        assert SECRET not in text, name
        assert "http://***@127.0.0.1:9/?api_key=***" in text, name


def write_mix(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "mix.jsonl"
    path.write_bytes(data)
    return path


OK_LINE = b'{"endpoint": "a", "path": "/"}\n'
BAD_MIXES = {
    "deeply nested payload": (
        OK_LINE + b'{"endpoint": "a", "path": "/", "payload": ' + b"[" * 100_000
        + b"]" * 100_000 + b"}\n",
        "mix.jsonl:2:1: payload: nested deeper than 64 levels"),
    "weights overflowing when summed": (
        b'{"endpoint": "a", "path": "/", "weight": 1.7e308}\n' * 2,
        "mix.jsonl:2:1: weight: the weights up to this line add up to more than the largest "
        "number"),
    "an infinite weight": (
        OK_LINE + b'{"endpoint": "a", "path": "/", "weight": Infinity}\n',
        "mix.jsonl:2:1: weight: must be a finite number"),
    "a NaN weight": (
        OK_LINE + b'{"endpoint": "a", "path": "/", "weight": NaN}\n',
        "mix.jsonl:2:1: weight: must be a finite number"),
    "a weight past the float range": (
        OK_LINE + b'{"endpoint": "a", "path": "/", "weight": 1' + b"0" * 400 + b"}\n",
        "mix.jsonl:2:1: weight: must be a finite number"),
    "a binary file": (
        OK_LINE + b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\n",
        "mix.jsonl:2:1: not UTF-8 text (byte 0x89)"),
    "an escaped NUL in the path": (
        OK_LINE + b'{"endpoint": "a", "path": "/x\\u0000y"}\n',
        "mix.jsonl:2:1: path: must not contain control characters"),
    "a raw NUL in the endpoint": (
        OK_LINE + b'{"endpoint": "a\x00", "path": "/"}\n',
        "mix.jsonl:2:16: invalid JSON: Invalid control character at"),
}


@pytest.mark.parametrize("case", sorted(BAD_MIXES))
def test_a_hostile_mix_file_is_one_located_problem(tmp_path: Path, case: str) -> None:
    data, message = BAD_MIXES[case]
    write_mix(tmp_path, data)
    # The target is never contacted: the mix is refused first (port 9: nothing listens).
    run = gatekeeper("probe", "http://127.0.0.1:9", "--mix", "mix.jsonl", "--rate", "5",
                     cwd=tmp_path)
    assert_fails_closed(run, codes={2}, within_s=30, message=message)
    assert "hint: docs/probe.md describes the request mix format" in run.err
