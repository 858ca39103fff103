"""The importers on files the tools themselves wrote: AIPerf 0.13.0, GuideLLM 0.8.1 and
inference-perf 0.7.0, each run for 20 requests at 5/s (prompts of 20 words, answers of 16)
against examples/llm_target.py (fixtures/PROVENANCE.md says how). Each test reads the raw
JSON beside the importer and checks that every mapped value is the tool's own number, in our
units, under our name."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.probe.importers import IMPORTERS, ImportKind
from gatekeeper.probe.llm_import.common import LlmEndpointReport
from gatekeeper.probe.report import Percentiles, ProbeReport

FIXTURES = Path(__file__).parent / "fixtures"
AIPERF = FIXTURES / "aiperf_run_profile_export_aiperf.json"
GUIDELLM = FIXTURES / "guidellm_run_benchmarks.json"
INFERENCE_PERF = FIXTURES / "inference_perf_run_summary_lifecycle_metrics.json"
INFERENCE_PERF_STAGE = FIXTURES / "inference_perf_run_stage_0_lifecycle_metrics.json"
REQUESTS, RATE, OUTPUT_TOKENS = 20, 5.0, 16  # what every run was asked for


def raw(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def only(report: ProbeReport) -> LlmEndpointReport:
    (endpoint,) = report.endpoints
    assert isinstance(endpoint, LlmEndpointReport)
    return endpoint


def assert_same(ours: Percentiles, theirs: dict[str, float], keys: dict[str, str],
                scale: float) -> None:
    """Each of our percentiles (seconds) is the tool's value under its own key, scaled."""
    for our_key, their_key in keys.items():
        assert getattr(ours, our_key) == pytest.approx(theirs[their_key] * scale,
                                                       rel=1e-12), our_key


AIPERF_KEYS = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "max": "max"}


def test_aiperf_run_maps_its_itl_to_our_tpot_and_its_chunk_gaps_to_our_itl() -> None:
    doc = raw(AIPERF)
    assert doc["aiperf_version"] == "0.13.0"
    e = only(IMPORTERS["aiperf"](AIPERF))
    pairs = {"request_latency": e.latency, "time_to_first_token": e.token_latency["ttft"],
             "inter_token_latency": e.token_latency["tpot"],
             "inter_chunk_latency": e.token_latency["itl"]}
    for theirs, ours in pairs.items():
        assert doc[theirs]["unit"] == "ms"
        assert_same(ours, doc[theirs], AIPERF_KEYS, 1e-3)
        assert math.isnan(ours.p99_9)  # AIPerf exports no p99.9
    assert "ntpot" not in e.token_latency


def test_aiperf_run_counts_rate_and_throughput() -> None:
    doc = raw(AIPERF)
    e = only(IMPORTERS["aiperf"](AIPERF))
    assert doc["request_count"]["avg"] == REQUESTS and "error_request_count" not in doc
    assert (e.samples, e.requests, sum(e.errors.values())) == (REQUESTS, REQUESTS, 0)
    # 0.13.0 states the asked rate as the profiling phase's, not input_config.loadgen.
    (phase,) = doc["input_config"]["phases"]
    assert (phase["kind"], phase["rate"], phase["requests"]) == ("profiling", RATE, REQUESTS)
    assert e.target_rps == RATE
    assert doc["benchmark_duration"]["unit"] == "sec"
    assert e.achieved_rps == pytest.approx(REQUESTS / doc["benchmark_duration"]["avg"])
    assert e.output_tokens_per_s == pytest.approx(doc["output_token_throughput"]["avg"])
    assert doc["total_output_tokens"]["avg"] == REQUESTS * OUTPUT_TOKENS


GUIDELLM_KEYS = {"p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99", "p99_9": "p999"}


def guidellm_summary(doc: dict[str, Any], metric: str) -> dict[str, float]:
    """A metric's successful distribution: percentiles and max side by side."""
    found = doc["benchmarks"][0]["metrics"][metric]["successful"]
    return {**found["percentiles"], "max": found["max"]}


