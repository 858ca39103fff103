"""The open-model engine: send every planned request at its intended time, record each outcome.

A request is sent when its time comes whether or not earlier ones have answered, so a stalled
target queues up work exactly as it would under real users. Latency is measured from the
*intended* send time (coordinated-omission corrected); service time, from the actual send, is
recorded beside it. Send lag (actual - intended) shows whether the engine held its rate.
"""

from __future__ import annotations

import asyncio
import enum
import os
import selectors
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from gatekeeper.probe.requests_mix import MixRequest, Planned

# Start the clock a little after setup so the first requests are not late by construction.
START_LEAD_S = 0.05
# When the sender is behind, yield to the event loop this often so sends still start.
YIELD_EVERY = 32
# select() only takes descriptors below FD_SETSIZE (1024 on Linux); keep this many spare for
# descriptors others open while the engine runs (a target in the same process, log files).
SELECT_FD_LIMIT = 1024
SELECT_FD_SPARE = 64
# Selectors whose timeouts are whole milliseconds, rounded up: every timer wakes up to 1 ms late.
COARSE_SELECTORS = ("EpollSelector", "PollSelector", "DevpollSelector")

T = TypeVar("T")


class StatusClass(enum.Enum):
    """How one request ended."""

    OK = "ok"  # 2xx
    TIMEOUT = "timeout"  # no complete answer within the per-request timeout
    SERVER_ERROR = "5xx"
    CLIENT_ERROR = "4xx"  # 4xx, or any other non-2xx: redirects are never followed
    CONNECTION = "connection"  # refused, reset, closed before a full answer


@dataclass(frozen=True, slots=True)
class Sample:
    """One request's record; times are seconds from the engine's start."""

    endpoint: str
    intended_s: float
    sent_s: float
    ended_s: float
    status: StatusClass
    response_bytes: int = 0

    @property
    def latency_s(self) -> float:
        """Intended send to end: what a user arriving at the intended time waited."""
        return self.ended_s - self.intended_s

    @property
    def service_s(self) -> float:
        """Actual send to end: what the target took once the request was on the wire."""
        return self.ended_s - self.sent_s

    @property
    def lag_s(self) -> float:
        """How late the engine sent it (scheduling delay plus waiting for a free connection)."""
        return self.sent_s - self.intended_s


@dataclass(frozen=True)
class Limits:
    """Bounds of one run. A run never exceeds ``max_duration_s + timeout_s`` of wall time."""

    max_duration_s: float = 60.0
    max_requests: int = 100_000
    timeout_s: float = 5.0
    connections: int = 256


@dataclass(frozen=True)
class RunRecord:
    """Everything a run measured: its samples in completion order, and how much it planned."""

    url: str
    samples: tuple[Sample, ...]
    planned: int


#: Called with each answer's headers (case-insensitive keys) as soon as they arrive.
ResponseHook = Callable[[Mapping[str, str]], None]


