"""``--server-metrics URL``: read the server's ``/metrics`` before a run, every
``SAMPLE_EVERY_S`` seconds while it goes on, and after it.

Sampling runs in a background thread, not in the probe's event loop: a scrape of a large page
(vLLM's is a few hundred lines) never delays a scheduled request, and the thread only wakes once
a second. Counters and histograms need only the scrapes before and after; the samples in
between exist for gauges (the waiting queue, KV cache use, GPU utilisation) and saturation.

The scrape before the run must succeed (an unreachable metrics URL is exit 3 before any load is
sent); a failed sample during the run is skipped and counted; a failed scrape after the run
leaves no server evidence and says why, without losing the client's measurement.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.probe.server_metrics.exposition import ExpositionError, Scrape, parse_exposition
from gatekeeper.probe.server_metrics.window import ServerEvidence, window_evidence
from gatekeeper.probe.urls import redact_url

SAMPLE_EVERY_S = 1.0
TIMEOUT_S = 5.0
MAX_BYTES = 16 * 2**20  # a /metrics page larger than this is not one we should parse


class ScrapeError(InfrastructureError):
    """The metrics URL did not answer with a readable exposition page."""


def check_metrics_url(url: str) -> None:
    """Only plain http(s) URLs (credentials would be printed in result.json otherwise)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"--server-metrics: {redact_url(url)!r} is not an http:// or "
                                "https:// URL", hint="give the server's metrics page, e.g. "
                                "http://127.0.0.1:8000/metrics")


def scrape(url: str, timeout_s: float = TIMEOUT_S) -> Scrape:
    """One reading of ``url``; :class:`ScrapeError` naming the URL when it fails."""
    shown = redact_url(url)
    # No proxies from the environment: the metrics URL is contacted directly or not at all.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as answer:
            body = answer.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScrapeError(f"--server-metrics: cannot read {shown}: {exc}") from None
    if len(body) > MAX_BYTES:
        raise ScrapeError(f"--server-metrics: {shown} answered more than {MAX_BYTES:,} bytes")
    taken = time.monotonic()
    try:
        return parse_exposition(body.decode("utf-8"), taken)
    except (ExpositionError, UnicodeDecodeError) as exc:
        raise ScrapeError(f"--server-metrics: {shown} is not Prometheus text: {exc}") from None


@dataclass
class ServerWatch:
    """Scrapes around one run: :meth:`start` before it, :meth:`stop` after it."""

    url: str
    every_s: float = SAMPLE_EVERY_S
    read: Callable[[str], Scrape] = scrape
    before: Scrape | None = None
    samples: list[Scrape] = field(default_factory=list)
    failed_samples: int = 0
    problem: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """The scrape before the run (raises if it fails), then sampling in the background."""
        self.before = self.read(self.url)
        self.samples.append(self.before)
        self._thread = threading.Thread(target=self._sample, name="server-metrics",
                                        daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.samples.append(self.read(self.url))
            except ScrapeError:
                self.failed_samples += 1

    def halt(self) -> None:
        """Stop sampling (also when the run failed); idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> ServerEvidence | None:
        """Stop sampling, scrape once more, and judge the window; None (and :attr:`problem`)
        when the last scrape fails."""
        self.halt()
        if self.before is None:
            return None
        try:
            after = self.read(self.url)
        except ScrapeError as exc:
            self.problem = str(exc)
            return None
        self.samples.append(after)
        return window_evidence(redact_url(self.url), self.before, after, self.samples)
