"""Adding a run's server-side evidence to what the mode measured.

The evidence goes into the outcome's metrics (``server.<concept>.<stat>``, logged to MLflow
beside the probe's own) and into result.json under ``server_metrics``; the summary gets the
server's TTFT beside the client's for every endpoint type the client measured TTFT for
(``ttft.<endpoint>.p50_ms`` ... in the mode's metrics) and a line when the run saturated.
:func:`beside_client` is the one pairing of the server's readings with the client's: the
summary and report.html both use it. When the server could not be read, ``server_metrics``
holds the ``problem`` alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from gatekeeper.probe.modes.interface import Measured
from gatekeeper.probe.server_metrics.prometheus_window import SCHEME, PrometheusWatch
from gatekeeper.probe.server_metrics.scrape import ServerWatch, check_metrics_url
from gatekeeper.probe.server_metrics.window import QUANTILES, ServerEvidence

CLIENT_SERIES = re.compile(
    r"^(?P<concept>ttft|itl|tpot)\.(?P<endpoint>.+)\.(?P<stat>p\d+(?:_\d+)?_ms)$")
#: The server's readings that can be set beside the client's, with their labels, in order.
BESIDE = {"ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E", "queue_time": "queue time"}
#: The client's percentiles: endpoint type -> concept -> ``p50_ms`` ... (None: not measured).
ClientSeries = Mapping[str, Mapping[str, Mapping[str, float | None]]]


class Watch(Protocol):
    """Reads the server around one run: ``start`` before, ``halt`` and ``stop`` after."""

    problem: str | None

    def start(self) -> None: ...

    def halt(self) -> None: ...

    def stop(self) -> ServerEvidence | None: ...


def open_watch(source: str) -> Watch:
    """The watch ``--server-metrics`` names, started: a /metrics URL is scraped,
    ``prometheus+URL#SELECTOR`` is asked of Prometheus."""
    watch: Watch
    if source.startswith(SCHEME):
        watch = PrometheusWatch(source)
    else:
        check_metrics_url(source)
        watch = ServerWatch(source)
    watch.start()
    return watch


def attach_server(measured: Measured, watch: Watch) -> Measured:
    """``measured`` with the evidence of ``watch`` (stopped here) added."""
    evidence = watch.stop()
    if evidence is None:
        problem = watch.problem or "not scraped"
        return replace(measured, lines=(*measured.lines, f"server metrics: none ({problem})"),
                       details={**measured.details, "server_metrics": {"problem": problem}})
    return replace(measured, metrics={**measured.metrics, **evidence.metrics()},
                   lines=(*measured.lines, *server_lines(evidence, measured.metrics)),
                   details={**measured.details, "server_metrics": evidence.to_dict()})


def server_lines(evidence: ServerEvidence, client_metrics: Mapping[str, float]
                 ) -> tuple[str, ...]:
    """What the summary says of the server: which it was, TTFT beside the client's, and
    saturation."""
    lines = [f"server metrics: {', '.join(evidence.servers) or 'no known metrics'} at "
             f"{evidence.url}, {evidence.samples} samples over {evidence.window_s:.1f} s"]
    readings = evidence.to_dict()["readings"]
    lines.extend(f"  {b.endpoint}: {b.label} {b.stat}: client {ms_text(b.client_ms)}, server "
                 f"{ms_text(b.server_ms)} ({b.metric})"
                 for b in beside_client(client_series(client_metrics), readings, ("ttft",)))
    if evidence.saturation is not None and evidence.saturation.saturated:
        s = evidence.saturation
        lines.append(f"  SATURATED: the server's waiting queue kept growing "
                     f"({s.first_quarter:.1f} -> {s.last_quarter:.1f} requests, "
                     f"{s.slope_per_s:+.2f}/s)")
    return tuple(lines)


@dataclass(frozen=True)
class Beside:
    """One percentile of one reading: the client's for one endpoint type, and the server's
    (over every request it served). NaN: that side has no such value."""

    endpoint: str
    concept: str
    stat: str
    client_ms: float
    server_ms: float
    metric: str

    @property
    def label(self) -> str:
        return BESIDE[self.concept]


def beside_client(client: ClientSeries, readings: Mapping[str, Mapping[str, Any]],
                  concepts: Sequence[str] = tuple(BESIDE)) -> tuple[Beside, ...]:
    """The server's percentiles of ``concepts`` beside the client's, per endpoint type of
    ``client``: one :class:`Beside` per percentile either side has. ``readings`` is
    result.json's ``server_metrics.readings``; a concept the server did not expose gives
    nothing, one the client has no counterpart of (queue time) gives the server's alone."""
    found = []
    for endpoint, series in client.items():
        for concept in concepts:
            reading = readings.get(concept)
            if reading is None:
                continue
            mine = series.get(concept) or {}
            for stat in QUANTILES:
                pair = (number(mine.get(f"{stat}_ms")), number(reading.get(f"{stat}_ms")))
                if any(math.isfinite(v) for v in pair):
                    found.append(Beside(endpoint, concept, stat, *pair, str(reading["metric"])))
    return tuple(found)


def client_series(metrics: Mapping[str, float]) -> dict[str, dict[str, dict[str, float]]]:
    """The client's TTFT, ITL and TPOT percentiles by endpoint type, from the logged
    ``<concept>.<e>.<pNN>_ms`` metrics."""
    found: dict[str, dict[str, dict[str, float]]] = {}
    for name, value in metrics.items():
        if match := CLIENT_SERIES.match(name):
            found.setdefault(match["endpoint"], {}).setdefault(match["concept"], {})[
                match["stat"]] = value
    return found


def number(value: object) -> float:
    """A JSON number as a float; anything else (null, absent) as NaN."""
    return float(value) if isinstance(value, (int, float)) else math.nan


def ms_text(value: float) -> str:
    return f"{value:,.1f} ms" if math.isfinite(value) else "-"