def test_guidellm_run_maps_its_itl_to_our_tpot_and_its_tpot_to_our_ntpot() -> None:
    doc = raw(GUIDELLM)
    assert doc["metadata"]["guidellm_version"] == "0.8.1"
    e = only(IMPORTERS["guidellm"](GUIDELLM))
    keys = {**GUIDELLM_KEYS, "max": "max"}
    assert_same(e.latency, guidellm_summary(doc, "request_latency"), keys, 1.0)  # seconds
    pairs = {"time_to_first_token_ms": "ttft", "inter_token_latency_ms": "tpot",
             "time_per_output_token_ms": "ntpot"}
    for theirs, ours in pairs.items():
        assert_same(e.token_latency[ours], guidellm_summary(doc, theirs), keys, 1e-3)
    assert "itl" not in e.token_latency
    # GuideLLM weights per-request values by tokens: 15 gaps, 16 tokens per request.
    metrics = doc["benchmarks"][0]["metrics"]
    assert metrics["inter_token_latency_ms"]["successful"]["count"] == REQUESTS * 15
    assert metrics["time_per_output_token_ms"]["successful"]["count"] == REQUESTS * 16


def test_guidellm_run_counts_rate_and_throughput() -> None:
    doc = raw(GUIDELLM)
    bench = doc["benchmarks"][0]
    e = only(IMPORTERS["guidellm"](GUIDELLM))
    assert bench["metrics"]["request_totals"] == {"successful": REQUESTS, "errored": 0,
                                                  "incomplete": 0, "total": REQUESTS}
    assert (e.samples, e.requests, sum(e.errors.values())) == (REQUESTS, REQUESTS, 0)
    assert bench["config"]["strategy"]["type_"] == "constant"
    assert e.target_rps == bench["config"]["strategy"]["rate"] == RATE
    timing = bench["scheduler_metrics"]
    span = timing["measure_end_time"] - timing["measure_start_time"]
    assert e.achieved_rps == pytest.approx(REQUESTS / span)
    tokens = bench["metrics"]["output_token_count"]["successful"]["total_sum"]
    assert tokens == REQUESTS * OUTPUT_TOKENS
    assert e.output_tokens_per_s == pytest.approx(tokens / span)


INFERENCE_PERF_KEYS = {"p50": "median", "p90": "p90", "p95": "p95", "p99": "p99",
                       "p99_9": "p99.9", "max": "max"}


@pytest.mark.parametrize("path", [INFERENCE_PERF, INFERENCE_PERF_STAGE], ids=["summary",
                                                                             "stage"])
def test_inference_perf_run_maps_one_to_one_in_seconds(path: Path) -> None:
    doc = raw(path)
    e = only(IMPORTERS["inference-perf"](path))
    latency = doc["successes"]["latency"]
    assert_same(e.latency, latency["request_latency"], INFERENCE_PERF_KEYS, 1.0)
    pairs = {"time_to_first_token": "ttft", "time_per_output_token": "tpot",
             "inter_token_latency": "itl", "normalized_time_per_output_token": "ntpot"}
    for theirs, ours in pairs.items():
        assert_same(e.token_latency[ours], latency[theirs], INFERENCE_PERF_KEYS, 1.0)
    assert doc["successes"]["count"] == REQUESTS and doc["failures"]["count"] == 0
    assert (e.samples, e.requests, sum(e.errors.values())) == (REQUESTS, REQUESTS, 0)
    assert e.achieved_rps == pytest.approx(REQUESTS / doc["benchmark_time_seconds"])
    assert e.output_tokens_per_s == pytest.approx(
        doc["successes"]["throughput"]["output_tokens_per_sec"])


def test_inference_perf_states_the_asked_rate_in_its_stage_file_only() -> None:
    assert "requested_rate" not in raw(INFERENCE_PERF)["load_summary"]
    assert math.isnan(only(IMPORTERS["inference-perf"](INFERENCE_PERF)).target_rps)
    assert raw(INFERENCE_PERF_STAGE)["load_summary"]["requested_rate"] == RATE
    assert only(IMPORTERS["inference-perf"](INFERENCE_PERF_STAGE)).target_rps == RATE
    # The flag stands in for the summary's missing rate.
    stated = only(IMPORTERS["inference-perf"](INFERENCE_PERF, target_rps=RATE))
    assert stated.target_rps == RATE and stated.held_target_rate


