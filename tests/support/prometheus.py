"""A test exporter with known histogram contents, and a real Prometheus scraping it.

The exporter serves whatever exposition text it is given (stdlib ``http.server`` in a thread);
:func:`running_prometheus` starts ``/usr/bin/prometheus`` on a free loopback port with a
temporary config and data folder, scraping every second, and stops its process group at the end.

Why the counts start at zero: ``increase()`` extrapolates to the window's edges, but never below
a counter's zero, and not at all past a sample that sits exactly at the window's end. So when
every series is first scraped at 0, then at its final value, a window ending at a scrape of the
final values reads those values exactly; that is what lets the tests compare with hand-computed
numbers rather than tolerances.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from tests.support.server import free_port, stop_process_group

PROMETHEUS = "prometheus"
START_TIMEOUT = 30.0
SCRAPE_INTERVAL = "1s"

HISTOGRAM = "http_request_duration_seconds"
REQUESTS = "http_requests_total"
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Arm:
    """One arm's traffic: observations per histogram bucket (not cumulative; the last entry is
    the +Inf bucket) and requests per status code."""

    label: str
    per_bucket: tuple[int, ...]
    codes: Mapping[str, int]

    def cumulative(self) -> list[int]:
        total, found = 0, []
        for count in self.per_bucket:
            total += count
            found.append(total)
        return found


# The known contents. By hand (see the tests for the quantiles): 2,000 observations per arm,
# 24 and 15 errors.
QUANTIZED = Arm("quantized", (600, 800, 400, 150, 40, 4, 4, 2, 0), {"200": 1976, "500": 24})
FULL = Arm("full", (700, 800, 350, 110, 30, 6, 3, 1, 0), {"200": 1985, "500": 15})
ARMS = (QUANTIZED, FULL)


def exposition(arms: tuple[Arm, ...], zero: bool = False) -> str:
    """Prometheus text format for ``arms``; ``zero``: the same series, every count 0."""
    lines = [f"# TYPE {HISTOGRAM} histogram"]
    for arm in arms:
        counts = [0 if zero else c for c in arm.cumulative()]
        bounds = [*(f"{b:g}" for b in BOUNDS), "+Inf"]
        lines += [f'{HISTOGRAM}_bucket{{arm="{arm.label}",le="{le}"}} {count}'
                  for le, count in zip(bounds, counts, strict=True)]
        lines += [f'{HISTOGRAM}_sum{{arm="{arm.label}"}} {0 if zero else counts[-1] * 0.01}',
                  f'{HISTOGRAM}_count{{arm="{arm.label}"}} {counts[-1]}']
    lines.append(f"# TYPE {REQUESTS} counter")
    for arm in arms:
        lines += [f'{REQUESTS}{{arm="{arm.label}",code="{code}"}} {0 if zero else n}'
                  for code, n in arm.codes.items()]
    return "\n".join(lines) + "\n"


class Exporter(ThreadingHTTPServer):
    """Serves ``text`` at /metrics; swap it with :meth:`serve`."""

    daemon_threads = True

    def __init__(self, text: str) -> None:
        super().__init__(("127.0.0.1", 0), _MetricsHandler)
        self._text = text
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def serve(self, text: str) -> None:
        with self._lock:
            self._text = text

    def text(self) -> str:
        with self._lock:
            return self._text


class _MetricsHandler(BaseHTTPRequestHandler):
    server: Exporter

    def do_GET(self) -> None:
        body = self.server.text().encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per scrape would drown the test output."""


@contextlib.contextmanager
def running_exporter(text: str) -> Iterator[Exporter]:
    exporter = Exporter(text)
    thread = threading.Thread(target=exporter.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield exporter
    finally:
        exporter.shutdown()
        exporter.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def running_prometheus(folder: Path, target: str) -> Iterator[str]:
    """Prometheus scraping ``target`` (host:port) every second; yields its base URL."""
    binary = shutil.which(PROMETHEUS) or "/usr/bin/prometheus"
    if not Path(binary).exists():
        raise RuntimeError("prometheus is not installed: run scripts/system-deps.sh")
    config = folder / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n"
        f"scrape_configs:\n  - job_name: exporter\n    static_configs:\n"
        f"      - targets: ['{target}']\n")
    port = free_port()
    command = [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    log_path = folder / "prometheus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, proc, log_path)
            yield url
        finally:
            stop_process_group(proc)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited {proc.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"prometheus not ready after {START_TIMEOUT} s:\n{log_path.read_text()}")


def instant_value(url: str, promql: str) -> float | None:
    """The single value ``promql`` gives now, or None while there is no data."""
    body = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=2).json()
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def wait_for(url: str, promql: str, accept: Callable[[float], bool],
             deadline: float) -> float:
    """Poll until ``promql`` has a value ``accept`` takes (scrapes come every second)."""
    while time.monotonic() < deadline:
        value = instant_value(url, promql)
        if value is not None and accept(value):
            return value
        time.sleep(0.2)
    raise RuntimeError(f"prometheus at {url}: `{promql}` not as expected in time")
