"""Scraping a real loopback /metrics server whose page changes on every scrape (a known
sequence), alone and around a real probe run through ``run_probe``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gatekeeper.cli import run
from gatekeeper.errors import InvalidInputError
from gatekeeper.probe.modes import PlainRun
from gatekeeper.probe.run import ProbeOutcome, ProbeRequest, run_probe
from gatekeeper.probe.server_metrics.scrape import ScrapeError, ServerWatch, check_metrics_url
from gatekeeper.render.probe import summary_lines
from tests.probe.llm_server.pages import VllmServer
from tests.probe.target import Reply, Target, always
from tests.probe.test_modes import Recorded, sending
from tests.support.server import free_port


@contextmanager
def metrics_server(pages: Sequence[str]) -> Iterator[tuple[str, list[int]]]:
    """Serves ``pages[k]`` to the k-th GET of /metrics (the last one from then on); yields the
    URL and a one-item list holding how many pages were served."""
    served = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self.send_error(404)
                return
            with lock:
                page = pages[min(served[0], len(pages) - 1)]
                served[0] += 1
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics", served
    finally:
        server.shutdown()
        server.server_close()


def growing_queue_pages() -> list[str]:
    """Page 0: history; pages 1..6: the queue at 2, 4 ... 12 while 100 TTFTs of 30 ms and
    1,000 tokens arrive (all by page 1, so every later scrape agrees on the deltas)."""
    server = VllmServer()
    server.ttft.observe(9.0)
    server.tokens.inc(100)
    pages = [server.page()]
    for _ in range(100):
        server.ttft.observe(0.03)
    server.tokens.inc(1000)
    for step in range(1, 7):
        server.waiting.set(2 * step)
        pages.append(server.page())
    return pages


def test_a_watch_reads_the_window_and_sees_the_queue_grow() -> None:
    with metrics_server(growing_queue_pages()) as (url, served):
        watch = ServerWatch(url, every_s=0.02)
        watch.start()
        deadline = time.monotonic() + 30
        while served[0] < 7 and time.monotonic() < deadline:
            time.sleep(0.01)
        evidence = watch.stop()
    assert evidence is not None and watch.failed_samples == 0
    metrics = evidence.metrics()
    assert metrics["server.generation_tokens.delta"] == 1000
    assert metrics["server.ttft.count"] == 100
    assert metrics["server.ttft.p50_ms"] == pytest.approx(30.0)  # (0.02, 0.04], rank 50 of 100
    assert metrics["server.requests_waiting.max"] == 12
    assert evidence.saturation is not None and evidence.saturation.saturated
    assert evidence.samples >= 8 and evidence.servers == ["vllm"]


def test_an_unreadable_metrics_page_is_one_line_naming_the_url() -> None:
    bad = r"^--server-metrics: http://127\.0\.0\.1:\d+/metrics is not Prometheus text: line 1: "
    with metrics_server(["vllm:x{ 1\n"]) as (url, _), \
            pytest.raises(ScrapeError, match=bad + "bad label at column 9$"):
        ServerWatch(url).start()
    refused = f"http://127.0.0.1:{free_port()}/metrics"
    with pytest.raises(ScrapeError, match=r"^--server-metrics: cannot read http"):
        ServerWatch(refused).start()
    with pytest.raises(InvalidInputError, match=r"not an http:// or https:// URL"):
        check_metrics_url("file:///etc/passwd")


def test_a_probe_run_carries_the_servers_evidence_into_metrics_result_and_summary() -> None:
    with metrics_server(growing_queue_pages()) as (metrics_url, _), \
            Target(always(Reply())) as url:
        outcome = run_probe(ProbeRequest(url, PlainRun(sending()), min_samples=10,
                                         server_metrics=metrics_url),
                            Recorded(), lambda done: ())
    assert isinstance(outcome, ProbeOutcome)
    assert outcome.metrics["server.generation_tokens.delta"] == 1000
    assert outcome.metrics["server.ttft.p50_ms"] == pytest.approx(30.0)
    server = outcome.to_dict()["server_metrics"]
    assert server["url"] == metrics_url and server["readings"]["ttft"]["count"] == 100
    assert any(line.startswith("server metrics: vllm at ") for line in summary_lines(outcome))


def test_the_cli_flag_reaches_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    with metrics_server(growing_queue_pages()) as (metrics_url, _), \
            Target(always(Reply())) as url:
        code = run(["probe", url, "--endpoint", "ping", "--rate", "20", "--duration", "1.5s",
                    "--warmup", "0.5s", "--min-samples", "5", "--out", str(tmp_path),
                    "--server-metrics", metrics_url])
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["metrics"]["server.generation_tokens.delta"] == 1000
    assert f"server metrics: vllm at {metrics_url}" in out