def test_three_tools_on_one_target_agree_on_our_tpot_once_mapped() -> None:
    """The target's law decodes a token every ~4 ms for every tool: if a name were mapped
    wrong (GuideLLM's TPOT taken for our TPOT, say), the p50s would part; and NTPOT, which
    carries a share of the TTFT, is above TPOT wherever a tool measures both."""
    runs: list[tuple[ImportKind, Path]] = [("aiperf", AIPERF), ("guidellm", GUIDELLM),
                                           ("inference-perf", INFERENCE_PERF)]
    reports = [only(IMPORTERS[kind](path)) for kind, path in runs]
    tpots = [e.token_latency["tpot"].p50 for e in reports]
    assert max(tpots) / min(tpots) < 1.05, tpots
    for e in reports[1:]:
        assert e.token_latency["ntpot"].p50 > e.token_latency["tpot"].p50


STREAM_ERRORS: dict[ImportKind, Path] = {
    "aiperf": FIXTURES / "aiperf_run_stream_errors_profile_export_aiperf.json",
    "guidellm": FIXTURES / "guidellm_run_stream_errors_benchmarks.json",
    "inference-perf": FIXTURES / "inference_perf_run_stream_errors_summary_lifecycle_metrics.json"}


def test_an_error_event_inside_a_200_stream_fails_a_request_for_guidellm_only() -> None:
    """The same 20 requests against the target with --error-every 5: requests 5, 10, 15 and
    20 send one token, then vLLM's in-stream error event. GuideLLM counts them as errored;
    AIPerf 0.13.0 and inference-perf 0.7.0 count them as successes, and an importer can
    report only what the tool counted."""
    guidellm = raw(STREAM_ERRORS["guidellm"])["benchmarks"][0]
    assert guidellm["metrics"]["request_totals"]["errored"] == 4
    e = only(IMPORTERS["guidellm"](STREAM_ERRORS["guidellm"]))
    assert (e.samples, e.requests, e.errors["unclassified"]) == (REQUESTS - 4, REQUESTS, 4)
    assert guidellm["metrics"]["request_latency"]["successful"]["count"] == REQUESTS - 4

    aiperf = raw(STREAM_ERRORS["aiperf"])
    assert aiperf["request_count"]["avg"] == REQUESTS and "error_request_count" not in aiperf
    inference_perf = raw(STREAM_ERRORS["inference-perf"])
    assert inference_perf["failures"]["count"] == 0
    counted_ok: list[ImportKind] = ["aiperf", "inference-perf"]
    for kind in counted_ok:
        e = only(IMPORTERS[kind](STREAM_ERRORS[kind]))
        assert (e.samples, e.requests, sum(e.errors.values())) == (REQUESTS, REQUESTS, 0)


TIMEOUTS: dict[ImportKind, Path] = {
    "aiperf": FIXTURES / "aiperf_run_timeouts_profile_export_aiperf.json",
    "guidellm": FIXTURES / "guidellm_run_timeouts_benchmarks.json",
    "inference-perf": FIXTURES / "inference_perf_run_timeouts_summary_lifecycle_metrics.json"}


@pytest.mark.parametrize("kind", list(TIMEOUTS))
def test_requests_past_the_tools_timeout_are_our_timeouts(kind: ImportKind) -> None:
    """The same 20 requests against the target with --stall-every 5 --stall-ms 3000 and a
    1 s timeout in the tool: 4 time out, each tool names them its own way."""
    e = only(IMPORTERS[kind](TIMEOUTS[kind]))
    assert (e.samples, e.requests, e.errors["timeout"]) == (REQUESTS - 4, REQUESTS, 4)
    assert e.errors["unclassified"] == 0


def test_how_each_tool_wrote_its_timeouts() -> None:
    aiperf = raw(TIMEOUTS["aiperf"])
    (entry,) = aiperf["error_summary"]
    assert (entry["error_details"]["type"], entry["count"]) == ("TimeoutError", 4)
    assert (aiperf["request_count"]["avg"], aiperf["error_request_count"]["avg"]) == (16, 4)
    guidellm = raw(TIMEOUTS["guidellm"])["benchmarks"][0]
    assert guidellm["metrics"]["request_totals"]["errored"] == 4
    assert {r["info"]["error"] for r in guidellm["requests"]["errored"]} == {"ReadTimeout('')"}
    inference_perf = raw(TIMEOUTS["inference-perf"])
    assert inference_perf["failures"]["by_label"]["timeouterror"]["count"] == 4
