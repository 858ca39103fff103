"""A real ``mlflow server`` subprocess on loopback, started and stopped as one process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from gatekeeper.evidence.mlflow_env import subprocess_env

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS just released it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_mlflow_server(folder: Path) -> Iterator[str]:
    """Run ``mlflow server`` (SQLite backend, proxied artifacts) in ``folder``; yield its URL."""
    url = f"http://127.0.0.1:{free_port()}"
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(_command(folder, url), cwd=folder, env=_environment(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(url, proc, log_path)
            yield url
        finally:
            stop_process_group(proc)


def _command(folder: Path, url: str) -> list[str]:
    port = url.rsplit(":", 1)[1]
    return [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", port,
            "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts")]


def _environment() -> dict[str, str]:
    env = subprocess_env()
    # The server starts workers by name from PATH; the venv's must win.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # Without this the server adds a job runner and seven huey consumer processes, unused here.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        env.pop(name, None)
    return env


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited {proc.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"mlflow server not healthy after {START_TIMEOUT} s:\n{_tail(log_path)}")


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group ``proc`` leads, wait for every member, then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
