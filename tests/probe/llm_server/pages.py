"""vLLM-named /metrics pages made by prometheus_client, the library vLLM itself exposes its
metrics with: the names, types, label names and buckets of vllm/v1/metrics/loggers.py."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LABELS = ("model_name", "engine")
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
               7.5, 10.0, 20.0, 40.0, 80.0)


class VllmServer:
    """A fake vLLM's metric state; ``page()`` is its /metrics text right now."""

    def __init__(self, old_names: bool = False) -> None:
        self.registry = CollectorRegistry()
        r, one = self.registry, ("m", "0")
        self.ttft = Histogram("vllm:time_to_first_token_seconds", "TTFT", LABELS,
                              buckets=TTFT_BUCKETS, registry=r).labels(*one)
        itl_name = ("vllm:time_per_output_token_seconds" if old_names
                    else "vllm:inter_token_latency_seconds")
        self.itl = Histogram(itl_name, "ITL", LABELS, buckets=ITL_BUCKETS,
                             registry=r).labels(*one)
        self.waiting = Gauge("vllm:num_requests_waiting", "waiting", LABELS,
                             registry=r).labels(*one)
        self.running = Gauge("vllm:num_requests_running", "running", LABELS,
                             registry=r).labels(*one)
        kv = "vllm:gpu_cache_usage_perc" if old_names else "vllm:kv_cache_usage_perc"
        self.kv = Gauge(kv, "KV", LABELS, registry=r).labels(*one)
        prefix = "vllm:gpu_prefix_cache_" if old_names else "vllm:prefix_cache_"
        self.hits = Counter(f"{prefix}hits", "hits", LABELS, registry=r).labels(*one)
        self.queries = Counter(f"{prefix}queries", "queries", LABELS, registry=r).labels(*one)
        self.tokens = Counter("vllm:generation_tokens", "tokens", LABELS,
                              registry=r).labels(*one)

    def page(self) -> str:
        return generate_latest(self.registry).decode()
