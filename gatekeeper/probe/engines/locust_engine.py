"""The Locust engine: the same plan run on Locust in distributed mode, read into a probe report.

``run_locust`` starts ``locust --headless --master`` and N ``locust --worker`` processes on this
machine, bound to 127.0.0.1, with the packaged ``locustfile.py`` and a JSON profile made from the
plan; it reads Locust's final CSV statistics into the same ``ProbeReport`` as the built-in engine.
The processes share one process group, which is killed on timeout and on every way out.

Locust is closed-loop per user, so the schedule is approximated (see ``locustfile.py``): the
plan's rate in 1 s steps, its requests in plan order (worker i of N sends every N-th one from
the i-th). Latency is measured from the actual send: coordinated omission is NOT corrected, and
the report says so. Locust is an optional extra (``pip install 'gatekeeper[locust]'``);
gatekeeper never imports it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.probe.engine import Limits
from gatekeeper.probe.importers import (
    FAILED_MARK,
    LOCUST_METHOD,
    WARMUP_MARK,
    build_report,
    read_locust_csv,
)
from gatekeeper.probe.progress import Progress
from gatekeeper.probe.report import EngineReport, HoldPolicy
from gatekeeper.probe.requests_mix import MixRequest, Planned
from gatekeeper.probe.timeline import no_timeline

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PROFILE_ENV = "GATEKEEPER_LOCUST_PROFILE"  # read by locustfile.py
STEP_S = 1.0
# Requests per second one Locust user sends: its answers must come back within 1/USER_RATE s
# (0.5 s) or it falls behind. More users per request/s cost memory and connections.
USER_RATE = 2.0
# Before the plan starts, Locust spawns the first step's users (one shape tick: shape ticks
# are 1 s apart, so later steps start on a tick too).
LEAD_S = 1.0
# Python and Locust start-up, workers connecting, and shutdown, on top of the run itself.
GRACE_S = 30.0
LOG_TAIL_CHARS = 2000
METHOD = f"{LOCUST_METHOD}; ok answers only; rate approximated in {STEP_S:g} s steps"
INSTALL_HINT = "install the extra: pip install 'gatekeeper[locust]'"


@dataclass(frozen=True)
class LocustProfile:
    """What Locust needs from a plan: its requests in plan order and its rate per step."""

    requests: tuple[MixRequest, ...]  # each distinct request once
    sequence: tuple[int, ...]  # the plan's requests, as indices into ``requests``
    rates: tuple[float, ...]  # planned requests per second in each STEP_S step
    targets: dict[str, float]  # planned rate of each endpoint type after the warm-up
    warmup_s: float
    timeout_s: float

    def to_json(self, final_csv_prefix: Path, user_rate: float, workers: int) -> dict[str, Any]:
        """The file locustfile.py reads."""
        requests = [{"endpoint": r.endpoint, "method": r.method, "path": r.path,
                     "body": None if r.body is None else r.body.decode("utf-8"),
                     "content_type": r.content_type}
                    for r in self.requests]
        return {"requests": requests, "sequence": list(self.sequence), "rates": list(self.rates),
                "bin_s": STEP_S, "lead_s": LEAD_S, "warmup_s": self.warmup_s,
                "timeout_s": self.timeout_s, "user_rate": user_rate, "workers": workers,
                "warmup_mark": WARMUP_MARK, "failed_mark": FAILED_MARK,
                "final_csv_prefix": str(final_csv_prefix)}

    @property
    def plan_s(self) -> float:
        """The plan's length, in whole steps."""
        return len(self.rates) * STEP_S

    @property
    def duration_s(self) -> float:
        """The whole Locust run: the lead-in, the plan, then time for the last answers."""
        return LEAD_S + self.plan_s + self.timeout_s


def build_profile(plan: Iterable[Planned], limits: Limits, policy: HoldPolicy) -> LocustProfile:
    """Summarise the plan within the same limits the built-in engine applies."""
    items: list[Planned] = []
    for item in plan:
        if len(items) >= limits.max_requests or item.offset_s >= limits.max_duration_s:
            break
        items.append(item)
    if not items:
        raise InvalidInputError("the plan has no requests within the limits")
    requests = tuple(dict.fromkeys(i.request for i in items))
    check_one_method(requests)
    index = {request: n for n, request in enumerate(requests)}
    rates = step_rates([i.offset_s for i in items])
    window = len(rates) * STEP_S - policy.warmup_s
    measured = Counter(i.request.endpoint for i in items if i.offset_s >= policy.warmup_s)
    targets = {name: n / window for name, n in measured.items()} if window > 0 else {}
    return LocustProfile(requests, tuple(index[i.request] for i in items), rates, targets,
                         policy.warmup_s, limits.timeout_s)


