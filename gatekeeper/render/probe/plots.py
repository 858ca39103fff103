"""The probe's pictures and its HTML page: pure renderers that return bytes or text.

- ``latency_png``: the latency histogram of each endpoint type (log scales, percentile marks).
- ``percentiles_png``: p50/p95/p99 per one-second window, above the request rate per second
  (intended vs actually sent) and errors, so a stall or a generator falling behind shows.
- ``report_html``: one self-contained page: both pictures inline (base64 PNG) and the table.

matplotlib is imported inside the functions that draw (only ``gatekeeper probe`` pays for it)
and used through ``Figure`` objects, never ``pyplot``, so no global state or GUI backend.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from gatekeeper.probe.engine import Sample, StatusClass
from gatekeeper.probe.histogram import Histogram
from gatekeeper.probe.report import EndpointReport, ProbeReport

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


# The series the percentile plot draws (also saved in result.json) -------------------------


@dataclass(frozen=True)
class Second:
    """One one-second window of a run, by intended send time (sent: by actual send time)."""

    second: int
    intended: int
    sent: int
    ok: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Timeline:
    """Per-second windows of a whole run, warm-up included (``warmup_s`` marks its end)."""

    seconds: tuple[Second, ...]
    warmup_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"warmup_s": self.warmup_s, "window_s": 1,
                "seconds": [asdict(s) for s in self.seconds]}


def build_timeline(samples: Sequence[Sample], warmup_s: float) -> Timeline:
    """Group every sample into one-second windows of the run."""
    by_intended: dict[int, list[Sample]] = defaultdict(list)
    sent: dict[int, int] = defaultdict(int)
    for sample in samples:
        by_intended[int(sample.intended_s)].append(sample)
        sent[int(sample.sent_s)] += 1
    last = max([*by_intended, *sent], default=-1)
    return Timeline(tuple(window(n, by_intended.get(n, []), sent.get(n, 0))
                          for n in range(last + 1)), warmup_s)


def window(second: int, samples: Sequence[Sample], sent: int) -> Second:
    """One window: counts, and latency percentiles of its ``ok`` answers (None without any)."""
    ok = [s.latency_s for s in samples if s.status is StatusClass.OK]
    histogram = Histogram.of(ok)
    marks = [histogram.percentile(q) * 1000 if ok else None for q in (0.5, 0.95, 0.99)]
    return Second(second, len(samples), sent, len(ok), len(samples) - len(ok), *marks)


# Pictures ---------------------------------------------------------------------------------


def latency_png(report: ProbeReport) -> bytes:
    """The latency histogram of each endpoint type, one panel each, percentiles marked."""
    from matplotlib.figure import Figure

    endpoints = report.endpoints or ()
    figure = Figure(figsize=(WIDTH_IN, 1.2 + 2.4 * max(len(endpoints), 1)), dpi=DPI,
                    layout="constrained")
    axes = figure.subplots(max(len(endpoints), 1), 1, squeeze=False)[:, 0]
    for ax, endpoint in zip(axes, endpoints, strict=False):
        draw_histogram(ax, endpoint)
    if not endpoints:
        axes[0].text(0.5, 0.5, "no requests measured", ha="center", va="center")
    axes[-1].set_xlabel("latency from the intended send time, ms (log scale)")
    figure.suptitle(f"Latency histogram: {report.url}", fontsize=11)
    return png_bytes(figure)


def draw_histogram(ax: Axes, endpoint: EndpointReport) -> None:
    """Counts per (coarsened) log bucket as steps, with vertical percentile marks."""
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
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.grid(True, which="major", alpha=0.3)


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


def percentiles_png(timeline: Timeline, report: ProbeReport) -> bytes:
    """p50/p95/p99 per second (top) and requests per second, intended vs sent (bottom)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, 6.0), dpi=DPI, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    draw_percentile_lines(top, timeline)
    draw_rates(bottom, timeline)
    for ax in (top, bottom):
        if timeline.warmup_s > 0:
            ax.axvspan(0, timeline.warmup_s, color="#adb5bd", alpha=0.3, linewidth=0)
        ax.grid(True, alpha=0.3)
    bottom.set_xlabel("seconds from the start (intended send time; grey: warm-up, excluded)")
    held = report.held_target_rate
    figure.suptitle(f"Latency over time: {report.url}" + ("" if held else f"  ({NOT_HELD})"),
                    fontsize=11, color="black" if held else "#c92a2a")
    return png_bytes(figure)


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


