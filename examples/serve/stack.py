"""The reference serve stack as subprocesses on free 127.0.0.1 ports, started and stopped as one.

Four processes, each in a process group of its own so stopping it stops its children too:

- **model server**: ``mlflow models serve -m models:/<model>/<version> --env-manager local``
  (it starts ``uvicorn`` by name, so the virtual environment's ``bin`` goes first on PATH);
- **Redis**: the response cache, no persistence, LRU-bounded memory;
- **cache proxy** (``cache_proxy.py``): Redis cache in front of the model server, Prometheus
  metrics at ``/metrics``;
- **Prometheus**: scrapes the proxy (config from ``prometheus.yml.tmpl``).

Each start waits for its process to answer (with a deadline) before the next one starts; a
process that exits early fails the start with the tail of its log. Everything started so far
is stopped on any failure. Every process gets MLflow telemetry switched off.

SIGTERM stops it as Ctrl-C does: while the stack runs (in the main thread), SIGTERM raises
``SystemExit(143)``, so the same unwinding stops every process group it started before the
Python process exits (by default SIGTERM would end it at once and leave its children running,
each in a session of its own). SIGTERM is ignored while a group is being stopped, so it never
cuts a stop short.

Run it on its own to try the stack by hand (Ctrl-C or SIGTERM stops it)::

    python examples/serve/stack.py --tracking-uri sqlite:///.gatekeeper/serve-demo/mlflow.db \\
        --version 2 --workdir .gatekeeper/serve-demo/stack
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from types import FrameType
from typing import NoReturn

from gatekeeper.evidence.mlflow_env import subprocess_env

HERE = Path(__file__).resolve().parent
PROXY_SCRIPT = HERE / "cache_proxy.py"
PROMETHEUS_TEMPLATE = HERE / "prometheus.yml.tmpl"
PROMETHEUS_JOB = "serve-cache-proxy"
STOP_TIMEOUT_S = 10.0
POLL_S = 0.1


class StackError(RuntimeError):
    """A process of the stack did not start (it exited, or did not answer in time)."""


@dataclass(frozen=True)
class StackConfig:
    """What to serve and where the stack keeps its files (logs, Redis and Prometheus data)."""

    tracking_uri: str
    model: str
    version: str
    workdir: Path
    ttl_s: int = 300
    scrape_interval_s: float = 1.0
    start_timeout_s: float = 90.0
    prometheus: bool = True


@dataclass(frozen=True)
class Stack:
    """The running stack's URLs (all on 127.0.0.1)."""

    model_url: str
    proxy_url: str
    redis_url: str
    prometheus_url: str | None
    logs: Path


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every process the stack starts: telemetry off, venv first on PATH."""
    env = subprocess_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra or {})
    return env


@contextlib.contextmanager
def running(name: str, argv: Sequence[str], log_dir: Path, ready: Callable[[], bool],
            timeout_s: float, env: dict[str, str] | None = None) -> Iterator[None]:
    """Start ``argv`` in a new process group, wait until ``ready()``, stop the group on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(list(argv), env=env or child_env(), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            wait_ready(name, proc, ready, timeout_s, log_path)
            yield
        finally:
            with sigterm_ignored():
                stop_group(proc)


def wait_ready(name: str, proc: subprocess.Popen[bytes], ready: Callable[[], bool],
               timeout_s: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{name} exited with {proc.returncode}:\n{tail(log_path)}")
        if ready():
            return
        time.sleep(POLL_S)
    raise StackError(f"{name} not ready after {timeout_s:g} s:\n{tail(log_path)}")


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group ``proc`` leads; SIGKILL whatever is left after STOP_TIMEOUT_S."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)
    # The leader may be gone while a child (uvicorn under mlflow) still shuts down.
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def http_ok(url: str, accept: Callable[[bytes], bool] = lambda _body: True) -> bool:
    """True when GET ``url`` answers 200 within 1 s and ``accept`` likes the body."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200 and accept(response.read())
    except (urllib.error.URLError, OSError):
        return False


def redis_ok(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def require(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise StackError(f"{program} not found on PATH: run scripts/system-deps.sh")
    return found


@contextlib.contextmanager
def running_redis(workdir: Path, timeout_s: float) -> Iterator[str]:
    """A Redis of the stack's own: no snapshots, 64 MB, least-recently-used keys evicted."""
    port = free_port()
    data = workdir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    argv = [require("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(data), "--maxmemory", "64mb",
            "--maxmemory-policy", "allkeys-lru"]
    url = f"redis://127.0.0.1:{port}/0"
    with running("redis", argv, workdir / "logs", lambda: redis_ok(url), timeout_s):
        yield url


@contextlib.contextmanager
def running_model_server(config: StackConfig) -> Iterator[str]:
    """``mlflow models serve`` of the configured version, reading the given registry."""
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m",
            f"models:/{config.model}/{config.version}", "--env-manager", "local",
            "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    env = child_env({"MLFLOW_TRACKING_URI": config.tracking_uri})
    with running("model-server", argv, config.workdir / "logs", lambda: http_ok(f"{url}/ping"),
                 config.start_timeout_s, env):
        yield url


@contextlib.contextmanager
def running_proxy(upstream: str, redis_url: str, ttl_s: int, workdir: Path, timeout_s: float
                  ) -> Iterator[str]:
    """The cache proxy in front of ``upstream``; ready once it answers and Redis does."""
    port = free_port()
    argv = [sys.executable, str(PROXY_SCRIPT), "--upstream", upstream, "--redis", redis_url,
            "--ttl", str(ttl_s), "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running("cache-proxy", argv, workdir / "logs", lambda: http_ok(f"{url}/healthz"),
                 timeout_s):
        yield url


@contextlib.contextmanager
def running_prometheus(proxy_url: str, workdir: Path, interval_s: float, timeout_s: float
                       ) -> Iterator[str]:
    """Prometheus scraping the proxy; ready once it has scraped the proxy successfully."""
    port = free_port()
    folder = workdir / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(Template(PROMETHEUS_TEMPLATE.read_text()).substitute(
        scrape_interval=f"{interval_s:g}s", proxy_target=urllib.parse.urlsplit(proxy_url).netloc))
    argv = [require("prometheus"), f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn"]
    url = f"http://127.0.0.1:{port}"
    with running("prometheus", argv, workdir / "logs", lambda: proxy_scraped(url), timeout_s):
        yield url


def proxy_scraped(prometheus_url: str) -> bool:
    """True once Prometheus reports the proxy's scrape target up."""
    query = urllib.parse.urlencode({"query": f'up{{job="{PROMETHEUS_JOB}"}}'})

    def is_up(body: bytes) -> bool:
        result = json.loads(body).get("data", {}).get("result", [])
        return any(r.get("value", [None, "0"])[1] == "1" for r in result)

    return http_ok(f"{prometheus_url}/api/v1/query?{query}", is_up)


@contextlib.contextmanager
def stopped_on_sigterm() -> Iterator[None]:
    """Within this block SIGTERM unwinds like Ctrl-C (``SystemExit(143)``), so every
    ``finally`` that stops a process runs; the previous handler comes back after it. Only the
    main thread can set handlers: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_ignored() -> Iterator[None]:
    """SIGTERM ignored while a process group is stopped: stopping is what it asks for, and
    an exception raised in the middle would leave that group running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def terminate(signum: int, _frame: FrameType | None) -> NoReturn:
    # Ignore any further SIGTERM: a second one must not interrupt the stopping it started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def running_stack(config: StackConfig) -> Iterator[Stack]:
    """Redis, the model server, the proxy and Prometheus, in that order; stopped in reverse,
    on SIGTERM too."""
    timeout = config.start_timeout_s
    with stopped_on_sigterm(), contextlib.ExitStack() as started:
        redis_url = started.enter_context(running_redis(config.workdir, timeout))
        model_url = started.enter_context(running_model_server(config))
        proxy_url = started.enter_context(running_proxy(model_url, redis_url, config.ttl_s,
                                                        config.workdir, timeout))
        prometheus_url = (started.enter_context(running_prometheus(
            proxy_url, config.workdir, config.scrape_interval_s, timeout))
            if config.prometheus else None)
        yield Stack(model_url, proxy_url, redis_url, prometheus_url, config.workdir / "logs")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the reference serve stack until Ctrl-C "
                                     "or SIGTERM.")
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--model", default="demo-classifier")
    parser.add_argument("--version", required=True)
    parser.add_argument("--workdir", type=Path, default=Path(".gatekeeper/serve-stack"))
    args = parser.parse_args(argv)
    config = StackConfig(args.tracking_uri, args.model, args.version, args.workdir)
    with running_stack(config) as stack:
        print(f"model server {stack.model_url}\ncache proxy  {stack.proxy_url}\n"
              f"redis        {stack.redis_url}\nprometheus   {stack.prometheus_url}\n"
              f"logs         {stack.logs}\nCtrl-C or SIGTERM stops the stack", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