def step_rates(offsets: Sequence[float]) -> tuple[float, ...]:
    """Planned requests per second in each step, up to the step of the last offset."""
    counts = [0] * (int(max(offsets) // STEP_S) + 1)
    for offset in offsets:
        counts[int(offset // STEP_S)] += 1
    return tuple(n / STEP_S for n in counts)


def check_one_method(requests: Iterable[MixRequest]) -> None:
    """Locust keeps one statistics row per (name, method): one endpoint type sent with two
    methods would split into rows whose percentiles cannot be combined."""
    methods: dict[str, set[str]] = {}
    for request in requests:
        methods.setdefault(request.endpoint, set()).add(request.method)
    for endpoint, used in sorted(methods.items()):
        if len(used) > 1:
            raise InvalidInputError(f"endpoint type {endpoint!r} uses {', '.join(sorted(used))}: "
                                    "with --engine locust each endpoint type needs one method")


def run_locust(url: str, plan: Iterable[Planned], limits: Limits, policy: HoldPolicy, *,
               workers: int = 1, progress: Progress | None = None,
               user_rate: float = USER_RATE) -> EngineReport:
    """Run the plan on Locust (one master, ``workers`` workers) against ``url`` only.

    No per-request samples come back (no timeline, no live progress: ``progress`` is unused)."""
    if workers < 1:
        raise InvalidInputError(f"workers must be at least 1, got {workers}")
    if importlib.util.find_spec("locust") is None:
        raise InfrastructureError("Locust is not installed", hint=INSTALL_HINT)
    profile = build_profile(plan, limits, policy)
    with tempfile.TemporaryDirectory(prefix="gatekeeper-locust-") as tmp:
        folder = Path(tmp)
        profile_path = folder / "profile.json"
        final = folder / "final"
        profile_path.write_text(json.dumps(profile.to_json(final, user_rate, workers)),
                                encoding="utf-8")
        commands = locust_commands(url.rstrip("/"), folder, profile, workers, free_port())
        run_group(commands, folder, locust_env(profile_path), profile.duration_s + GRACE_S)
        tallies, _ = read_locust_csv(final, METHOD)
    # Users send only within the plan's window (locustfile.py), so the measured requests were
    # all sent within its measured part: a shortfall is a rate not held.
    measured_s = max(profile.plan_s - profile.warmup_s, 0.0)
    report = build_report(tallies, measured_s, profile.targets, policy, url.rstrip("/"), METHOD)
    return EngineReport(report.url, report.endpoints, report.percentile_method,
                        no_timeline(policy.warmup_s))


def locust_commands(url: str, folder: Path, profile: LocustProfile, workers: int, port: int
                    ) -> list[list[str]]:
    """The master's command line, then one per worker; all of them local-only."""
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    master = [*base, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
              str(port), "--expect-workers", str(workers), "--expect-workers-max-wait",
              str(int(GRACE_S)), "--host", url, "--run-time", f"{math.ceil(profile.duration_s)}s",
              "--csv", str(folder / "locust"), "--only-summary",
              # A run with failed requests is still a run: its failures are the evidence.
              "--exit-code-on-error", "0"]
    worker = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    return [master, *[worker] * workers]


def locust_env(profile_path: Path) -> dict[str, str]:
    """This environment without LOCUST_* settings (Locust reads them as options, and one left
    in a user's shell must not change the run), plus the profile's path."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    return {**kept, PROFILE_ENV: str(profile_path)}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, for the master to bind."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_group(commands: Sequence[Sequence[str]], folder: Path, env: dict[str, str],
              timeout_s: float) -> None:
    """Start the commands in one new process group, wait for the first (the master), and kill
    the whole group however this ends; each process logs to ``folder/<n>.log``.

    They run in ``folder``: Locust reads ``locust.conf`` and ``pyproject.toml`` from its working
    directory, and the caller's must not change the run."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index, command in enumerate(commands):
            group = processes[0].pid if processes else 0  # 0: a new group led by the master
            with (folder / f"{index}.log").open("wb") as log:
                processes.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                                  stderr=subprocess.STDOUT, env=env, cwd=folder,
                                                  process_group=group))
        wait_master(processes[0], folder, timeout_s)
    finally:
        if processes:
            kill_group(processes[0].pid, processes)


def wait_master(master: subprocess.Popen[bytes], folder: Path, timeout_s: float) -> None:
    """Wait for Locust's master to finish; a timeout or a failed exit is an error with logs."""
    try:
        code = master.wait(timeout_s)
    except subprocess.TimeoutExpired:
        raise InfrastructureError(f"Locust did not finish within {timeout_s:.0f} s"
                                  f"{log_tails(folder)}") from None
    if code != 0:
        raise InfrastructureError(f"Locust exited with code {code}{log_tails(folder)}")


def kill_group(group: int, processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGKILL the process group (workers outlive a crashed master otherwise), then reap."""
    with contextlib.suppress(ProcessLookupError):  # every process already ended
        os.killpg(group, signal.SIGKILL)
    for process in processes:
        process.wait()


def log_tails(folder: Path) -> str:
    """The end of each process's log, for an error message."""
    parts = []
    for log in sorted(folder.glob("*.log"), key=lambda path: int(path.stem)):
        role = "master" if log.stem == "0" else f"worker {log.stem}"
        text = log.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            parts.append(f"\n--- {role} ---\n{text[-LOG_TAIL_CHARS:]}")
    return "".join(parts)
