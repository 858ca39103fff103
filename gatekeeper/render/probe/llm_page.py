"""report.html's sections of an LLM run: the token metrics per endpoint type (result.json's
``llm``) and the server-side evidence (``server_metrics``), the server's percentiles beside the
client's and the saturation verdict. Pure: mappings in, HTML-escaped text out; both sections
are empty for a run without them."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from itertools import groupby
from typing import Any

from gatekeeper.probe.llm.metrics import Slo
from gatekeeper.probe.report import format_ms
from gatekeeper.probe.server_metrics.attach import BESIDE, beside_client, number
from gatekeeper.probe.server_metrics.window import QUANTILES

TOKEN_COLUMNS = ("endpoint", "ok of requests", "TTFT p50 ms", "TTFT p90 ms", "TTFT p99 ms",
                 "TTFT p99 from actual send ms", "TTFO p50 ms", "TPOT p50 ms", "TPOT p99 ms",
                 "ITL p50 ms", "ITL p99 ms", "NTPOT p99 ms", "E2E p99 ms", "output tokens/s",
                 "per-user tokens/s", "goodput")
DEFINITIONS = ('<p class="note">Every latency counts from the request\'s intended send time '
               "(coordinated omission corrected) unless it says otherwise; docs/llm.md defines "
               "each metric (TTFT, TTFO, TPOT, ITL, NTPOT, goodput).</p>")
#: The server's gauges the page shows (their max over the run's samples), with their labels.
GAUGES = (("kv_cache_usage", "KV cache usage max"), ("requests_running", "requests running max"),
          ("requests_waiting", "requests waiting max"))
#: The client's series set beside the server's, as result.json's ``llm.endpoints`` names them.
CLIENT_CONCEPTS = ("ttft", "itl", "tpot", "e2e")


def llm_sections(llm: Mapping[str, Any] | None, server: Mapping[str, Any] | None) -> str:
    """The token metrics (when ``llm`` is given) and the server-side evidence (when
    ``server`` is), or nothing."""
    return "\n".join(part for part in (token_section(llm), server_section(server, llm))
                     if part)


def token_section(llm: Mapping[str, Any] | None) -> str:
    """One row of token metrics per endpoint type, the SLO goodput was judged against,
    usage disagreements, and where the definitions are."""
    if not llm:
        return ""
    endpoints = endpoints_of(llm)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in TOKEN_COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in token_cells(e))
                   + "</tr>" for e in endpoints)
    notes = [f"Goodput: ok requests that met {slo_text(llm.get('slo'))}, per second of the "
             "run's window.", *(line for e in endpoints for line in usage_notes(e))]
    return "\n".join(["<h2>Token metrics</h2>", f"<table>{head}{rows}</table>",
                      *(f'<p class="note">{html.escape(n)}</p>' for n in notes), DEFINITIONS])


def endpoints_of(llm: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [e for e in llm.get("endpoints") or () if isinstance(e, Mapping)]


def token_cells(e: Mapping[str, Any]) -> list[str]:
    """The cells of one endpoint type, as text (escaped by the caller)."""
    tokens, goodput = e.get("tokens") or {}, e.get("goodput") or {}
    share = number(e.get("itl_multi_token_share"))
    together = number(e.get("itl_same_read_share"))
    itl_p99 = stat_ms(e, "itl", "p99")
    if share > 0:
        itl_p99 += f" ({share:.0%} multi-token)"
    if together > 0:
        itl_p99 += f" ({together:.1%} of gaps 0: chunks read together)"
    return [str(e.get("endpoint", "")), f"{e.get('ok', 0):,} of {e.get('requests', 0):,}",
            *(stat_ms(e, "ttft", q) for q in ("p50", "p90", "p99")),
            stat_ms(e, "service_ttft", "p99"), stat_ms(e, "ttfo", "p50"),
            stat_ms(e, "tpot", "p50"), stat_ms(e, "tpot", "p99"), stat_ms(e, "itl", "p50"),
            itl_p99, stat_ms(e, "ntpot", "p99"), stat_ms(e, "e2e", "p99"),
            rate(tokens.get("output_per_s")), rate(tokens.get("per_user_output_per_s")),
            f"{goodput.get('good', 0):,} of {e.get('ok', 0):,} ok, "
            f"{number(goodput.get('rps')):,.2f}/s"]


def stat_ms(e: Mapping[str, Any], series: str, stat: str) -> str:
    return format_ms(number((e.get(series) or {}).get(f"{stat}_ms")))


def rate(value: object) -> str:
    found = number(value)
    return f"{found:,.1f}" if math.isfinite(found) else "-"


def slo_text(slo: object) -> str:
    """``llm.slo`` as the summary words it (``TTFT <= 200 ms, ...``)."""
    given = slo if isinstance(slo, Mapping) else {}
    limits = {k: number(given.get(k)) for k in ("ttft_ms", "tpot_ms", "e2e_ms")}
    return Slo(**{k: v if math.isfinite(v) else None for k, v in limits.items()}).describe()


def usage_notes(e: Mapping[str, Any]) -> list[str]:
    """A line when usage and token chunks disagreed, or usage was missing."""
    usage = e.get("usage") or {}
    name, notes = e.get("endpoint", ""), []
    if usage.get("mismatches"):
        notes.append(f"{name}: usage and token chunks disagree on {usage['mismatches']:,} of "
                     f"{e.get('ok', 0):,} answers.")
    if usage.get("missing"):
        notes.append(f"{name}: {usage['missing']:,} answers had no usage: tokens counted by "
                     "chunks.")
    return notes


def server_section(server: Mapping[str, Any] | None, llm: Mapping[str, Any] | None) -> str:
    """Which server, its percentiles beside the client's, gauges, the prefix cache's hit
    ratio and the saturation verdict; one line when it could not be read."""
    if server is None:
        return ""
    if "readings" not in server:
        problem = str(server.get("problem") or "not scraped")
        return ("<h2>Server-side evidence</h2>\n<p class=\"bad\">Server metrics could not be "
                f"read: {html.escape(problem)}</p>")
    names = ", ".join(server.get("servers") or ()) or "no known metrics"
    return "\n".join([
        "<h2>Server-side evidence</h2>",
        f"<p>{html.escape(names)} at {html.escape(str(server.get('url', '')))}: "
        f"{count(server.get('samples')):,} samples over "
        f"{number(server.get('window_s')):.1f} s.</p>",
        saturation_line(server.get("saturation")),
        beside_table(server["readings"], llm or {}),
        levels_table(server["readings"], server.get("derived") or {}),
        '<p class="note">The server counts every request it served in the window (warm-up and '
        "other clients included) from when it saw it, in histogram buckets; the gap to the "
        "client is the network, any wait before the server, and the bucket width.</p>"])


def beside_table(readings: Mapping[str, Mapping[str, Any]], llm: Mapping[str, Any]) -> str:
    """One row per endpoint type and reading: each percentile, client then server."""
    client = {str(e.get("endpoint")): {c: e.get(c) or {} for c in CLIENT_CONCEPTS}
              for e in endpoints_of(llm)}
    pairs = beside_client(client, readings)
    if not pairs:
        return '<p class="note">The server exposed no latency reading to compare.</p>'
    head = "".join(f"<th>{q} client ms</th><th>{q} server ms</th>" for q in QUANTILES)
    rows = []
    for (endpoint, concept), group in groupby(pairs, key=lambda b: (b.endpoint, b.concept)):
        found = {b.stat: b for b in group}
        cells = "".join(
            f"<td>{format_ms(found[q].client_ms)}</td><td>{format_ms(found[q].server_ms)}</td>"
            if q in found else "<td>-</td><td>-</td>" for q in QUANTILES)
        metric = next(iter(found.values())).metric
        rows.append(f"<tr><td>{html.escape(endpoint)}</td><td>{html.escape(BESIDE[concept])}"
                    f"</td>{cells}<td>{html.escape(metric)}</td></tr>")
    return (f"<table><tr><th>endpoint</th><th>reading</th>{head}<th>server metric</th></tr>"
            + "".join(rows) + "</table>")


def levels_table(readings: Mapping[str, Mapping[str, Any]], derived: Mapping[str, Any]) -> str:
    """The gauges' max over the run and the prefix cache's hit ratio, where read."""
    rows = [(label, level_text(concept, readings[concept]))
            for concept, label in GAUGES if concept in readings]
    ratio = number(derived.get("prefix_cache.hit_ratio"))
    if math.isfinite(ratio):
        rows.append(("prefix cache hit ratio (token-weighted)", f"{ratio:.3f}"))
    if not rows:
        return ""
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                               for k, v in rows) + "</table>"


def count(value: object) -> int:
    found = number(value)
    return int(found) if math.isfinite(found) else 0


def level_text(concept: str, reading: Mapping[str, Any]) -> str:
    value = number(reading.get("max"))
    if not math.isfinite(value):
        return "-"
    return f"{value:.1%}" if concept == "kv_cache_usage" else f"{value:,.0f}"


def saturation_line(saturation: object) -> str:
    """The verdict on the waiting queue: red when it kept growing."""
    if not isinstance(saturation, Mapping):
        return ('<p class="note" id="saturation">Saturation not judged: the server exposes '
                "no waiting-queue gauge.</p>")
    slope = number(saturation.get("slope_per_s"))
    if not math.isfinite(slope):
        return ('<p class="note" id="saturation">Saturation not judged: '
                f"{count(saturation.get('samples'))} samples of the waiting queue, too few."
                "</p>")
    trend = (f"slope {slope:+.2f} requests/s, {number(saturation.get('first_quarter_mean')):.1f}"
             f" -> {number(saturation.get('last_quarter_mean')):.1f} waiting")
    if saturation.get("saturated"):
        return (f'<p class="bad" id="saturation">SATURATED: the queue kept growing '
                f"({html.escape(trend)}).</p>")
    return (f'<p id="saturation">Not saturated: the waiting queue did not keep growing '
            f"({html.escape(trend)}).</p>")
