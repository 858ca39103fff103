"""``--server-metrics prometheus+URL#SELECTOR`` against a real Prometheus scraping a vLLM-named
exporter every second: the window's readings equal those of scraping the server directly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gatekeeper.errors import InvalidInputError
from gatekeeper.probe.server_metrics.prometheus_window import PrometheusWatch, split_source
from gatekeeper.probe.server_metrics.scrape import ScrapeError
from tests.probe.llm_server.pages import VllmServer
from tests.support.prometheus import instant_value, running_exporter, running_prometheus
from tests.support.server import free_port


def wait_for(url: str, promql: str, value: float) -> None:
    deadline = time.monotonic() + 30
    while instant_value(url, promql) != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"{promql} never reached {value}")
        time.sleep(0.2)


def test_the_window_asked_of_prometheus(tmp_path: Path) -> None:
    server = VllmServer()
    server.ttft.observe(9.0)
    server.tokens.inc(100)
    with running_exporter(server.page()) as exporter, \
            running_prometheus(tmp_path, exporter.address) as prom:
        wait_for(prom, "vllm:generation_tokens_total", 100.0)
        watch = PrometheusWatch(f'prometheus+{prom}#job="exporter"')
        watch.start()
        for _ in range(100):
            server.ttft.observe(0.03)
        server.tokens.inc(1000)
        for level in (2, 4, 6, 8):
            server.waiting.set(level)
            exporter.serve(server.page())
            time.sleep(1.2)
        wait_for(prom, "vllm:num_requests_waiting", 8.0)
        evidence = watch.stop()
    assert evidence is not None, watch.problem
    metrics = evidence.metrics()
    assert metrics["server.generation_tokens.delta"] == 1000
    assert metrics["server.ttft.count"] == 100 and metrics["server.ttft.p50_ms"] == 30.0
    assert metrics["server.requests_waiting.max"] == 8
    assert evidence.url == prom and evidence.servers == ["vllm"]


def test_a_prometheus_that_does_not_answer_fails_before_any_load() -> None:
    with pytest.raises(ScrapeError, match=r"^--server-metrics: cannot reach Prometheus at "):
        PrometheusWatch(f"prometheus+http://127.0.0.1:{free_port()}").start()
    with pytest.raises(InvalidInputError, match="give Prometheus' http:// or https:// base URL"):
        split_source("prometheus+ftp://x")
    assert split_source('prometheus+http://h:9090/p#job="v"') == ("http://h:9090/p", 'job="v"')
