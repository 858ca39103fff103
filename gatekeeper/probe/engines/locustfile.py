"""gatekeeper's locustfile: replays a probe profile (request mix and arrival rate) on Locust.

Only Locust loads this file (master and workers, ``locust -f``); gatekeeper never imports it,
because importing Locust monkey-patches the whole process with gevent. It needs nothing but the
standard library and Locust, so it can be copied to worker machines beside its profile.

The profile is the JSON file named by ``GATEKEEPER_LOCUST_PROFILE`` (written by
``gatekeeper.probe.engines.locust_engine``): the plan's requests in order, the planned
arrival rate per ``bin_s`` step, the lead-in before it, the number of workers, the warm-up, the
per-request timeout,
the rate of one user and the labels that tell warm-up and failed requests apart in Locust's
statistics.

How an open-model schedule is approximated on a closed-loop tool: each Locust user sends one
request at a time, starting one every ``users / rate`` seconds (constant pacing, no catch-up).
The shape keeps ``ceil(rate / user_rate)`` users alive in each step, so the users together start
``rate`` requests per second while every answer comes back within one pacing interval. A slower
answer delays that user's next request instead of queueing it: the achieved rate falls short
(which gatekeeper reports as a rate not held) and the waiting a real user would have done is not
in the latency. Coordinated omission is NOT corrected in Locust mode.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, events, task
from locust.contrib.fasthttp import FastResponse, ResponseContextManager
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

PROFILE_ENV = "GATEKEEPER_LOCUST_PROFILE"
PROFILE: dict[str, Any] = json.loads(Path(os.environ[PROFILE_ENV]).read_text(encoding="utf-8"))
REQUESTS: list[dict[str, Any]] = PROFILE["requests"]
SEQUENCE: list[int] = PROFILE["sequence"]
RATES: list[float] = PROFILE["rates"]
BIN_S = float(PROFILE["bin_s"])
USER_RATE = float(PROFILE["user_rate"])
USERS = [math.ceil(rate / USER_RATE) for rate in RATES]
LEAD_S = float(PROFILE["lead_s"])
END_S = len(RATES) * BIN_S
# Start each step's users within a tenth of a second, so the rate changes when the plan says.
SPAWN_RATE = max([1, *USERS]) * 10.0


class Clock:
    """Time on the plan's timeline. Zero is ``lead_s`` after this node's test start
    (``test_start``, which every node fires), so the first step's users are spawned and
    waiting when the plan begins."""

    started = time.monotonic()

    @classmethod
    def plan_s(cls) -> float:
        return time.monotonic() - cls.started - LEAD_S


@events.test_start.add_listener
def start_clock(**_kwargs: Any) -> None:
    Clock.started = time.monotonic()


class Picker:
    """This node's share of the plan's request sequence: worker i of N sends requests i, i+N,
    i+2N, ... so all workers together send the plan's mix exactly (and wrap around if the run
    outlasts the plan). Greenlets switch only at I/O, so ``taken`` needs no lock."""

    taken = 0

    @classmethod
    def next(cls, environment: Environment) -> dict[str, Any]:
        runner = environment.runner
        first = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        position = first + cls.taken * int(PROFILE["workers"])
        cls.taken += 1
        return REQUESTS[SEQUENCE[position % len(SEQUENCE)]]


def step(plan_s: float) -> int:
    """The index of the rate step at ``plan_s`` (the first before, the last after the plan)."""
    return min(max(int(plan_s // BIN_S), 0), len(RATES) - 1)


def pacing_s(plan_s: float) -> float:
    """Seconds between one user's request starts, so the step's users make its rate together."""
    index = step(plan_s)
    return USERS[index] / RATES[index] if RATES[index] > 0 else BIN_S


def outcome(response: FastResponse) -> str:
    """The gatekeeper class of one answer: ok, 5xx, 4xx (any other non-2xx), timeout or
    connection (no answer)."""
    status = response.status_code or 0
    if 200 <= status < 300:
        return "ok"
    if status >= 500:
        return "5xx"
    if status > 0:
        return "4xx"
    error = getattr(response, "error", None)
    timed_out = isinstance(error, TimeoutError | gevent.Timeout) or "timed out" in str(error)
    return "timeout" if timed_out else "connection"


class ProfileUser(FastHttpUser):
    """Sends the plan's requests, one per task, paced to the current rate step."""

    network_timeout = float(PROFILE["timeout_s"])
    connection_timeout = float(PROFILE["timeout_s"])
    # A user has one request in flight at a time: one connection is all it needs.
    concurrency = 1
    _last_start = 0.0

    def on_start(self) -> None:
        # Users of a step start together; a random offset spreads their requests over the
        # pacing interval instead of sending them in bursts.
        gevent.sleep(max(0.0, -Clock.plan_s()) + random.uniform(0, pacing_s(Clock.plan_s())))

    def wait_time(self) -> float:
        """Until one pacing interval after the last request started (0 when already late)."""
        due = self._last_start + pacing_s(Clock.plan_s())
        return max(0.0, due - time.monotonic())

    @task
    def send(self) -> None:
        self._last_start = time.monotonic()
        if Clock.plan_s() >= END_S:
            return  # the plan is over; the shape stops the users at its next tick
        request = Picker.next(self.environment)
        measured = Clock.plan_s() >= float(PROFILE["warmup_s"])
        label = request["endpoint"] if measured else PROFILE["warmup_mark"] + request["endpoint"]
        body = request["body"]
        headers = {"Content-Type": request["content_type"]} if body is not None else {}
        # Encoded here: requests would send a str body as Latin-1, breaking non-ASCII text.
        with self.client.request(request["method"], request["path"],
                                 data=None if body is None else body.encode("utf-8"),
                                 headers=headers, name=label, catch_response=True,
                                 allow_redirects=False) as response:
            record(response, request["endpoint"], measured)


