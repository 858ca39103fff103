"""What `gatekeeper probe` sends, seen by the server: ``--endpoint NAME=METHOD:PATH`` with
``--body FILE`` (the exact bytes and their content type), and ``--rate`` with a replayed trace
(the rate the server measures). The server is a loopback HTTP/1.1 server that records every
request it receives; rates are judged within generous bounds (the machine is shared)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gatekeeper.cli import run


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    at_s: float  # time.monotonic() when its head was read
    method: str
    path: str
    content_type: str | None
    body: bytes


class Recorder(BaseHTTPRequestHandler):
    """Answers 200 ``{}`` to any method and records what came in."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the probe's pool expects
    seen: list[Seen]
    lock: threading.Lock

    def answer(self) -> None:
        at = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.lock:
            self.seen.append(Seen(at, self.command, self.path,
                                  self.headers.get("Content-Type"), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@pytest.fixture
def server() -> Iterator[tuple[str, list[Seen]]]:
    """``(url, seen)``: a recording server on 127.0.0.1 and the requests it received."""
    seen: list[Seen] = []
    handler = type("Handler", (Recorder,), {"seen": seen, "lock": threading.Lock()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def probe(*args: str) -> int:
    return run(["probe", *args])


SHORT = ["--rate", "40", "--duration", "1.5s", "--warmup", "0.5s", "--min-samples", "1"]


def test_post_endpoint_sends_the_json_body_file_as_it_is(
        server: tuple[str, list[Seen]], tmp_path: Path) -> None:
    url, seen = server
    body = tmp_path / "body.json"
    # Spacing and key order that re-serialising would change: the file's bytes go as they are.
    body.write_bytes(b'{"inputs":  [[1.50, 2]], "b": 1,\n "a": "\xc3\xa9"}\n')
    code = probe(url, "--endpoint", "predict=POST:/v1/predict", "--endpoint", "health=/ping",
                 "--body", str(body), *SHORT, "--out", str(tmp_path / "out"))
    assert code in (0, 1)
    posts = [s for s in seen if s.method == "POST"]
    gets = [s for s in seen if s.method == "GET"]
    assert posts and gets and len(posts) + len(gets) == len(seen)
    assert {s.path for s in posts} == {"/v1/predict"} and {s.path for s in gets} == {"/ping"}
    assert {s.body for s in posts} == {body.read_bytes()}
    assert {s.content_type for s in posts} == {"application/json"}
    assert {s.body for s in gets} == {b""} and {s.content_type for s in gets} == {None}
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert [e["endpoint"] for e in result["endpoints"]] == ["health", "predict"]
    assert result["settings"]["mix"] == (f"--endpoint predict=POST:/v1/predict health=/ping "
                                         f"--body {body}")


def test_a_body_that_is_not_json_goes_as_octet_stream(
        server: tuple[str, list[Seen]], tmp_path: Path) -> None:
    url, seen = server
    body = tmp_path / "image.bin"
    body.write_bytes(bytes(range(256)) + b"NaN")
    code = probe(url, "--endpoint", "upload=put:/v1/upload", "--body", str(body), *SHORT,
                 "--out", str(tmp_path / "out"))
    assert code in (0, 1)
    assert seen and {(s.method, s.path) for s in seen} == {("PUT", "/v1/upload")}
    assert {s.body for s in seen} == {body.read_bytes()}
    assert {s.content_type for s in seen} == {"application/octet-stream"}


def trace(path: Path, gaps: list[float]) -> Path:
    """A replay mix: one GET per arrival, numbered in order, at the given gaps (seconds)."""
    at, lines = 1_700_000_000.0, []
    for i, gap in enumerate([0.0, *gaps]):
        at += gap
        lines.append(json.dumps({"endpoint": "get", "method": "GET", "path": f"/r/{i}",
                                 "timestamp": at}))
    path.write_text("\n".join(lines) + "\n")
    return path


def server_rate(seen: list[Seen]) -> float:
    """Arrivals per second as the server saw them: (n - 1) over first-to-last."""
    times = sorted(s.at_s for s in seen)
    return (len(times) - 1) / (times[-1] - times[0])


def test_rate_time_scales_a_replayed_trace(server: tuple[str, list[Seen]], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url, seen = server
    # 61 arrivals: bursts (10 ms gaps) between pauses (90 ms): recorded mean rate 20/s, 3 s.
    mix = trace(tmp_path / "trace.jsonl", [0.01, 0.09] * 30)
    code = probe(url, "--mix", str(mix), "--schedule", "replay", "--rate", "60",
                 "--warmup", "0s", "--min-samples", "1", "--out", str(tmp_path / "out"))
    assert code in (0, 1)
    assert sorted(s.path for s in seen) == sorted(f"/r/{i}" for i in range(61))  # each once
    # Scaled: 60/s over about 1 s; unscaled it would be 20/s over 3 s.
    assert 40 <= server_rate(seen) <= 90, server_rate(seen)
    assert capsys.readouterr().out.startswith(
        f"probe {url}: replay of recorded arrivals time-scaled to 60/s (for 1.001 s)")


def test_replay_without_rate_keeps_the_recorded_rate(server: tuple[str, list[Seen]],
                                                     tmp_path: Path) -> None:
    url, seen = server
    mix = trace(tmp_path / "trace.jsonl", [0.01, 0.09] * 15)
    code = probe(url, "--mix", str(mix), "--schedule", "replay", "--warmup", "0s",
                 "--min-samples", "1", "--out", str(tmp_path / "out"))
    assert code in (0, 1)
    assert len(seen) == 31
    assert 14 <= server_rate(seen) <= 30, server_rate(seen)  # recorded: 20/s


@pytest.mark.parametrize(("extra", "message"), [
    (["--endpoint", "a=FETCH:/x", "--rate", "1"],
     "--endpoint: 'a=FETCH:/x' is not NAME, NAME=/PATH or NAME=METHOD:/PATH (METHOD: DELETE, "
     "GET, PATCH, POST, PUT)"),
    (["--endpoint", "a=POST:x", "--rate", "1"],
     "--endpoint: 'a=POST:x' is not NAME, NAME=/PATH or NAME=METHOD:/PATH (METHOD: DELETE, "
     "GET, PATCH, POST, PUT)"),
    (["--endpoint", "a=POST:/x", "--body", "{missing}", "--rate", "1"],
     "--body: cannot read {missing}: No such file or directory"),
    (["--endpoint", "a=/x", "--body", "{body}", "--rate", "1"],
     "--body: no --endpoint sends a body; declare one as NAME=POST:/PATH"),
    (["--mix", "{trace}", "--body", "{body}", "--schedule", "replay"],
     "--body: applies to --endpoint only (each --mix line carries its own payload)"),
    (["--endpoint", "a=POST:/x", "--body", "{binary}", "--rate", "1", "--engine", "locust"],
     "--body: {binary} is not UTF-8 text, and --engine locust sends text bodies only"),
    (["--mix", "{trace}", "--schedule", "replay", "--rate", "0"],
     "--rate: must be a positive number, got 0"),
    (["--mix", "{instant}", "--schedule", "replay", "--rate", "5"],
     "--rate: the trace's arrivals all share one timestamp: it has no rate to scale"),
    (["--import-k6", "{body}", "--body", "{body}"],
     "--import-k6: --body has no meaning with an imported file (nothing is sent)"),
])
def test_bad_inputs_are_one_line_naming_the_flag(
        extra: list[str], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    files = {"missing": tmp_path / "missing.json", "body": tmp_path / "body.json",
             "binary": tmp_path / "body.bin", "trace": trace(tmp_path / "t.jsonl", [0.1, 0.1]),
             "instant": trace(tmp_path / "i.jsonl", [0.0, 0.0])}
    files["body"].write_text('{"inputs": [[1]]}')
    files["binary"].write_bytes(b"\xff\xfe\x00")
    args = [a.format(**files) for a in extra]
    assert probe("http://127.0.0.1:9", *args) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "gatekeeper: error: " + message.format(**files)
    assert "Traceback" not in "\n".join(err)


def test_slo_flags_are_drawn_on_the_pictures_and_the_page(
        server: tuple[str, list[Seen]], tmp_path: Path) -> None:
    from gatekeeper.render.probe.plots import SLO_COLOURS
    from tests.render.test_probe_objectives import pixels_of

    url, _seen = server
    out = tmp_path / "out"
    code = probe(url, "--endpoint", "root=/", *SHORT, "--slo-p95-ms", "400",
                 "--slo-p99-ms", "900", "--out", str(out))
    assert code in (0, 1)
    page = (out / "report.html").read_text()
    assert "<h2>Objectives</h2>" in page
    assert "<td>root</td><td>p95 &lt;= 400 ms</td>" in page
    assert "<td>root</td><td>p99 &lt;= 900 ms</td>" in page
    for picture in ("latency.png", "percentiles.png"):
        png = (out / picture).read_bytes()
        assert all(pixels_of(png, c) > 100 for c in SLO_COLOURS.values()), picture


def test_a_bad_slo_flag_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert probe("http://127.0.0.1:9", "--endpoint", "a", "--rate", "1",
                 "--slo-p95-ms", "-5") == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "gatekeeper: error: --slo-p95-ms: must be a positive number, got -5")
