"""Adding a run's server-side evidence to what the mode measured.

The evidence goes into the outcome's metrics (``server.<concept>.<stat>``, logged to MLflow
beside the probe's own) and into result.json under ``server_metrics``; the summary gets the
server's TTFT beside the client's for every endpoint type the client measured TTFT for
(``ttft.<endpoint>.p50_ms`` ... in the mode's metrics) and a line when the run saturated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from gatekeeper.probe.modes.interface import Measured
from gatekeeper.probe.server_metrics.prometheus_window import SCHEME, PrometheusWatch
from gatekeeper.probe.server_metrics.scrape import ServerWatch, check_metrics_url
from gatekeeper.probe.server_metrics.window import ServerEvidence, side_by_side

CLIENT_TTFT = re.compile(r"^ttft\.(?P<endpoint>.+)\.(?P<stat>p\d+(?:_\d+)?_ms)$")


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
        line = f"server metrics: none ({watch.problem or 'not scraped'})"
        return replace(measured, lines=(*measured.lines, line),
                       details={**measured.details, "server_metrics": None})
    return replace(measured, metrics={**measured.metrics, **evidence.metrics()},
                   lines=(*measured.lines, *server_lines(evidence, measured.metrics)),
                   details={**measured.details, "server_metrics": evidence.to_dict()})


def server_lines(evidence: ServerEvidence, client_metrics: Mapping[str, float]
                 ) -> tuple[str, ...]:
    """What the summary says of the server: which it was, TTFT beside the client's, and
    saturation."""
    lines = [f"server metrics: {', '.join(evidence.servers) or 'no known metrics'} at "
             f"{evidence.url}, {evidence.samples} samples over {evidence.window_s:.1f} s"]
    for endpoint, client in client_ttft(client_metrics).items():
        lines.extend(f"  {endpoint}: {line}" for line in side_by_side(client, evidence))
    if evidence.saturation is not None and evidence.saturation.saturated:
        s = evidence.saturation
        lines.append(f"  SATURATED: the server's waiting queue kept growing "
                     f"({s.first_quarter:.1f} -> {s.last_quarter:.1f} requests, "
                     f"{s.slope_per_s:+.2f}/s)")
    return tuple(lines)


def client_ttft(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """The client's TTFT percentiles by endpoint type, from ``ttft.<e>.<pNN>_ms`` metrics."""
    found: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        if match := CLIENT_TTFT.match(name):
            found.setdefault(match["endpoint"], {})[match["stat"]] = value
    return found
