"""The probe's renderings: pure functions from an outcome to text or bytes, no I/O.

- :mod:`.summary`: the text summary the CLI prints, and result.json.
- :mod:`.plots`: ``latency.png`` and ``percentiles.png``.
- :mod:`.llm_plots`: ``tokens.png``, TTFT and TPOT over time of an LLM run.
- :mod:`.page`: ``report.html``, the pictures inline.
- :mod:`.llm_page`: report.html's token metrics and server-side evidence of an LLM run.
- :mod:`.objectives`: the SLOs, budget and verdict the pictures and page draw when given.

:func:`render_files` gives every file of ``--out`` by name; the CLI writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatekeeper.probe.report import format_ms
from gatekeeper.probe.timeline import Second, Timeline, build_timeline
from gatekeeper.render.probe.llm_plots import has_tokens, tokens_figure, tokens_png
from gatekeeper.render.probe.objectives import (
    NONE,
    Budget,
    Objectives,
    Slo,
    Verdict,
    slo_objectives,
    slo_verdict,
)
from gatekeeper.render.probe.page import facts, report_html
from gatekeeper.render.probe.plots import (
    coarse_bins,
    has_histogram,
    has_timeline,
    latency_figure,
    latency_png,
    percentiles_figure,
    percentiles_png,
)
from gatekeeper.render.probe.summary import json_safe, result_json, summary_lines

if TYPE_CHECKING:
    from gatekeeper.probe.run import ProbeOutcome

__all__ = ["NONE", "Budget", "Objectives", "Second", "Slo", "Timeline", "Verdict",
           "build_timeline", "coarse_bins", "facts", "format_ms", "has_histogram",
           "has_timeline", "json_safe", "latency_figure", "latency_png", "percentiles_figure",
           "percentiles_png", "render_files", "report_html", "result_json", "slo_objectives",
           "slo_verdict", "summary_lines", "tokens_figure", "tokens_png"]


def render_files(outcome: ProbeOutcome, objectives: Objectives = NONE) -> dict[str, bytes]:
    """result.json, the pictures there is something to draw for, and the HTML page, by file
    name in the order they are listed (a picture with nothing to draw is left out); the
    pictures and page draw ``objectives`` (SLOs, budget, verdict) when given."""
    report = outcome.report
    latency = latency_png(report, objectives) if has_histogram(report) else None
    percentiles = (percentiles_png(outcome.timeline, report, objectives)
                   if has_timeline(outcome.timeline) else None)
    tokens = (tokens_png(outcome.details, report.url) if has_tokens(outcome.details)
              else None)
    page = report_html(report, facts(outcome), outcome.problems, latency, percentiles,
                       objectives, tokens=tokens, llm=outcome.details.get("llm"),
                       server=outcome.details.get("server_metrics"))
    files = {"result.json": result_json(outcome).encode(), "latency.png": latency,
             "percentiles.png": percentiles, "tokens.png": tokens,
             "report.html": page.encode()}
    return {name: data for name, data in files.items() if data is not None}
