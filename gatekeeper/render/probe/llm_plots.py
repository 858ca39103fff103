"""``tokens.png``: TTFT and TPOT over time of an LLM run (``--api``), a pure renderer.

Drawn from result.json's ``llm.requests`` (the first measured requests, warm-up excluded,
each with its intended send time, token chunk arrivals and end, from the intended send time):
one panel for TTFT, one for TPOT = (E2E - TTFT) / (output tokens - 1). Each ok request is a
faint point at its intended send second; p50 and p99 per one-second window are lines (per
endpoint type when there are several); the SLOs of ``--slo-ttft-ms`` and ``--slo-tpot-ms``
are solid horizontal lines (``gid`` ``slo-ttft``, ``slo-tpot``), so a stall, a queue building
up or decoding slowing under load shows against the objective.

``tokens_figure`` returns the figure before it is saved (tests read its line data),
``tokens_png`` its bytes. matplotlib is imported where it draws, used through ``Figure``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatekeeper.decide.remedy import plain_number
from gatekeeper.render.probe.plots import DPI, WIDTH_IN, plain_log_labels, png_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The two panels: the series' key, its title, its SLO's key in ``llm.slo``.
PANELS = (("ttft", "TTFT: intended send to first token", "ttft_ms"),
          ("tpot", "TPOT: (E2E - TTFT) / (output tokens - 1)", "tpot_ms"))
PERCENTILES = (("p50", 0.5, "#2b8a3e"), ("p99", 0.99, "#c92a2a"))
ENDPOINT_STYLES = ("-", "--", ":", "-.")
SLO_COLOUR = "#d6336c"
POINT_COLOUR = "#adb5bd"


@dataclass(frozen=True)
class Point:
    """One ok request: its endpoint, intended send (s from the start), TTFT and TPOT (ms)."""

    endpoint: str
    at_s: float
    ttft_ms: float
    tpot_ms: float | None


def points(details: Mapping[str, Any]) -> list[Point]:
    """The ok requests of result.json's ``llm.requests`` (none without an LLM run)."""
    llm = details.get("llm")
    requests = llm.get("requests") if isinstance(llm, Mapping) else None
    found = []
    for r in requests or ():
        chunks = r.get("chunks_ms") or []
        if r.get("status") != "ok" or not chunks:
            continue
        tokens = r.get("output_tokens") or len(chunks)
        tpot = (r["end_ms"] - chunks[0]) / (tokens - 1) if tokens >= 2 else None
        found.append(Point(str(r["endpoint"]), float(r["intended_s"]), float(chunks[0]), tpot))
    return found


def has_tokens(details: Mapping[str, Any]) -> bool:
    """Whether there is a TTFT to draw: an LLM run with at least one ok request."""
    return bool(points(details))


def slo_limits(details: Mapping[str, Any]) -> dict[str, float]:
    """``ttft_ms`` / ``tpot_ms`` of ``llm.slo`` that were given."""
    llm = details.get("llm")
    slo = llm.get("slo") if isinstance(llm, Mapping) else None
    if not isinstance(slo, Mapping):
        return {}
    return {k: float(v) for k, v in slo.items() if k in ("ttft_ms", "tpot_ms")
            and isinstance(v, (int, float)) and v > 0}


def per_second(values: Sequence[tuple[float, float]], q: float
               ) -> tuple[list[float], list[float]]:
    """x (window middles) and the nearest-rank ``q`` percentile of the values in each
    one-second window of intended send time; windows without values are gaps (NaN)."""
    if not values:
        return [], []
    windows: dict[int, list[float]] = {}
    for at, value in values:
        windows.setdefault(int(at), []).append(value)
    last = max(windows)
    x, y = [], []
    for second in range(min(windows), last + 1):
        ordered = sorted(windows.get(second, []))
        x.append(second + 0.5)
        y.append(ordered[max(math.ceil(q * len(ordered)), 1) - 1] if ordered else math.nan)
    return x, y


def tokens_png(details: Mapping[str, Any], url: str) -> bytes:
    """TTFT (top) and TPOT (bottom) over time, SLOs drawn."""
    return png_bytes(tokens_figure(details, url))


def tokens_figure(details: Mapping[str, Any], url: str) -> Figure:
    """The figure of :func:`tokens_png`."""
    from matplotlib.figure import Figure

    found = points(details)
    limits = slo_limits(details)
    figure = Figure(figsize=(WIDTH_IN, 6.5), dpi=DPI, layout="constrained")
    axes = figure.subplots(2, 1, sharex=True)
    for ax, (key, title, slo_key) in zip(axes, PANELS, strict=True):
        draw_panel(ax, found, key, title, limits.get(slo_key))
    axes[-1].set_xlabel("seconds from the start (intended send time; warm-up excluded)")
    shown = len(found)
    figure.suptitle(f"TTFT and TPOT over time: {url} ({shown:,} ok requests drawn)",
                    fontsize=11)
    return figure


def draw_panel(ax: Axes, found: Sequence[Point], key: str, title: str, slo_ms: float | None
               ) -> None:
    """One series: every request as a point, p50/p99 per second per endpoint, the SLO."""
    endpoints = sorted({p.endpoint for p in found})
    values = [(p, getattr(p, f"{key}_ms")) for p in found]
    values = [(p, v) for p, v in values if v is not None]
    ax.set_title(title, loc="left", fontsize=10)
    if not values:
        ax.text(0.5, 0.5, "no request with two tokens or more", ha="center", va="center",
                transform=ax.transAxes)
        return
    ax.scatter([p.at_s for p, _ in values], [v for _, v in values], s=6, color=POINT_COLOUR,
               alpha=0.6, label="each request", gid=f"{key}-requests")
    for index, endpoint in enumerate(endpoints):
        mine = [(p.at_s, v) for p, v in values if p.endpoint == endpoint]
        who = f"{endpoint} " if len(endpoints) > 1 else ""
        for name, q, colour in PERCENTILES:
            x, y = per_second(mine, q)
            ax.plot(x, y, marker="o", markersize=3, color=colour,
                    linestyle=ENDPOINT_STYLES[index % len(ENDPOINT_STYLES)],
                    label=f"{who}{name} per second", gid=f"{key}-{endpoint}-{name}")
    if slo_ms is not None:
        ax.axhline(slo_ms, color=SLO_COLOUR, linewidth=2.5, gid=f"slo-{key}",
                   label=f"SLO {key.upper()} {plain_number(slo_ms)} ms")
    ax.set_yscale("log")
    plain_log_labels(ax.yaxis)
    low, high = ax.get_ylim()
    if slo_ms is not None:  # an SLO far from every reading must still show
        ax.set_ylim(min(low, slo_ms / 1.5), max(high, slo_ms * 1.5))
    ax.set_ylabel(f"{key.upper()}, ms (log scale)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
