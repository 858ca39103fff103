"""The streaming probe judged against the loopback target's law: what the server recorded
(arrival, queue, stall, prefill, every chunk's send time and tokens) is the truth, and the
probe's readings must agree with it.

The target runs in the test's own process, so on a loaded machine the client reads some chunks
late: medians are compared (a few late reads move a mean, not a median), and a reading may
be late (TTFT by half or 15 ms, TPOT and ITL by a quarter or 1 ms) but never early by more
than 1 ms (a chunk cannot arrive before it was sent). The bounds still catch a wrong
definition: counting the role-only chunk reads TTFT as the queue wait alone (early), and
E2E / tokens instead of TPOT is over a third too high here.
The precision itself is measured by bench/llm_probe.py."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from typing import Any

import pytest

from examples.llm_target import Law, LlmTarget, Served
from gatekeeper.probe.engine import Limits
from gatekeeper.probe.llm.metrics import Slo
from gatekeeper.probe.llm.mix import parse_llm_mix
from gatekeeper.probe.llm.mode import LlmRun, measure_llm
from gatekeeper.probe.llm.protocols import ApiName
from gatekeeper.probe.modes.interface import Measured, Sending
from gatekeeper.probe.progress import Snapshot
from gatekeeper.probe.schedule import ScheduleSpec

MAX_TOKENS = 16
RATE, DURATION_S = 20.0, 3.0
# Six distinct 60-token prompts: the first of each is prefilled in full, later ones hit the
# prefix cache (48 tokens), so TTFT varies and the law has to be followed, not a constant.
NO_SLO = Slo()
LAW = Law(prefill_s_per_token=0.0005, decode_s=0.003, model="law-1")


class Quiet:
    def update(self, snapshot: Snapshot) -> None: ...

    def finish(self, snapshot: Snapshot) -> None: ...

    def step(self, text: str) -> None: ...


def lines(max_tokens: int = MAX_TOKENS) -> list[str]:
    return [json.dumps({"endpoint": "gen", "prompt_tokens": 60, "max_tokens": max_tokens,
                        "sampling": {"temperature": 0}, "ignore_eos": True, "model": "law-1"})
            for _ in range(6)]


def probe(url: str, api: ApiName, slo: Slo = NO_SLO, max_tokens: int = MAX_TOKENS) -> Measured:
    mix = parse_llm_mix(lines(max_tokens), "mix.jsonl", api)
    sending = Sending(mix, "mix.jsonl", ScheduleSpec("fixed", DURATION_S, RATE), 0.0,
                      Limits(max_duration_s=DURATION_S, timeout_s=10.0, connections=64), 0)
    return measure_llm(LlmRun(sending, api, slo), url, Quiet())


def endpoint(measured: Measured) -> dict[str, Any]:
    [found] = measured.details["llm"]["endpoints"]
    assert isinstance(found, dict)
    return found


def close(measured_ms: float, truth_ms: float, late_share: float = 0.5,
          late_ms: float = 15.0) -> bool:
    """Not early by more than 1 ms (or 5%), late by at most ``late_share`` or ``late_ms``."""
    early = max(1.0, 0.05 * truth_ms)
    return truth_ms - early <= measured_ms <= truth_ms + max(late_share * truth_ms, late_ms)


def mean_ms(values: Sequence[float]) -> float:
    return statistics.fmean(values) * 1000


def median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000


@pytest.mark.parametrize("api", ["openai-chat", "openai-completions", "kserve-v2"])
def test_ttft_tpot_and_itl_agree_with_the_law(api: ApiName) -> None:
    target = LlmTarget(LAW)
    with target as url:
        measured = probe(url, api)
    served = target.served
    e = endpoint(measured)
    assert e["requests"] == e["ok"] == len(served) == 60
    # The server's TTFT is from the request's arrival: the probe's actual-send TTFT.
    truth_ttft = median_ms([s.ttft_s for s in served])
    assert close(e["service_ttft"]["p50_ms"], truth_ttft), (e["service_ttft"], truth_ttft)
    # From the intended send time it is later by exactly the send lag.
    records = measured.details["llm"]["requests"]
    lag = statistics.fmean(r["lag_ms"] for r in records)
    assert e["ttft"]["mean_ms"] - e["service_ttft"]["mean_ms"] == pytest.approx(lag, abs=0.01)
    truth_tpot = median_ms([s.tpot_s for s in served])
    assert close(e["tpot"]["p50_ms"], truth_tpot, late_share=0.25, late_ms=1.0), (
        e["tpot"], truth_tpot)
    gaps = [g for s in served for g in s.gaps_s]
    assert close(e["itl"]["p50_ms"], median_ms(gaps), late_share=0.25, late_ms=1.0), (
        e["itl"], median_ms(gaps))
    assert e["tokens"]["output"] == 60 * MAX_TOKENS
    assert e["itl_multi_token_share"] == 0.0 and e["usage"]["mismatches"] == 0
    if api == "kserve-v2":  # no usage in the generate extension: tokens are chunks
        assert e["usage"]["missing"] == 60
        assert e["tokens"]["cached"] == 0
    else:
        assert e["usage"]["missing"] == 0
        assert e["tokens"]["cached"] == sum(s.cached_tokens for s in served) > 0
    assert measured.metrics["tokens.gen.output_total"] == 60 * MAX_TOKENS
    # Every request's chunk times are kept, from its intended send time.
    assert len(records) == 60 and all(len(r["chunks_ms"]) == MAX_TOKENS for r in records)
    first = [r["chunks_ms"][0] - r["lag_ms"] for r in records]
    assert close(statistics.median(first), truth_ttft)


def test_the_role_only_first_chunk_is_not_the_first_token() -> None:
    target = LlmTarget(LAW)
    with target as url:
        measured = probe(url, "openai-chat")
    e = endpoint(measured)
    role_sent = mean_ms([s.chunks[0].sent_s - s.arrival_s for s in target.served])
    assert all(s.chunks[0].kind == "role" and s.chunks[0].tokens == 0 for s in target.served)
    # The role chunk leaves at once; the first token only after queue, prefill and a decode
    # step. Counting the role chunk would read TTFT as role_sent.
    assert e["service_ttft"]["p50_ms"] > role_sent + 2.0
    assert e["empty_chunks"] >= 60 * 2  # the role chunk and the finish/usage chunks


def test_a_500_ms_stall_shows_in_ttft_p99_not_p50() -> None:
    target = LlmTarget(Law(prefill_s_per_token=0.0002, decode_s=0.002, stall_every=10,
                           stall_s=0.5))
    with target as url:
        measured = probe(url, "openai-chat")
    stalled = [s for s in target.served if s.stall_s]
    assert len(stalled) == 6
    m = measured.metrics
    assert m["ttft.gen.p99_ms"] >= 500
    assert m["ttft.gen.p50_ms"] < 100
    # The longest wait, from the actual send, is the server's longest TTFT.
    assert close(m["service_ttft.gen.max_ms"], max(s.ttft_s for s in target.served) * 1000)


def test_goodput_is_exact_when_half_the_requests_break_the_ttft_slo() -> None:
    # Wide margins on a loaded machine: a stalled request waits 500 ms for its first token,
    # an unstalled one about 10 ms (plus the send lag); the SLO sits between, far from both.
    target = LlmTarget(Law(prefill_s_per_token=0.0002, decode_s=0.002, stall_every=2,
                           stall_s=0.5))
    with target as url:
        measured = probe(url, "openai-chat", Slo(ttft_ms=300, tpot_ms=100))
    e = endpoint(measured)
    unstalled = sum(1 for s in target.served if not s.stall_s)
    assert unstalled == 30 and e["requests"] == 60
    assert e["goodput"]["good"] == unstalled
    assert measured.metrics["goodput.gen_share"] == 0.5
    assert measured.metrics["goodput.gen_rps"] == pytest.approx(30 / e["window_s"])
    assert measured.details["llm"]["slo"] == {"ttft_ms": 300, "tpot_ms": 100, "e2e_ms": None}


def test_multi_token_chunks_flag_itl_and_report_the_usage_mismatch() -> None:
    target = LlmTarget(Law(prefill_s_per_token=0.0002, decode_s=0.002, tokens_per_chunk=2))
    with target as url:
        measured = probe(url, "openai-chat")
    e = endpoint(measured)
    assert e["usage"]["mismatches"] == 60
    assert e["usage"]["examples"][0] == {"usage": MAX_TOKENS, "token_chunks": MAX_TOKENS // 2}
    assert e["itl_multi_token_share"] == 1.0
    assert e["tokens"]["output"] == 60 * MAX_TOKENS  # usage wins over the chunk count
    truth_tpot = median_ms([s.tpot_s for s in target.served])
    assert close(e["tpot"]["p50_ms"], truth_tpot, late_share=0.25, late_ms=1.0), (
        e["tpot"], truth_tpot)
    assert any("usage and token chunks disagree on 60 of 60" in line for line in measured.lines)


def test_a_server_whose_usage_is_wrong_is_reported() -> None:
    target = LlmTarget(Law(prefill_s_per_token=0.0002, decode_s=0.002, usage_offset=1))
    with target as url:
        measured = probe(url, "openai-completions")
    e = endpoint(measured)
    assert e["usage"]["mismatches"] == 60
    assert e["usage"]["examples"][0] == {"usage": MAX_TOKENS + 1, "token_chunks": MAX_TOKENS}


def test_reasoning_first_gives_ttfo_after_ttft() -> None:
    target = LlmTarget(Law(prefill_s_per_token=0.0002, decode_s=0.003, reasoning_tokens=5))
    with target as url:
        measured = probe(url, "openai-chat")
    e = endpoint(measured)
    assert e["reasoning_first"] == 60
    truth: list[Served] = target.served
    assert close(e["service_ttft"]["p50_ms"], median_ms([s.ttft_s for s in truth]))
    ttfo_truth = median_ms([s.first_output_s - s.arrival_s for s in truth])
    lag = statistics.median(r["lag_ms"] for r in measured.details["llm"]["requests"])
    assert close(e["ttfo"]["p50_ms"] - lag, ttfo_truth), (e["ttfo"], ttfo_truth)
    assert e["ttfo"]["p50_ms"] > e["ttft"]["p50_ms"] + 10  # five reasoning tokens of 3 ms


@pytest.mark.parametrize("api", ["openai-chat", "kserve-v2"])
def test_an_error_inside_a_200_stream_is_a_failure_and_a_goodput_miss(api: ApiName) -> None:
    target = LlmTarget(Law(prefill_s_per_token=0.0002, decode_s=0.002, error_every=4))
    with target as url:
        measured = probe(url, api, Slo(ttft_ms=1000))
    e = endpoint(measured)
    assert e["requests"] == 60 and e["failures"] == 15 and e["ok"] == 45
    assert e["goodput"]["good"] == 45
    assert measured.report.endpoints[0].errors["5xx"] == 15
    # 15 of 60 failed: the strict p50 is finite, the strict p90 and p99 are infinite.
    assert e["strict"]["ttft"]["p50_ms"] is not None
    assert e["strict"]["ttft"]["p90_ms"] is None and e["strict"]["ttft"]["p99_ms"] is None
    assert "ttft_strict.gen.p99_ms" not in measured.metrics
    assert measured.metrics["ttft.gen.p99_ms"] < 1000


def test_metrics_page_uses_vllm_names_and_counts_what_was_served() -> None:
    import urllib.request

    target = LlmTarget(LAW)
    with target as url:
        probe(url, "openai-chat")
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
            page = answer.read().decode()
    served = target.served
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in page.splitlines() if line and not line.startswith("#")}
    label = '{model_name="law-1"}'
    assert values[f"vllm:time_to_first_token_seconds_count{label}"] == len(served) == 60
    assert values[f"vllm:time_to_first_token_seconds_sum{label}"] == pytest.approx(
        sum(s.ttft_s for s in served))
    assert values[f"vllm:generation_tokens_total{label}"] == 60 * MAX_TOKENS
    assert values[f"vllm:prefix_cache_hits_total{label}"] == sum(s.cached_tokens for s in served)
    assert values[f"vllm:num_requests_waiting{label}"] == 0
    assert "vllm:inter_token_latency_seconds_bucket{model_name=\"law-1\",le=\"+Inf\"}" in page


def test_decode_slows_with_concurrent_streams_and_tpot_follows_it() -> None:
    law = Law(prefill_s_per_token=0.0002, decode_s=0.003, decode_growth=0.25)
    tpot: dict[float, tuple[float, float]] = {}
    for rate in (5.0, 60.0):
        target = LlmTarget(law)
        with target as url:
            mix = parse_llm_mix(lines(32), "mix.jsonl", "openai-chat")
            sending = Sending(mix, "mix.jsonl", ScheduleSpec("fixed", 2.0, rate), 0.0,
                              Limits(max_duration_s=2.0, timeout_s=10.0, connections=128), 0)
            measured = measure_llm(LlmRun(sending, "openai-chat"), url, Quiet())
        tpot[rate] = (endpoint(measured)["tpot"]["p50_ms"],
                      median_ms([s.tpot_s for s in target.served]))
    for measured_ms, truth_ms in tpot.values():
        assert close(measured_ms, truth_ms, late_share=0.25, late_ms=1.0), tpot
    # About six streams at once at 60/s: each token takes 1 + 0.25 x 5 times as long.
    assert tpot[60.0][1] > 1.5 * tpot[5.0][1]


def test_a_replayed_trace_sends_each_prompt_at_its_time_with_its_lengths() -> None:
    trace = [json.dumps({"endpoint": "gen", "timestamp": 100 + i * 0.1, "prompt_tokens": 10 + i,
                         "max_tokens": 2 + i, "model": "law-1"}) for i in range(10)]
    target = LlmTarget(LAW)
    with target as url:
        mix = parse_llm_mix(trace, "trace.jsonl", "openai-completions")
        sending = Sending(mix, "trace.jsonl", ScheduleSpec("replay", 1.0), 0.0,
                          Limits(max_duration_s=1.0, timeout_s=10.0, connections=16), 0)
        measured = measure_llm(LlmRun(sending, "openai-completions"), url, Quiet())
    served = sorted(target.served, key=lambda s: s.arrival_s)
    assert [s.prompt_tokens for s in served] == [10 + i for i in range(10)]
    assert [s.output_tokens for s in served] == [2 + i for i in range(10)]
    records = measured.details["llm"]["requests"]
    assert [r["intended_s"] for r in records] == pytest.approx([i * 0.1 for i in range(10)])
    assert measured.details["workload"]["max_tokens"]["max"] == 11