@dataclass
class Engine:
    """Sends a plan to one base URL. One instance per run; use ``run_plan``.

    ``headers`` go on every request (``Cache-Control: no-cache`` bypasses a cache);
    ``on_response`` sees every answer's headers, e.g. to count ``X-Cache`` values. It runs on
    the engine's loop before the body is read, so it must be quick and must not raise.
    """

    url: str
    limits: Limits
    samples: list[Sample] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    on_response: ResponseHook | None = None

    async def run(self, plan: Iterable[Planned]) -> int:
        """Send the plan within the limits; returns how many requests were planned and sent."""
        connector = aiohttp.TCPConnector(limit=self.limits.connections, ttl_dns_cache=None)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                         headers=dict(self.headers)) as session:
            self._session = session
            self._slots = asyncio.Semaphore(self.limits.connections)
            return await self.dispatch(plan)

    async def dispatch(self, plan: Iterable[Planned]) -> int:
        """Start one task per planned request at its intended time, then wait for them all."""
        loop = asyncio.get_running_loop()
        self._start = loop.time() + START_LEAD_S
        tasks: set[asyncio.Task[None]] = set()
        count = 0
        for item in plan:
            if count >= self.limits.max_requests or item.offset_s >= self.limits.max_duration_s:
                break
            await self.wait_until(self._start + item.offset_s, count)
            task = asyncio.create_task(self.send(item))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            count += 1
        await asyncio.gather(*tasks)
        return count

    async def wait_until(self, when: float, count: int) -> None:
        """Sleep until ``when``; when already late, still yield now and then (see YIELD_EVERY)."""
        delay = when - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif count % YIELD_EVERY == 0:
            await asyncio.sleep(0)

    async def send(self, item: Planned) -> None:
        """Send one request once a connection slot is free; append its sample."""
        loop = asyncio.get_running_loop()
        async with self._slots:
            sent = loop.time()
            status, size = await self.exchange(item.request)
            ended = loop.time()
        self.samples.append(Sample(item.request.endpoint, item.offset_s, sent - self._start,
                                   ended - self._start, status, size))

    async def exchange(self, request: MixRequest) -> tuple[StatusClass, int]:
        """One HTTP exchange, classified; the body is read in full before it counts as ended."""
        headers = {"Content-Type": "application/json"} if request.body is not None else None
        try:
            async with asyncio.timeout(self.limits.timeout_s):
                async with self._session.request(
                    request.method, self.url + request.path, data=request.body,
                    headers=headers, allow_redirects=False,
                ) as response:
                    if self.on_response is not None:
                        self.on_response(response.headers)
                    body = await response.read()
        except TimeoutError:
            return StatusClass.TIMEOUT, 0
        except (aiohttp.ClientError, OSError):
            return StatusClass.CONNECTION, 0
        return classify(response.status), len(body)


def classify(status: int) -> StatusClass:
    """The class of an HTTP status code."""
    if 200 <= status < 300:
        return StatusClass.OK
    if status >= 500:
        return StatusClass.SERVER_ERROR
    return StatusClass.CLIENT_ERROR


def run_plan(url: str, plan: Iterable[Planned], limits: Limits,
             headers: Mapping[str, str] | None = None, on_response: ResponseHook | None = None
             ) -> RunRecord:
    """Run the plan against ``url`` (scheme, host, port; mix paths are appended) and wait.

    ``headers`` and ``on_response``: see :class:`Engine`."""
    engine = Engine(url.rstrip("/"), limits, headers=dict(headers or {}), on_response=on_response)
    planned = run_engine_loop(engine.run(plan), limits.connections)
    return RunRecord(engine.url, tuple(engine.samples), planned)


def run_engine_loop(main: Coroutine[Any, Any, T], connections: int) -> T:
    """Run ``main`` (an engine run) to completion on an event loop with sub-ms timers.

    asyncio's default selector on Linux (epoll) rounds every timeout up to whole milliseconds,
    so each scheduled send would wake up to 1 ms late and add that to the measured latency.
    ``select()`` takes microsecond timeouts, but only descriptors below ``SELECT_FD_LIMIT``
    and costs more CPU per wake-up: it is used when the pool (twice, for a target in the same
    process) fits beside the descriptors already open; otherwise the default loop runs.
    """
    if not precise_timers_fit(connections):
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=precise_loop) as runner:
        return runner.run(main)


def precise_loop() -> asyncio.AbstractEventLoop:
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def precise_timers_fit(connections: int) -> bool:
    """Whether ``select()`` is needed (a coarse default selector) and can take the pool."""
    if selectors.DefaultSelector.__name__ not in COARSE_SELECTORS:
        return False  # kqueue and select() already time in microseconds
    highest = highest_open_fd()
    return highest is not None and highest + 2 * connections + SELECT_FD_SPARE < SELECT_FD_LIMIT


def highest_open_fd() -> int | None:
    """The highest descriptor this process has open (None where /proc/self/fd is missing)."""
    try:
        return max((int(name) for name in os.listdir("/proc/self/fd")), default=0)
    except OSError:
        return None
