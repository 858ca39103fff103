"""The probe's HTML page: one self-contained page (both pictures inline as base64 PNG, the
settings, the verdict and the per-endpoint table, and when given the objectives: each SLO and
the budget beside what was measured, and the verdict). Pure: returns the page as text."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gatekeeper.probe.report import EndpointReport, ProbeReport, format_ms
from gatekeeper.render.probe.llm_page import llm_sections
from gatekeeper.render.probe.objectives import NONE, Objectives, readings, slo_verdict

if TYPE_CHECKING:
    from gatekeeper.probe.run import ProbeOutcome


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
                problems: Sequence[str], latency: bytes | None, percentiles: bytes | None,
                objectives: Objectives = NONE, tokens: bytes | None = None,
                llm: Mapping[str, Any] | None = None,
                server: Mapping[str, Any] | None = None) -> str:
    """The page: ``facts`` (label, value) on top, the verdict, the objectives (when given),
    the table, both pictures.

    A picture given as None (nothing to draw: see :func:`has_histogram`) is replaced by a note
    saying why, so a report from Locust or an imported file still renders. ``tokens`` (an
    LLM run's TTFT and TPOT over time) adds a section of its own when given; so do ``llm``
    (result.json's token metrics) and ``server`` (its ``server_metrics``): see
    :mod:`.llm_page`."""
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
        verdict, objectives_section(report, objectives), endpoint_table(report.endpoints),
        f'<p class="note">Percentiles: {html.escape(report.percentile_method)}. Latency is '
        "measured from each request's intended send time (coordinated-omission corrected); "
        "service time from its actual send. Warm-up excluded.</p>",
        llm_sections(llm, server),
        "<h2>Latency histogram</h2>",
        image(latency, "latency histogram per endpoint type") if latency else NO_HISTOGRAM,
        "<h2>Percentiles over time</h2>",
        image(percentiles, "p50, p95, p99 per second") if percentiles else NO_TIMELINE,
        *(("<h2>TTFT and TPOT over time</h2>",
           image(tokens, "TTFT and TPOT per request and per second")) if tokens else ()),
        "</body></html>", ""])


NO_HISTOGRAM = ('<p class="note">No latency histogram: this report\'s source gives '
                'percentiles only (see the table), not the raw distribution.</p>')
NO_TIMELINE = ('<p class="note">No percentiles over time: this report\'s source kept no '
               'per-request times.</p>')


def objectives_section(report: ProbeReport, objectives: Objectives) -> str:
    """The verdict against the objectives, then one row per objective: what it asks, what was
    measured, met or not. Empty without objectives."""
    if objectives.empty:
        return ""
    verdict = slo_verdict(report, objectives)
    parts = ["<h2>Objectives</h2>"]
    if verdict is not None:
        word, css = ("PASS", "ok") if verdict.passed else ("FAIL", "bad")
        parts.append(f'<p class="{css}" id="verdict">{word}: {html.escape(verdict.text)}</p>')
    rows = "".join(
        f"<tr><td>{html.escape(r.endpoint)}</td><td>{html.escape(r.objective)}</td>"
        f"<td>{html.escape(r.measured)}</td><td>"
        + ('<span class="ok">yes</span>' if r.met else '<span class="bad">NO</span>')
        + "</td></tr>" for r in readings(report, objectives))
    if rows:
        parts.append("<table><tr><th>endpoint</th><th>objective</th><th>measured</th>"
                     f"<th>met</th></tr>{rows}</table>")
    budget = objectives.budget
    if budget is not None and budget.cost_per_1k is None:
        parts.append(f'<p class="note">{html.escape(budget.text())}</p>')
    return "\n".join(parts)


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


def facts(outcome: ProbeOutcome) -> Sequence[tuple[str, str]]:
    """The header rows of the HTML page."""
    r = outcome.request
    sending = r.mode.sending
    return [("target", r.shown_url), ("schedule", r.describe()),
            ("warm-up excluded", f"{sending.warmup_s:g} s"), ("request mix", sending.mix_source),
            ("started", outcome.started_at), ("finished", outcome.finished_at),
            ("held target rate", "yes" if outcome.report.held_target_rate else "NO")]
