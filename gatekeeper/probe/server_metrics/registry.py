"""One table: our concept -> each server's metric name, its type, unit and renames.

Names are the servers' documented ones (vLLM ``vllm/v1/metrics/loggers.py``; TGI
``docs/source/reference/metrics.md``; Triton ``docs/user_guide/metrics.md``; dcgm-exporter
``etc/default-counters.csv`` and its DCP list). A metric that was renamed has one row per name:
the newer row first, the older one naming the newer in ``renamed_to``; a scrape that carries
both (vLLM exports both for a few releases) is read under the newer name.

Kinds:

- ``counter``: a monotonic total; the window's reading is its increase. prometheus_client
  writes counters with a ``_total`` suffix (``vllm:prompt_tokens_total``); the name here is
  the one the server declares, and the suffix is tried too.
- ``histogram``: ``_bucket``/``_sum``/``_count`` series; quantiles come from bucket deltas.
- ``cumulative_us``: Triton's cumulative microseconds (a counter of time): the window's mean
  per request is its increase over the increase of ``count_of``.
- ``gauge``: a level; read as max and mean over the samples taken during the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram", "cumulative_us"]
Server = Literal["vllm", "tgi", "triton", "dcgm"]
#: How the series of one metric (per engine, per model, per GPU) combine into one reading.
Across = Literal["sum", "mean"]


@dataclass(frozen=True)
class ServerMetric:
    """One server's metric for one of our concepts."""

    concept: str
    server: Server
    name: str
    kind: Kind
    unit: str  # "s", "ms", "us", "ratio", "percent", "MiB", "bytes", "requests", "tokens"
    across: Across = "sum"
    renamed_to: str | None = None  # this name is the OLDER one; the newer is renamed_to
    count_of: str | None = None  # cumulative_us: the counter its time is divided by
    note: str = ""

    @property
    def scale_to_seconds(self) -> float:
        """Factor from this metric's time unit to seconds (1 for non-time units)."""
        return {"s": 1.0, "ms": 1e-3, "us": 1e-6}.get(self.unit, 1.0)


def _m(concept: str, server: Server, name: str, kind: Kind, unit: str, **more: str) -> ServerMetric:
    return ServerMetric(concept, server, name, kind, unit, **more)  # type: ignore[arg-type]