def format_ms(value: float) -> str:
    """Milliseconds at a precision that reads well from 0.05 ms to minutes."""
    if math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


# The HTML page ----------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #212529; }
table { border-collapse: collapse; font-size: 0.9em; margin: 1em 0; }
th, td { border: 1px solid #dee2e6; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.bad { color: #c92a2a; font-weight: 600; }
.ok { color: #2b8a3e; font-weight: 600; }
img { max-width: 100%; }
.note { color: #495057; font-size: 0.9em; }
"""
COLUMNS = ("endpoint", "ok samples", "target/s", "achieved/s", "rate held", "p50 ms", "p90 ms",
           "p95 ms", "p99 ms", "p99.9 ms", "max ms", "service p99 ms", "error rate",
           "errors by class")


def report_html(report: ProbeReport, facts: Sequence[tuple[str, str]],
                problems: Sequence[str], latency: bytes | None, percentiles: bytes | None
                ) -> str:
    """The page: ``facts`` (label, value) on top, the verdict, the table, both pictures.

    A picture given as None (nothing to draw: see :func:`has_histogram`) is replaced by a note
    saying why, so a report from Locust or an imported file still renders."""
    verdict = ('<p class="ok">Evidence usable.</p>' if not problems else
               '<p class="bad">Evidence NOT usable:</p><ul>'
               + "".join(f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>gatekeeper probe: {html.escape(report.url)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>gatekeeper probe: {html.escape(report.url)}</h1>",
        "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                            for k, v in facts) + "</table>",
        verdict, endpoint_table(report.endpoints),
        f'<p class="note">Percentiles: {html.escape(report.percentile_method)}. Latency is '
        "measured from each request's intended send time (coordinated-omission corrected); "
        "service time from its actual send. Warm-up excluded.</p>",
        "<h2>Latency histogram</h2>",
        image(latency, "latency histogram per endpoint type") if latency else NO_HISTOGRAM,
        "<h2>Percentiles over time</h2>",
        image(percentiles, "p50, p95, p99 per second") if percentiles else NO_TIMELINE,
        "</body></html>", ""])


def has_histogram(report: ProbeReport) -> bool:
    """False when requests were measured but no raw histogram came with them (Locust, k6 and
    Locust imports report percentiles only): there is nothing to draw."""
    measured = any(e.requests for e in report.endpoints)
    return not measured or any(e.latency_histogram.count for e in report.endpoints)


def has_timeline(timeline: Timeline) -> bool:
    """False when the engine kept no per-request samples (Locust, imports)."""
    return bool(timeline.seconds)


NO_HISTOGRAM = ('<p class="note">No latency histogram: this report\'s source gives '
                'percentiles only (see the table), not the raw distribution.</p>')
NO_TIMELINE = ('<p class="note">No percentiles over time: this report\'s source kept no '
               'per-request times.</p>')


def endpoint_table(endpoints: Iterable[EndpointReport]) -> str:
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row_cells(e)) + "</tr>"
                   for e in endpoints)
    return f"<table><tr>{head}</tr>{rows}</table>"


def row_cells(e: EndpointReport) -> list[str]:
    """The table cells of one endpoint type, HTML-escaped."""
    lat = e.latency
    held = '<span class="ok">yes</span>' if e.held_target_rate else '<span class="bad">NO</span>'
    errors = ", ".join(f"{k} {v:,}" for k, v in e.errors.items() if v) or "none"
    return [html.escape(e.endpoint), f"{e.samples:,}", f"{e.target_rps:,.1f}",
            f"{e.achieved_rps:,.1f}", held,
            *(format_ms(v * 1000) for v in (lat.p50, lat.p90, lat.p95, lat.p99, lat.p99_9,
                                             lat.max, e.service.p99)),
            f"{e.error_rate:.2%}", html.escape(errors)]


def image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
