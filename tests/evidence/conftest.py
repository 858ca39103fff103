"""One real Prometheus per session, scraping a test exporter with known histogram contents."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from tests.support.prometheus import (
    ARMS,
    REQUESTS,
    START_TIMEOUT,
    exposition,
    running_exporter,
    running_prometheus,
    wait_for,
)


@dataclass(frozen=True)
class PilotPrometheus:
    """A Prometheus holding the known pilot traffic (``tests.support.prometheus.ARMS``).

    ``at`` is the time of a scrape that saw the final counts; a window ending there (and
    reaching back past the first scrape) reads every count exactly.
    """

    url: str
    at: datetime


@pytest.fixture(scope="session")
def pilot_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PilotPrometheus]:
    deadline = time.monotonic() + START_TIMEOUT
    probe = f'{REQUESTS}{{arm="quantized",code="200"}}'
    folder = tmp_path_factory.mktemp("prometheus")
    with running_exporter(exposition(ARMS, zero=True)) as exporter, \
            running_prometheus(folder, exporter.address) as url:
        wait_for(url, probe, lambda v: v == 0, deadline)  # a zero scrape of every series
        exporter.serve(exposition(ARMS))
        wait_for(url, probe, lambda v: v > 0, deadline)
        scraped = wait_for(url, f"timestamp({probe})", lambda v: True, deadline)
        yield PilotPrometheus(url, datetime.fromtimestamp(scraped, UTC))