#: Every metric we read, newest names first within a concept and server.
METRICS: tuple[ServerMetric, ...] = (
    # --- latency: time to first token, between tokens, end to end, in the queue ---------------
    _m("ttft", "vllm", "vllm:time_to_first_token_seconds", "histogram", "s"),
    _m("ttft", "triton", "nv_inference_first_response_histogram_ms", "histogram", "ms",
       note="opt-in (--metrics-config histogram_latencies=true); the first response chunk, "
       "not necessarily the first token"),
    _m("itl", "vllm", "vllm:inter_token_latency_seconds", "histogram", "s",
       note="every gap between output tokens of a request, pooled"),
    _m("itl", "vllm", "vllm:time_per_output_token_seconds", "histogram", "s",
       renamed_to="vllm:inter_token_latency_seconds",
       note="older name; despite it, per-iteration gaps (our ITL), not per-request TPOT"),
    _m("tpot", "vllm", "vllm:request_time_per_output_token_seconds", "histogram", "s",
       note="per request: decode time over output tokens - 1 (our TPOT)"),
    _m("tpot", "tgi", "tgi_request_mean_time_per_token_duration", "histogram", "s",
       note="per request mean time per token"),
    _m("e2e", "vllm", "vllm:e2e_request_latency_seconds", "histogram", "s"),
    _m("e2e", "tgi", "tgi_request_duration", "histogram", "s"),
    _m("e2e", "triton", "nv_inference_request_duration_us", "cumulative_us", "us",
       count_of="nv_inference_request_success",
       note="includes cached requests; a mean, Triton counts no buckets by default"),
    _m("queue_time", "vllm", "vllm:request_queue_time_seconds", "histogram", "s"),
    _m("queue_time", "tgi", "tgi_request_queue_duration", "histogram", "s"),
    _m("queue_time", "triton", "nv_inference_queue_duration_us", "cumulative_us", "us",
       count_of="nv_inference_request_success"),
    _m("compute_time", "triton", "nv_inference_compute_infer_duration_us", "cumulative_us",
       "us", count_of="nv_inference_request_success",
       note="excludes cached requests, which the count includes"),
    _m("prefill_time", "vllm", "vllm:request_prefill_time_seconds", "histogram", "s"),
    _m("decode_time", "vllm", "vllm:request_decode_time_seconds", "histogram", "s"),
    # --- load levels --------------------------------------------------------------------------
    _m("requests_waiting", "vllm", "vllm:num_requests_waiting", "gauge", "requests"),
    _m("requests_waiting", "tgi", "tgi_queue_size", "gauge", "requests"),
    _m("requests_waiting", "triton", "nv_inference_pending_request_count", "gauge",
       "requests"),
    _m("requests_running", "vllm", "vllm:num_requests_running", "gauge", "requests"),
    _m("requests_running", "tgi", "tgi_batch_current_size", "gauge", "requests"),
    # --- caches -------------------------------------------------------------------------------
    _m("kv_cache_usage", "vllm", "vllm:kv_cache_usage_perc", "gauge", "ratio", across="mean",
       note="0..1 despite the name"),
    _m("kv_cache_usage", "vllm", "vllm:gpu_cache_usage_perc", "gauge", "ratio", across="mean",
       renamed_to="vllm:kv_cache_usage_perc"),
    _m("prefix_cache_hits", "vllm", "vllm:prefix_cache_hits", "counter", "tokens"),
    _m("prefix_cache_hits", "vllm", "vllm:gpu_prefix_cache_hits", "counter", "tokens",
       renamed_to="vllm:prefix_cache_hits"),
    _m("prefix_cache_queries", "vllm", "vllm:prefix_cache_queries", "counter", "tokens"),
    _m("prefix_cache_queries", "vllm", "vllm:gpu_prefix_cache_queries", "counter", "tokens",
       renamed_to="vllm:prefix_cache_queries"),
    # --- totals -------------------------------------------------------------------------------
    _m("requests_ok", "vllm", "vllm:request_success", "counter", "requests"),
    _m("requests_ok", "tgi", "tgi_request_success", "counter", "requests"),
    _m("requests_ok", "triton", "nv_inference_request_success", "counter", "requests"),
    _m("requests_failed", "triton", "nv_inference_request_failure", "counter", "requests"),
    _m("prompt_tokens", "vllm", "vllm:prompt_tokens", "counter", "tokens"),
    _m("generation_tokens", "vllm", "vllm:generation_tokens", "counter", "tokens"),
    _m("preemptions", "vllm", "vllm:num_preemptions", "counter", "requests"),
    _m("inferences", "triton", "nv_inference_count", "counter", "requests"),
    _m("executions", "triton", "nv_inference_exec_count", "counter", "requests"),
    # --- GPU ----------------------------------------------------------------------------------
    _m("gpu_util", "dcgm", "DCGM_FI_DEV_GPU_UTIL", "gauge", "percent", across="mean"),
    _m("gpu_util", "triton", "nv_gpu_utilization", "gauge", "ratio", across="mean"),
    _m("sm_active", "dcgm", "DCGM_FI_PROF_SM_ACTIVE", "gauge", "ratio", across="mean",
       note="DCP field, needs profiling permissions; a ratio 0..1"),
    _m("gpu_memory_used", "dcgm", "DCGM_FI_DEV_FB_USED", "gauge", "MiB"),
    _m("gpu_memory_used", "triton", "nv_gpu_memory_used_bytes", "gauge", "bytes"),
)

CONCEPTS: tuple[str, ...] = tuple(dict.fromkeys(m.concept for m in METRICS))


def candidates(concept: str) -> tuple[ServerMetric, ...]:
    """The metrics of ``concept``, newer names before the older ones they replace."""
    return tuple(m for m in METRICS if m.concept == concept)


def by_name(name: str) -> ServerMetric | None:
    """The registry row of a metric name (None: not one we read)."""
    return next((m for m in METRICS if m.name == name), None)
