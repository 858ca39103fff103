"""The report.html of a real LLM run (the loopback target, a 300 ms stall every 5th request,
TTFT and TPOT SLOs) opened in headless Chromium: the browser decodes the TTFT/TPOT picture
beside the other two, under its own heading, and the picture's TTFT p99 line shows the stalls
the target recorded."""

from __future__ import annotations

from pathlib import Path

from examples.llm_target import Law, LlmTarget
from gatekeeper.probe.engine import Limits
from gatekeeper.probe.llm.metrics import Slo
from gatekeeper.probe.llm.mix import parse_llm_mix
from gatekeeper.probe.llm.mode import LlmRun
from gatekeeper.probe.modes.interface import Sending
from gatekeeper.probe.run import ProbeRequest, run_probe
from gatekeeper.probe.schedule import ScheduleSpec
from gatekeeper.render.probe import render_files, tokens_figure
from tests.probe.llm.test_law import Quiet, lines
from tests.support.chromium import Elements, png_size, render_page, with_image_probe


def test_chromium_shows_ttft_and_tpot_over_time(tmp_path: Path) -> None:
    target = LlmTarget(Law(decode_s=0.002, stall_every=5, stall_s=0.3))
    slo = Slo(ttft_ms=200, tpot_ms=20)
    mix = parse_llm_mix(lines(), "mix.jsonl", "openai-chat")
    run = LlmRun(Sending(mix, "mix.jsonl", ScheduleSpec("fixed", 3.0, 10.0), 0.0,
                         Limits(max_duration_s=3.0, timeout_s=10.0), 0), "openai-chat", slo)
    with target as url:
        outcome = run_probe(ProbeRequest(url, run, min_samples=5), Quiet(), lambda _o: ())
    files = render_files(outcome)
    assert {"latency.png", "percentiles.png", "tokens.png", "report.html"} <= set(files)
    figure = tokens_figure(outcome.details, outcome.report.url)
    ttft_p99 = next(line for line in figure.axes[0].get_lines()
                    if line.get_gid() == "ttft-gen-p99")
    # Every second holds a stalled request (every 5th, 10 a second): p99 is above the stall.
    assert all(y >= 300 for y in ttft_p99.get_ydata())
    slo_line = next(line for line in figure.axes[0].get_lines() if line.get_gid() == "slo-ttft")
    assert list(slo_line.get_ydata()) == [200, 200]

    page = tmp_path / "report.html"
    page.write_text(with_image_probe(files["report.html"].decode()), encoding="utf-8")
    shown = render_page(page, tmp_path / "report.png", 1100, 3200)
    dom = Elements(shown.dom)
    images = dom.all("img")
    assert [img["alt"] for img in images][-1] == "TTFT and TPOT per request and per second"
    assert images[-1]["data-decoded"] == "{}x{}".format(*png_size(files["tokens.png"]))
    assert "TTFT and TPOT over time" in dom.lines
