"""``tokens.png``: TTFT and TPOT over time of an LLM run, from hand-built ``llm.requests``
records: the points and per-second lines drawn are checked on the figure before it is saved,
and the SLO lines sit at the SLOs given."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gatekeeper.render.probe.llm_plots import has_tokens, per_second, points, tokens_figure
from gatekeeper.render.probe.plots import png_bytes
from tests.render.test_probe_plots import png_size


def record(at: float, ttft: float, tokens: int = 5, tpot: float = 10.0, status: str = "ok",
           endpoint: str = "chat") -> dict[str, Any]:
    chunks = [ttft + i * tpot for i in range(tokens)]
    return {"endpoint": endpoint, "intended_s": at, "lag_ms": 0.0, "status": status,
            "chunks_ms": chunks if status == "ok" else chunks[:1], "end_ms": chunks[-1],
            "output_tokens": tokens, "prompt_tokens": 10, "cached_tokens": 0, "error": None}


def details(requests: list[dict[str, Any]], **slo: float | None) -> dict[str, Any]:
    return {"llm": {"api": "openai-chat", "requests": requests,
                    "slo": {"ttft_ms": None, "tpot_ms": None, "e2e_ms": None, **slo}}}


# Second 0: TTFT 20, 40 ms; second 1: a 500 ms stall beside a 30 ms answer; second 2: none
# (a gap); second 3: 50 ms. TPOT 10 ms except the stalled request's 30 ms.
RUN = [record(0.1, 20), record(0.6, 40), record(1.2, 500, tpot=30), record(1.7, 30),
       record(2.5, 99, status="5xx"), record(3.4, 50)]


def lines_of(figure: Any, panel: int) -> dict[str, tuple[list[float], list[float]]]:
    ax = figure.axes[panel]
    return {line.get_gid(): (list(line.get_xdata()), list(line.get_ydata()))
            for line in ax.get_lines()}


def test_ttft_and_tpot_per_request_and_per_second_with_slo_lines() -> None:
    figure = tokens_figure(details(RUN, ttft_ms=300, tpot_ms=25), "http://t")
    ttft = lines_of(figure, 0)
    x, p99 = ttft["ttft-chat-p99"]
    assert x == [0.5, 1.5, 2.5, 3.5]
    assert p99[:2] == [40, 500] and math.isnan(p99[2]) and p99[3] == 50  # a failure: no point
    assert ttft["ttft-chat-p50"][1][:2] == [20, 30]
    assert ttft["slo-ttft"][1] == [300, 300]
    tpot = lines_of(figure, 1)
    assert tpot["tpot-chat-p99"][1][1] == pytest.approx(30)
    assert tpot["tpot-chat-p50"][1][0] == pytest.approx(10)
    assert tpot["slo-tpot"][1] == [25, 25]
    low, high = figure.axes[0].get_ylim()
    assert low < 20 and high > 500
    scatter = next(c for c in figure.axes[0].collections if c.get_gid() == "ttft-requests")
    assert len(scatter.get_offsets()) == 5  # the five ok requests
    assert "5 ok requests drawn" in figure.get_suptitle()
    width, height = png_size(png_bytes(figure))
    assert width > 900 and height > 650


def test_no_slo_no_slo_line_and_an_slo_far_above_still_shows() -> None:
    plain = tokens_figure(details(RUN), "http://t")
    assert "slo-ttft" not in lines_of(plain, 0) and "slo-tpot" not in lines_of(plain, 1)
    far = tokens_figure(details(RUN, tpot_ms=5000), "http://t")
    assert far.axes[1].get_ylim()[1] >= 5000


def test_endpoints_have_lines_of_their_own_and_one_token_answers_no_tpot() -> None:
    run = [record(0.2, 20), record(0.3, 80, endpoint="code"), record(0.4, 60, tokens=1)]
    found = points(details(run))
    assert [p.tpot_ms for p in found] == [10.0, 10.0, None]
    figure = tokens_figure(details(run), "http://t")
    assert {"ttft-chat-p50", "ttft-code-p50", "ttft-chat-p99", "ttft-code-p99"} <= set(
        lines_of(figure, 0))
    assert lines_of(figure, 0)["ttft-chat-p99"][1] == [60]


def test_nothing_to_draw_without_an_llm_run() -> None:
    assert not has_tokens({})
    assert not has_tokens(details([record(0.1, 20, status="timeout")]))
    assert has_tokens(details(RUN))
    assert per_second([], 0.5) == ([], [])
