"""Real processes on 127.0.0.1 for the serve tests: Redis, the cache proxy, serial targets.

Every process is started through ``examples/serve/stack.py`` (the code under test), in a
process group of its own, and stopped when its fixture ends, whether the test passed or not.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from examples.serve.stack import free_port, http_ok, running, running_proxy, running_redis

START_TIMEOUT_S = 20.0
SERIAL_TARGET = Path(__file__).with_name("serial_target.py")


@contextlib.contextmanager
def running_serial_target(service_ms: float, log_dir: Path) -> Iterator[str]:
    """tests/serve/serial_target.py: capacity 1000 / service_ms requests/s."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, str(SERIAL_TARGET), "--port", str(port),
            "--service-ms", str(service_ms)]
    with running(f"serial-target-{port}", argv, log_dir, lambda: http_ok(f"{url}/ready"),
                 START_TIMEOUT_S):
        yield url


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with running_redis(tmp_path, START_TIMEOUT_S) as url:
        yield url


@pytest.fixture
def serial_target(tmp_path: Path) -> Callable[[float], contextlib.AbstractContextManager[str]]:
    """``with serial_target(5.0) as url:`` a target serving one request per 5 ms."""
    return lambda service_ms: running_serial_target(service_ms, tmp_path / "logs")


@pytest.fixture
def fast_target(tmp_path: Path) -> Iterator[str]:
    """A serial target at 1 ms per request, for tests about the proxy itself."""
    with running_serial_target(1.0, tmp_path / "logs") as url:
        yield url


@pytest.fixture
def proxy_url(fast_target: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    with running_proxy(fast_target, redis_url, 300, tmp_path, START_TIMEOUT_S) as url:
        yield url
