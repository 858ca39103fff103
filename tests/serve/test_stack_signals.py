"""``examples/serve/stack.py`` run as a user runs it (a subprocess serving a real registered
model): SIGTERM stops every process it started, as Ctrl-C does, and leaves no orphans.

The stack's processes each run in a session of their own, so a stack killed outright would
leave them all running; the test finds them as the stack's descendants in /proc before the
signal and checks each is gone after. Deadlines are generous: only "gone at all" is judged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.serve.stack import child_env
from tests.support.registry import seed_version

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "Ctrl-C or SIGTERM stops the stack"
START_S = 300.0  # mlflow models serve on a loaded machine takes a while
STOP_S = 120.0


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    """Running or stopped, not a zombie waiting to be reaped, and not gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(root: int) -> set[int]:
    """Every process whose chain of parents leads to ``root``."""
    parents = {int(p.name): parent_of(int(p.name)) for p in Path("/proc").iterdir()
               if p.name.isdigit()}
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def read_until(proc: subprocess.Popen[str], line: str, timeout_s: float) -> list[str]:
    """The stack's stdout up to ``line``; fails with what it printed if it exits first."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = proc.stdout.readline()
        if not text:
            pytest.fail(f"stack exited {proc.wait()} before it was ready:\n" + "".join(seen))
        seen.append(text)
        if text.strip() == line:
            return seen
    pytest.fail(f"stack not ready after {timeout_s:g} s:\n" + "".join(seen))


@pytest.fixture
def stack_process(tracking_uri: str, tmp_path: Path
                  ) -> Iterator[tuple[subprocess.Popen[str], set[int]]]:
    """``stack.py`` serving a tiny real model, and the set the test fills with the pids it
    saw the stack start: whatever of them a failed test left alive is killed afterwards."""
    version = seed_version(tracking_uri, "fraud", metrics={})
    argv = [sys.executable, "examples/serve/stack.py", "--tracking-uri", tracking_uri,
            "--model", "fraud", "--version", version, "--workdir", str(tmp_path / "stack")]
    proc = subprocess.Popen(argv, cwd=REPO, env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    children: set[int] = set()
    try:
        yield proc, children
    finally:
        for pid in children | descendants(proc.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


@pytest.mark.timeout(900)
def test_sigterm_stops_every_process_the_stack_started(
        stack_process: tuple[subprocess.Popen[str], set[int]]) -> None:
    stack, children = stack_process
    printed = read_until(stack, READY_LINE, START_S)
    children |= descendants(stack.pid)
    commands = {pid: command_of(pid) for pid in children}
    names = " ".join(commands.values())
    # Redis, the model server (and its uvicorn), the cache proxy and Prometheus.
    assert all(name in names for name in ("redis-server", "mlflow", "cache_proxy.py",
                                          "prometheus")), (printed, commands)

    stack.send_signal(signal.SIGTERM)
    code = stack.wait(timeout=STOP_S)

    assert code == 128 + signal.SIGTERM  # stopped by the signal, through its own unwinding
    deadline = time.monotonic() + STOP_S
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = {pid: commands[pid] for pid in children if alive(pid)}
    assert not left, f"orphans after SIGTERM: {left}"
