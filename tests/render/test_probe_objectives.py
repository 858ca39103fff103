"""The probe's pictures draw the objectives they are given: SLO lines (checked on the
matplotlib artists before saving, and as pixels of their own colour in the PNG), the SLO's
rate, the budget and the verdict. A known synthetic run: 100/s for 4 s, predict latencies
5-15 ms (p95 about 14.5 ms, p99 about 15 ms)."""

from __future__ import annotations

import io
from typing import cast

import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text

from gatekeeper.probe.engine import RunRecord, Sample, StatusClass
from gatekeeper.probe.report import HoldPolicy, ProbeReport, build_report, format_ms
from gatekeeper.probe.timeline import Timeline, build_timeline
from gatekeeper.render.probe import (
    NONE,
    Budget,
    Objectives,
    Slo,
    Verdict,
    latency_figure,
    latency_png,
    percentiles_figure,
    percentiles_png,
    slo_objectives,
    slo_verdict,
)
from gatekeeper.render.probe.objectives import readings
from gatekeeper.render.probe.plots import FAIL_COLOUR, PASS_COLOUR, SLO_COLOURS


def run() -> tuple[ProbeReport, Timeline]:
    samples = tuple(Sample("predict", i / 100, i / 100, i / 100 + (5 + i % 11) / 1000,
                           StatusClass.OK, 100) for i in range(400))
    record = RunRecord("http://t", samples, len(samples))
    return build_report(record, HoldPolicy(warmup_s=0)), build_timeline(samples, 0)


def lines(ax: Axes, gid: str) -> list[tuple[list[float], list[float]]]:
    return [(list(line.get_xdata()), list(line.get_ydata()))  # type: ignore[arg-type]
            for line in ax.get_lines() if line.get_gid() == gid]


def tagged(artist: Axes | Figure, gid: str) -> Text | None:
    """The text artist drawn with ``gid`` (the verdict, the budget), if any."""
    found = artist.findobj(lambda a: isinstance(a, Text) and a.get_gid() == gid)
    return cast("Text", found[0]) if found else None


def title(ax: Axes) -> tuple[str, tuple[float, float, float] | None]:
    """The right-hand title (the verdict) and its colour."""
    verdict = tagged(ax, "verdict")
    return ax.get_title(loc="right"), to_rgb(verdict.get_color()) if verdict else None


def pixels_of(png: bytes, colour: str) -> int:
    from PIL import Image

    rgb = tuple(round(c * 255) for c in to_rgb(colour))
    with Image.open(io.BytesIO(png)) as image:
        counts = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return sum(n for n, c in counts if c == rgb)


SLO = slo_objectives(p95_ms=40, p99_ms=80, at_rps=100)


def test_histogram_draws_each_slo_as_a_vertical_line_within_view() -> None:
    report, _ = run()
    figure = latency_figure(report, SLO)
    ax = figure.axes[0]
    assert lines(ax, "slo-p95") == [([40, 40], [0, 1])]
    assert lines(ax, "slo-p99") == [([80, 80], [0, 1])]
    low, high = ax.get_xlim()
    assert low < 5 and high > 80  # the SLO far above every latency is still in view
    legend = [t.get_text() for t in ax.get_legend().get_texts()]  # type: ignore[union-attr]
    assert "SLO p95 40 ms" in legend and "SLO p99 80 ms" in legend
    assert title(ax) == ("PASS: objectives met", to_rgb(PASS_COLOUR))


def test_without_objectives_nothing_extra_is_drawn() -> None:
    report, timeline = run()
    for figure in (latency_figure(report), percentiles_figure(timeline, report)):
        assert not any(line.get_gid() for ax in figure.axes for line in ax.get_lines())
        assert all(title(ax)[0] == "" for ax in figure.axes)
        assert tagged(figure, "budget") is None


def test_a_missed_slo_is_a_red_verdict_naming_it() -> None:
    report, _ = run()
    measured = report.endpoints[0].latency.p99 * 1000
    figure = latency_figure(report, slo_objectives(p99_ms=10))
    text, colour = title(figure.axes[0])
    assert text == (f"FAIL: objectives NOT met: predict p99 <= 10 ms, measured "
                    f"{format_ms(measured)} ms")
    assert colour == to_rgb(FAIL_COLOUR)


def test_a_verdict_handed_over_wins_over_the_measured_one() -> None:
    report, timeline = run()
    given = Objectives({"predict": Slo(p99_ms=80)}, verdict=Verdict(False, "serve gate: "
                                                                           "BLOCKED"))
    assert slo_verdict(report, given) == given.verdict
    figure = percentiles_figure(timeline, report, given)
    assert title(figure.axes[0]) == ("FAIL: serve gate: BLOCKED", to_rgb(FAIL_COLOUR))


def test_percentiles_draw_slos_across_time_the_rate_and_the_budget() -> None:
    report, timeline = run()
    objectives = Objectives({"*": Slo(40, 80, 100)}, Budget(0.002, 0.0031, "USD"))
    figure: Figure = percentiles_figure(timeline, report, objectives)
    top, bottom = figure.axes
    assert [y for _x, y in lines(top, "slo-p95")] == [[40, 40]]
    assert [y for _x, y in lines(top, "slo-p99")] == [[80, 80]]
    assert top.get_ylim()[1] > 80
    assert [y for _x, y in lines(bottom, "slo-rate")] == [[100, 100]]
    budget = tagged(figure, "budget")
    assert budget is not None
    assert budget.get_text() == ("cost per 1,000: 0.0031 USD, budget 0.002 USD (OVER budget)")
    assert to_rgb(budget.get_color()) == to_rgb(FAIL_COLOUR)
    # Over budget: the verdict derived from the objectives fails on the cost.
    assert title(top)[0] == ("FAIL: objectives NOT met: all cost per 1,000 <= 0.002 USD, "
                             "measured 0.0031 USD")


@pytest.mark.parametrize("draw", ["latency", "percentiles"])
def test_the_png_holds_the_slo_lines_in_their_own_colour(draw: str) -> None:
    report, timeline = run()

    def png(objectives: Objectives = NONE) -> bytes:
        return (latency_png(report, objectives) if draw == "latency" else
                percentiles_png(timeline, report, objectives))

    without, with_slo = png(), png(SLO)
    for name, colour in SLO_COLOURS.items():
        assert pixels_of(without, colour) == 0, name
        assert pixels_of(with_slo, colour) > 150, name  # a solid line across the panel


def test_readings_judge_each_objective() -> None:
    report, _ = run()
    objectives = Objectives({"predict": Slo(p95_ms=40, p99_ms=10, at_rps=500)},
                            Budget(0.002, 0.001))
    found = [(r.endpoint, r.objective, r.met) for r in readings(report, objectives)]
    assert found == [("predict", "p95 <= 40 ms", True), ("predict", "p99 <= 10 ms", False),
                     ("predict", "held at >= 500/s", False),  # measured at 100/s only
                     ("all", "cost per 1,000 <= 0.002", True)]
