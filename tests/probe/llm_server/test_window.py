"""Window evidence: counters and histograms as deltas (history before the run left out),
Triton's cumulative microseconds over counts, gauges over samples, renames, saturation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gatekeeper.probe.server_metrics.attach import server_lines
from gatekeeper.probe.server_metrics.exposition import Scrape, parse_exposition
from gatekeeper.probe.server_metrics.registry import CONCEPTS, METRICS, by_name
from gatekeeper.probe.server_metrics.window import (
    bucket_quantile,
    queue_saturation,
    window_evidence,
)
from tests.probe.llm_server.pages import VllmServer

FIXTURES = Path(__file__).parent / "fixtures"


def at(text: str, t: float) -> Scrape:
    return parse_exposition(text, t)


def vllm_window(old_names: bool = False) -> tuple[Scrape, Scrape, list[Scrape]]:
    """History before the run (100 TTFTs of 5 s), then a known run: 50 TTFTs of 30 ms and 50
    of 70 ms, ITLs of 20 ms, a queue growing 0, 2, 4, 6, 8, 40 of 50 prompt tokens cached."""
    server = VllmServer(old_names)
    for _ in range(100):
        server.ttft.observe(5.0)
    server.hits.inc(1000)
    server.queries.inc(1000)
    before = at(server.page(), 0.0)
    during = [before]
    for step in range(1, 5):
        server.waiting.set(2 * step)
        server.kv.set(0.1 * step)
        during.append(at(server.page(), float(step)))
    for _ in range(50):
        server.ttft.observe(0.03)
        server.ttft.observe(0.07)
        server.itl.observe(0.02)
    server.hits.inc(40)
    server.queries.inc(50)
    server.tokens.inc(5000)
    after = at(server.page(), 5.0)
    return before, after, [*during, after]


def test_histogram_quantiles_come_from_the_windows_bucket_deltas() -> None:
    evidence = window_evidence("u", *vllm_window())
    ttft = evidence.readings["ttft"].values
    # p50: rank 50 of 100 fills (0.02, 0.04] exactly -> its upper bound; p90: rank 90, 40 into
    # the 50 of (0.06, 0.08] -> 0.06 + 0.02 * 40/50. The 5 s history is not in the window.
    assert ttft["p50_ms"] == pytest.approx(40.0) and ttft["p90_ms"] == pytest.approx(76.0)
    assert ttft["p99_ms"] == pytest.approx(79.6) and ttft["mean_ms"] == pytest.approx(50.0)
    assert ttft["count"] == 100
    assert evidence.readings["itl"].values["p50_ms"] == pytest.approx(17.5)  # (0.01, 0.025]
    metrics = evidence.metrics()
    assert metrics["server.ttft.p90_ms"] == pytest.approx(76.0)
    assert metrics["server.generation_tokens.delta"] == 5000
    assert metrics["server.prefix_cache.hit_ratio"] == pytest.approx(0.8)


def test_gauges_are_max_and_mean_over_the_samples_and_a_growing_queue_saturates() -> None:
    evidence = window_evidence("u", *vllm_window())
    # Samples: before (0), 2, 4, 6, 8, after (8).
    assert evidence.readings["requests_waiting"].values == {"max": 8.0, "mean": 28 / 6}
    assert evidence.metrics()["server.kv_cache_usage.max"] == pytest.approx(0.4)
    assert evidence.saturation is not None and evidence.saturation.saturated
    assert evidence.metrics()["server.saturated"] == 1.0
    assert evidence.metrics()["server.requests_waiting.slope_per_s"] == pytest.approx(12 / 7)


@pytest.mark.parametrize(("levels", "saturated"), [
    ([0, 2, 4, 6, 8, 10], True),
    ([5, 5, 5, 5, 5, 5], False),  # a long queue that does not grow
    ([0, 8, 9, 9, 8, 0], False),  # grew, then drained
    ([0, 0, 0, 0, 0, 0.5], False),  # slope > 0 but not a request more on average
    ([0, 4, 8], False),  # too few samples to tell
])
def test_saturation_rule(levels: list[float], saturated: bool) -> None:
    points = [(float(t), float(w)) for t, w in enumerate(levels)]
    assert queue_saturation(points).saturated is saturated


def test_older_vllm_names_are_read_and_marked_and_newer_ones_win() -> None:
    old = window_evidence("u", *vllm_window(old_names=True))
    assert old.readings["itl"].metric.name == "vllm:time_per_output_token_seconds"
    assert old.readings["kv_cache_usage"].to_dict()["older_name_of"] == "vllm:kv_cache_usage_perc"
    assert old.metrics()["server.prefix_cache.hit_ratio"] == pytest.approx(0.8)
    # vLLM 0.9 to 0.10 export the old and the new names side by side.
    before = parse_exposition("", 0.0)
    both = parse_exposition(VllmServer(old_names=True).page() + VllmServer().page(), 5.0)
    new = window_evidence("u", before, both, [before, both])
    assert new.readings["kv_cache_usage"].metric.name == "vllm:kv_cache_usage_perc"


def test_triton_cumulative_microseconds_are_means_over_count_deltas() -> None:
    before = at((FIXTURES / "triton_before.prom").read_text(), 0.0)
    after = at((FIXTURES / "triton_after.prom").read_text(), 10.0)
    evidence = window_evidence("u", before, after, [before, after])
    values = {c: r.values for c, r in evidence.readings.items()}
    assert values["e2e"] == {"mean_ms": 200.0, "count": 200.0}  # 40 s over 200 requests
    assert values["queue_time"]["mean_ms"] == 10.0 and values["compute_time"]["mean_ms"] == 150.0
    assert values["requests_failed"] == {"delta": 3.0}
    assert values["gpu_util"] == {"max": 0.9, "mean": 0.5}
    assert values["gpu_memory_used"]["max"] == 4096.0  # bytes read as MiB
    assert evidence.servers == ["triton"] and "ttft" in evidence.to_dict()["missing"]


def test_dcgm_percent_is_a_ratio_and_gpus_combine_by_the_registry_rule() -> None:
    page = at((FIXTURES / "dcgm.prom").read_text(), 0.0)
    evidence = window_evidence("u", page, page, [page])
    values = {c: r.values["max"] for c, r in evidence.readings.items()}
    assert values == {"gpu_util": pytest.approx(0.7), "sm_active": pytest.approx(0.4),
                      "gpu_memory_used": 71000.0}


def test_a_counter_reset_counts_its_value_after_as_the_increase() -> None:
    before = at('vllm:generation_tokens_total{engine="0"} 900\n', 0.0)
    after = at('vllm:generation_tokens_total{engine="0"} 30\n'
               'vllm:generation_tokens_total{engine="1"} 5\n', 1.0)
    evidence = window_evidence("u", before, after, [])
    assert evidence.readings["generation_tokens"].values["delta"] == 35.0


def test_bucket_quantile_edges() -> None:
    assert math.isnan(bucket_quantile(0.5, []))
    assert math.isnan(bucket_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))
    # Everything above the last finite bound: only that bound is known.
    assert bucket_quantile(0.99, [(1.0, 0.0), (2.0, 1.0), (math.inf, 10.0)]) == 2.0
    assert bucket_quantile(0.5, [(1.0, 10.0), (math.inf, 10.0)]) == 0.5


def test_the_summary_sets_the_server_ttft_beside_the_clients_per_endpoint() -> None:
    evidence = window_evidence("u", *vllm_window())
    lines = server_lines(evidence, {"ttft.chat.p50_ms": 52.0, "ttft.chat.p99_ms": 91.0,
                                    "latency.chat.p99_ms": 400.0})
    assert "  chat: TTFT p50: client 52.0 ms, server 40.0 ms (vllm:time_to_first_token_seconds)" \
        in lines
    assert any(line.startswith("  chat: TTFT p99: client 91.0 ms, server 79.6 ms")
               for line in lines)
    assert not any("latency" in line for line in lines)


def test_the_registry_names_each_metric_once_and_renames_point_at_a_row() -> None:
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    for metric in METRICS:
        if metric.renamed_to:
            newer = by_name(metric.renamed_to)
            assert newer is not None and newer.concept == metric.concept
            assert names.index(newer.name) < names.index(metric.name)
        if metric.kind == "cumulative_us":
            assert metric.count_of and metric.unit == "us"
    assert {"ttft", "itl", "e2e", "queue_time", "kv_cache_usage", "requests_waiting",
            "gpu_util", "sm_active", "gpu_memory_used"} <= set(CONCEPTS)
