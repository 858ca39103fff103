"""The Prometheus variant of ``--server-metrics``: ``prometheus+http://HOST:9090[#SELECTOR]``
asks a Prometheus that scrapes the server for the same readings, over the run's window.

Instead of PromQL functions, it asks for the raw series the registry knows, at the window's
start and end (instant queries ``{__name__=~"vllm:.*|tgi_.*|nv_.*|DCGM_FI_.*", SELECTOR}``)
and, for the gauges, at up to ``MAX_STEPS`` + 1 evenly spaced instants between; those answers
become scrapes and go through the very same window rules as a direct scrape. An instant
query answers a series' last sample at or before that instant, so the window is as sharp as
Prometheus' scrape interval: requests answered after its last scrape before the end are not
counted. ``SELECTOR`` is label matchers (``job="vllm",instance="10.0.0.5:8000"``) and is
needed wherever Prometheus scrapes more than one server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from gatekeeper.errors import InvalidInputError
from gatekeeper.evidence.interface import EvidenceSourceError
from gatekeeper.evidence.prometheus import PromAnswer, run_query
from gatekeeper.probe.server_metrics.exposition import Sample, Scrape
from gatekeeper.probe.server_metrics.registry import METRICS
from gatekeeper.probe.server_metrics.scrape import ScrapeError
from gatekeeper.probe.server_metrics.window import ServerEvidence, window_evidence
from gatekeeper.probe.urls import redact_url

SCHEME = "prometheus+"
NAMES = "vllm:.*|tgi_.*|nv_.*|DCGM_FI_.*"
MAX_STEPS = 30


def split_source(source: str) -> tuple[str, str]:
    """``prometheus+URL#SELECTOR`` -> (URL, SELECTOR)."""
    parts = urlsplit(source.removeprefix(SCHEME))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"--server-metrics: {redact_url(source)!r}: after "
                                f"'{SCHEME}' give Prometheus' http:// or https:// base URL")
    return urlunsplit(parts._replace(fragment="")), parts.fragment


def selector(names: str, labels: str) -> str:
    matchers = [f'__name__=~"{names}"', *([labels] if labels else [])]
    return "{" + ",".join(matchers) + "}"


def as_scrape(found: PromAnswer, taken_at: float) -> Scrape:
    """An instant vector as the scrape it was made of (``__name__`` back as the name)."""
    samples = []
    for s in found.samples:
        labels = dict(s.labels)
        name = labels.pop("__name__", "")
        samples.append(Sample(name, tuple(sorted(labels.items())), s.value))
    return Scrape(tuple(samples), {}, taken_at)


@dataclass
class PrometheusWatch:
    """The window of one run, asked of Prometheus when it ends (see the module docstring)."""

    source: str
    problem: str | None = None
    started: float = 0.0
    _url: str = field(init=False, default="")
    _labels: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self._url, self._labels = split_source(self.source)

    def ask(self, names: str, at: float) -> Scrape:
        promql = selector(names, self._labels)
        try:
            return as_scrape(run_query(self._url, promql, f"{at:.3f}"), at)
        except EvidenceSourceError as exc:
            raise ScrapeError(f"--server-metrics: {exc}") from None

    def start(self) -> None:
        """Note the start; ask once now, so a wrong URL or selector fails before any load."""
        self.started = time.time()
        self.ask(NAMES, self.started)

    def halt(self) -> None:
        """Nothing runs in the background."""

    def stop(self) -> ServerEvidence | None:
        """The window from :meth:`start` to now; None (and :attr:`problem`) when Prometheus
        cannot answer."""
        end = time.time()
        gauges = "|".join(m.name for m in METRICS if m.kind == "gauge")
        try:
            before, after = self.ask(NAMES, self.started), self.ask(NAMES, end)
        except ScrapeError as exc:
            self.problem = str(exc)
            return None
        during = []
        for k in range(MAX_STEPS + 1):
            try:  # no gauge series at an instant (not yet scraped): no sample there
                during.append(self.ask(gauges, self.started + (end - self.started) * k
                                       / MAX_STEPS))
            except ScrapeError:
                continue
        return window_evidence(redact_url(self._url), before, after, during)
