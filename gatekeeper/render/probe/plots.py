"""The probe's pictures: pure renderers that return PNG bytes.

- ``latency_png``: the latency histogram of each endpoint type (log scales, percentile marks).
- ``percentiles_png``: p50/p95/p99 per one-second window, above the request rate per second
  (intended vs actually sent) and errors, so a stall or a generator falling behind shows.

Both draw the objectives when given (:mod:`.objectives`): each SLO as a solid line of its own
colour (p95 teal, p99 magenta; vertical on the histogram, horizontal over time), the SLO's
rate on the rate panel, the verdict as a green or red title on the right, and the cost budget
under the figure. ``latency_figure`` and ``percentiles_figure`` return the figure before it is
saved (every objective's artist carries a ``gid`` such as ``slo-p99``), the ``_png`` functions
its bytes.

matplotlib is imported inside the functions that draw (only ``gatekeeper probe`` pays for it)
and used through ``Figure`` objects, never ``pyplot``, so no global state or GUI backend.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

from gatekeeper.decide.remedy import plain_number
from gatekeeper.probe.histogram import Histogram
from gatekeeper.probe.report import EndpointReport, ProbeReport, format_ms
from gatekeeper.probe.timeline import Timeline
from gatekeeper.render.probe.objectives import NONE, Objectives, Slo, slo_verdict

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

DPI = 110
WIDTH_IN = 9.0
# The histogram's 1% buckets are far finer than a picture needs; about this many are drawn.
DRAWN_BINS = 60
MARKS = (("p50", "#2b8a3e"), ("p95", "#e67700"), ("p99", "#c92a2a"), ("p99_9", "#862e9c"))
LINES = (("p50_ms", "p50", "#2b8a3e"), ("p95_ms", "p95", "#e67700"),
         ("p99_ms", "p99", "#c92a2a"))
NOT_HELD = "target rate NOT held"
#: Colours of the objectives: none is used by anything else in the pictures.
SLO_COLOURS = {"p95": "#0ca678", "p99": "#d6336c"}
RATE_COLOUR = "#5f3dc4"
PASS_COLOUR, FAIL_COLOUR = "#2b8a3e", "#c92a2a"


# Pictures ---------------------------------------------------------------------------------


def latency_png(report: ProbeReport, objectives: Objectives = NONE) -> bytes:
    """The latency histogram of each endpoint type, one panel each, percentiles marked."""
    return png_bytes(latency_figure(report, objectives))


def latency_figure(report: ProbeReport, objectives: Objectives = NONE) -> Figure:
    """The figure of :func:`latency_png`, with each endpoint's SLOs as vertical lines."""
    from matplotlib.figure import Figure

    endpoints = report.endpoints or ()
    figure = Figure(figsize=(WIDTH_IN, 1.2 + 2.4 * max(len(endpoints), 1)), dpi=DPI,
                    layout="constrained")
    axes = figure.subplots(max(len(endpoints), 1), 1, squeeze=False)[:, 0]
    for ax, endpoint in zip(axes, endpoints, strict=False):
        draw_histogram(ax, endpoint, objectives.slo(endpoint.endpoint))
    if not endpoints:
        axes[0].text(0.5, 0.5, "no requests measured", ha="center", va="center")
    axes[-1].set_xlabel("latency from the intended send time, ms (log scale)")
    figure.suptitle(f"Latency histogram: {report.url}", fontsize=11)
    draw_verdict(figure, axes[0], report, objectives)
    return figure


