"""The token metrics' definitions on hand-made samples, exactly."""

from __future__ import annotations

import math

import pytest

from gatekeeper.probe.engine import StatusClass
from gatekeeper.probe.llm.engine import LlmSample
from gatekeeper.probe.llm.metrics import (
    Distribution,
    Slo,
    llm_metrics,
    nearest_rank,
    summarise,
    summary_lines,
)


def sample(intended: float, tokens: tuple[float, ...], ended: float, *, sent: float | None = None,
           usage: int | None = None, status: StatusClass = StatusClass.OK,
           endpoint: str = "chat") -> LlmSample:
    return LlmSample(endpoint, intended, intended if sent is None else sent, ended, status,
                     tokens, tokens[0] if tokens else None, False, 1, 10, usage, 5, "m", None,
                     None)


def test_ttft_tpot_ntpot_and_itl_follow_their_definitions() -> None:
    # Sent 10 ms late; first token 100 ms after the intended time; 5 tokens; ends at 0.5 s.
    s = sample(0.0, (0.1, 0.2, 0.3, 0.4, 0.5), 0.5, sent=0.01, usage=5)
    [e] = summarise([s], 0.0, Slo())
    assert e.series["ttft"].values == (0.1,)
    assert e.series["service_ttft"].values == pytest.approx((0.09,))
    assert e.series["tpot"].values == pytest.approx(((0.5 - 0.1) / 4,))
    assert e.series["ntpot"].values == pytest.approx((0.5 / 5,))
    assert e.series["itl"].values == pytest.approx((0.1,) * 4)
    assert e.itl_flagged_share == 0 and not e.usage_mismatches


def test_usage_beats_chunk_counts_and_mismatches_flag_the_gaps() -> None:
    s = sample(0.0, (0.1, 0.3), 0.3, usage=4)  # two chunks of two tokens
    [e] = summarise([s], 0.0, Slo())
    assert e.output_tokens == 4
    assert e.usage_mismatches == ((4, 2),)
    assert e.itl_flagged_share == 1.0
    assert e.series["tpot"].values == pytest.approx((0.2 / 3,))


def test_chunks_timed_by_one_read_are_counted_and_said() -> None:
    together = sample(0.0, (0.1, 0.2, 0.2, 0.3), 0.3, usage=4)  # chunks 2 and 3 in one read
    [e] = summarise([together, sample(1.0, (1.1, 1.2), 1.2, usage=2)], 0.0, Slo())
    assert e.itl_same_read_share == pytest.approx(1 / 4)
    assert llm_metrics([e])["itl.chat.same_read_share"] == pytest.approx(0.25)
    assert any("25.0% of ITL gaps are 0" in line for line in summary_lines([e], Slo()))
    [apart] = summarise([sample(0.0, (0.1, 0.2), 0.2, usage=2)], 0.0, Slo())
    assert apart.itl_same_read_share == 0
    assert not any("ITL gaps are 0" in line for line in summary_lines([apart], Slo()))


def test_goodput_counts_requests_meeting_every_slo_and_failures_miss() -> None:
    samples = [sample(0.0, (0.05, 0.06), 0.06, usage=2),  # good
               sample(0.0, (0.5, 0.51), 0.51, usage=2),   # TTFT too slow
               sample(0.0, (0.05, 0.5), 0.5, usage=2),    # TPOT too slow
               sample(0.0, (), 1.0, status=StatusClass.SERVER_ERROR)]
    [e] = summarise(samples, 0.0, Slo(ttft_ms=100, tpot_ms=100))
    assert e.good == 1 and e.requests == 4 and e.ok == 3
    assert e.window_s == 1.0 and e.goodput_rps == 1.0
    metrics = llm_metrics([e])
    assert metrics["goodput.chat_rps"] == 1.0 and metrics["goodput.chat_share"] == 0.25
    # One failure of four: the strict p50 is finite, the strict p99 infinite (left out).
    assert metrics["ttft_strict.chat.p50_ms"] == pytest.approx(50)
    assert "ttft_strict.chat.p99_ms" not in metrics
    assert metrics["ttft.chat.p99_ms"] == pytest.approx(500)


def test_warmup_requests_are_left_out() -> None:
    early, late = sample(0.0, (0.1,), 0.1, usage=1), sample(2.0, (2.2,), 2.2, usage=1)
    [e] = summarise([early, late], 1.0, Slo())
    assert e.requests == 1 and e.series["ttft"].values == pytest.approx((0.2,))


def test_nearest_rank_and_strict_percentiles() -> None:
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 0.99) == 4.0
    assert math.isnan(nearest_rank([], 0.5))
    strict = Distribution.of([0.001] * 99, failures=1).strict_ms()
    assert strict["p99_ms"] == pytest.approx(1.0) and strict["max_ms"] == math.inf