def record(response: ResponseContextManager, endpoint: str, measured: bool) -> None:
    """Mark the answer; measured failures go under their own label, so the endpoint's
    percentiles cover ``ok`` answers only, as the built-in engine's do."""
    result = outcome(response)
    if result == "ok":
        response.success()
        return
    if measured:
        response.request_meta["name"] = PROFILE["failed_mark"] + endpoint
    response.failure(result)


class ProfileShape(LoadTestShape):
    """The number of users per rate step; stops at the end of the plan or of ``--run-time``."""

    use_common_options = True  # --run-time is read below, not ignored

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if elapsed >= self.stop_at():
            return None
        return USERS[step(elapsed - LEAD_S)], SPAWN_RATE

    def stop_at(self) -> float:
        # Users send nothing after the plan's end; the timeout lets their last answers arrive.
        end = LEAD_S + END_S + float(PROFILE["timeout_s"])
        options = self.runner.environment.parsed_options if self.runner else None
        run_time = getattr(options, "run_time", None)
        return min(end, float(run_time)) if run_time else end


@events.quitting.add_listener
def write_final_stats(environment: Environment, **_kwargs: Any) -> None:
    """Write the final statistics once more, after the last worker report arrived.

    Locust rewrites its ``--csv`` files once a second and only closes them on exit, so they
    can miss the last second of the run; gatekeeper reads these files instead.
    """
    if environment.runner is None or isinstance(environment.runner, WorkerRunner):
        return  # workers report to the master; no runner: Locust failed before starting
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    prefix = PROFILE["final_csv_prefix"]
    with open(f"{prefix}_stats.csv", "w", newline="", encoding="utf-8") as stats_file:
        writer.requests_csv(csv.writer(stats_file))
    with open(f"{prefix}_failures.csv", "w", newline="", encoding="utf-8") as failures_file:
        writer.failures_csv(csv.writer(failures_file))