def draw_histogram(ax: Axes, endpoint: EndpointReport, slo: Slo | None = None) -> None:
    """Counts per (coarsened) log bucket as steps, with vertical percentile marks and SLOs."""
    title = f"{endpoint.endpoint}: {endpoint.samples:,} ok samples"
    if not endpoint.held_target_rate:
        title += f"  ({NOT_HELD})"
    ax.set_title(title, loc="left", fontsize=10,
                 color="#c92a2a" if not endpoint.held_target_rate else "black")
    edges, counts = coarse_bins(endpoint.latency_histogram)
    if not counts:
        ax.text(0.5, 0.5, "no ok answers", ha="center", va="center", transform=ax.transAxes)
        return
    ax.stairs(counts, edges, fill=True, color="#4c6ef5", alpha=0.75)
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_labels(ax.xaxis)
    plain_log_labels(ax.yaxis)
    ax.set_ylim(bottom=0.7)
    ax.set_ylabel("requests")
    for name, colour in MARKS:
        value = getattr(endpoint.latency, name) * 1000
        label = f"{name.replace('_', '.')} {format_ms(value)} ms"
        ax.axvline(value, color=colour, linestyle="--", linewidth=1.2, label=label)
    for name, limit in (slo.limits() if slo else {}).items():
        ax.axvline(limit, color=SLO_COLOURS[name], linewidth=2.5, gid=f"slo-{name}",
                   label=f"SLO {name} {plain_number(limit)} ms")
        include(ax, "x", limit)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.grid(True, which="major", alpha=0.3)


def include(ax: Axes, axis: str, value: float) -> None:
    """Widen a log axis so ``value`` shows with a margin: an SLO far above every measured
    latency must still be drawn, or the picture would hide how much room was left."""
    low, high = ax.get_xlim() if axis == "x" else ax.get_ylim()
    limits = (min(low, value / 1.5), max(high, value * 1.5))
    if axis == "x":
        ax.set_xlim(*limits)
    else:
        ax.set_ylim(*limits)


def draw_verdict(figure: Figure, top: Axes, report: ProbeReport, objectives: Objectives,
                 pad: float = 6.0) -> None:
    """The verdict as a green or red title on the right of the top panel (``pad`` points
    above it: clear of a legend there), and the budget under the figure (red when over)."""
    verdict = slo_verdict(report, objectives)
    if verdict is not None:
        top.set_title(("PASS: " if verdict.passed else "FAIL: ") + verdict.text, loc="right",
                      fontsize=10, fontweight="bold", gid="verdict", pad=pad,
                      color=PASS_COLOUR if verdict.passed else FAIL_COLOUR)
    budget = objectives.budget
    if budget is not None:
        figure.supxlabel(budget.text(), fontsize=9, gid="budget",
                         color=FAIL_COLOUR if budget.within is False else "black")


def plain_log_labels(axis: Axis) -> None:
    """Label a log axis 0.5, 1, 2, 10 rather than 5x10^-1: the ticks matplotlib's own log
    formatter would label (it knows when minor ticks deserve one), as plain numbers."""
    from matplotlib.ticker import LogFormatterSciNotation

    class Plain(LogFormatterSciNotation):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain(labelOnlyBase=False))


def coarse_bins(histogram: Histogram) -> tuple[list[float], list[int]]:
    """Edges (ms) and counts of the histogram's buckets merged into about DRAWN_BINS bins."""
    if not histogram.buckets:
        return [], []
    low, high = min(histogram.buckets), max(histogram.buckets)
    group = max(1, math.ceil((high - low + 1) / DRAWN_BINS))
    first, last = low // group, high // group
    counts = [0] * (last - first + 1)
    for index, n in histogram.buckets.items():
        counts[index // group - first] += n
    gamma = (1 + histogram.accuracy) / (1 - histogram.accuracy)
    # Bucket i holds (gamma**(i-1), gamma**i]; bin j holds buckets j*group .. j*group+group-1.
    edges = [gamma ** (j * group - 1) * 1000 for j in range(first, last + 2)]
    return edges, counts


def percentiles_png(timeline: Timeline, report: ProbeReport, objectives: Objectives = NONE
                    ) -> bytes:
    """p50/p95/p99 per second (top) and requests per second, intended vs sent (bottom)."""
    return png_bytes(percentiles_figure(timeline, report, objectives))


def percentiles_figure(timeline: Timeline, report: ProbeReport,
                       objectives: Objectives = NONE) -> Figure:
    """The figure of :func:`percentiles_png`, SLOs as horizontal lines."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, 6.0), dpi=DPI, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    draw_percentile_lines(top, timeline)
    draw_slo_lines(top, bottom, report, objectives)
    draw_rates(bottom, timeline)
    for ax in (top, bottom):
        if timeline.warmup_s > 0:
            ax.axvspan(0, timeline.warmup_s, color="#adb5bd", alpha=0.3, linewidth=0)
        ax.grid(True, alpha=0.3)
    bottom.set_xlabel("seconds from the start (intended send time; grey: warm-up, excluded)")
    held = report.held_target_rate
    figure.suptitle(f"Latency over time: {report.url}" + ("" if held else f"  ({NOT_HELD})"),
                    fontsize=11, color="black" if held else "#c92a2a")
    draw_verdict(figure, top, report, objectives, pad=18.0)
    return figure


def draw_slo_lines(top: Axes, bottom: Axes, report: ProbeReport, objectives: Objectives
                   ) -> None:
    """Each measured endpoint type's SLOs across the percentiles, its rate across the rates.

    The timeline mixes every endpoint type, so a line is labelled with its endpoint when the
    types' objectives differ."""
    slos = {e.endpoint: slo for e in report.endpoints
            if (slo := objectives.slo(e.endpoint)) is not None}
    named = len(set(slos.values())) > 1
    drawn: set[tuple[str, float]] = set()
    lines = []
    for endpoint, slo in slos.items():
        who = f" {endpoint}" if named else ""
        for name, limit in slo.limits().items():
            if (name, limit) not in drawn:
                drawn.add((name, limit))
                lines.append(top.axhline(limit, color=SLO_COLOURS[name], linewidth=2.5,
                                         gid=f"slo-{name}",
                                         label=f"SLO{who} {name} {plain_number(limit)} ms"))
                include(top, "y", limit)
        if slo.at_rps is not None and ("rate", slo.at_rps) not in drawn:
            drawn.add(("rate", slo.at_rps))
            bottom.axhline(slo.at_rps, color=RATE_COLOUR, linewidth=2, linestyle="-.",
                           gid="slo-rate", label=f"SLO{who} rate {slo.at_rps:g}/s")
    if lines:
        # A legend of their own inside the panel: the one above it stays narrow, clear of the
        # verdict on the right (a second legend replaces the first unless it is re-added).
        first = top.get_legend()
        top.legend(handles=lines, loc="upper right", fontsize=8, framealpha=0.9)
        if first is not None:
            top.add_artist(first)


def draw_percentile_lines(ax: Axes, timeline: Timeline) -> None:
    """One line per percentile; windows without ok answers are gaps."""
    x = [s.second + 0.5 for s in timeline.seconds]
    for key, label, colour in LINES:
        y = [math.nan if getattr(s, key) is None else getattr(s, key) for s in timeline.seconds]
        ax.plot(x, y, marker="o", markersize=3, color=colour, label=label)
    if any(s.ok for s in timeline.seconds):
        ax.set_yscale("log")
        plain_log_labels(ax.yaxis)
    ax.set_ylabel("latency, ms (log scale)")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=8, ncols=3, frameon=False)


def draw_rates(ax: Axes, timeline: Timeline) -> None:
    """Requests intended and sent per second, and errors per second as bars."""
    edges = list(range(len(timeline.seconds) + 1))
    ax.stairs([s.intended for s in timeline.seconds], edges, color="#adb5bd", linewidth=4,
              label="target (intended)/s")
    ax.stairs([s.sent for s in timeline.seconds], edges, color="#1c7ed6", linewidth=1.5,
              label="sent/s")
    ax.bar([s.second + 0.5 for s in timeline.seconds], [s.errors for s in timeline.seconds],
           width=0.8, color="#fa5252", alpha=0.7, label="errors/s")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("requests per second")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=8, ncols=3, frameon=False)


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def has_histogram(report: ProbeReport) -> bool:
    """False when requests were measured but no raw histogram came with them (Locust, k6 and
    Locust imports report percentiles only): there is nothing to draw."""
    measured = any(e.requests for e in report.endpoints)
    return not measured or any(e.latency_histogram.count for e in report.endpoints)


def has_timeline(timeline: Timeline) -> bool:
    """False when the engine kept no per-request samples (Locust, imports)."""
    return bool(timeline.seconds)
