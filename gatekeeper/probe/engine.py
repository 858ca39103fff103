"""The open-model engine: send every planned request at its intended time, record each outcome.

A request is sent when its time comes whether or not earlier ones have answered, so a stalled
target queues up work exactly as it would under real users. Latency is measured from the
*intended* send time (coordinated-omission corrected); service time, from the actual send, is
recorded beside it. Send lag (actual - intended) shows whether the engine held its rate.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import select
import selectors
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from gatekeeper.probe.exchange import Connection, Exchange, ResponseHook, StatusClass, exchange
from gatekeeper.probe.requests_mix import Planned

__all__ = ["Engine", "Limits", "ResponseHook", "RunRecord", "Sample", "StatusClass", "run_plan"]

# Start the clock a little after setup so the first requests are not late by construction.
START_LEAD_S = 0.05
# When the sender is behind, yield to the event loop this often so sends still start.
YIELD_EVERY = 32
# select() only takes descriptors below FD_SETSIZE (1024 on Linux); where it is the precise
# loop (no epoll), keep this many spare for descriptors others open while the engine runs.
SELECT_FD_LIMIT = 1024
SELECT_FD_SPARE = 64
# How long after the last request's timeout a run may still take to wind down.
END_GRACE_S = 1.0
# Selectors whose timeouts are whole milliseconds, rounded up: every timer wakes up to 1 ms late.
COARSE_SELECTORS = ("EpollSelector", "PollSelector", "DevpollSelector")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sample:
    """One request's record; times are seconds from the engine's start."""

    endpoint: str
    intended_s: float
    sent_s: float
    ended_s: float
    status: StatusClass
    response_bytes: int = 0
    first_byte_s: float | None = None  # the answer's head arrived (None: it never did)

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

    @classmethod
    def of(cls, endpoint: str, offset_s: float, done: Exchange, start: float) -> Sample:
        """The sample of one exchange; times from ``start``. A request that got no
        connection in time was never sent: its send time is when it gave up."""
        sent = done.last_byte_s if done.acquired_s is None else done.acquired_s
        first = None if done.first_byte_s is None else done.first_byte_s - start
        return cls(endpoint, offset_s, sent - start, done.last_byte_s - start, done.status,
                   done.body_bytes, first)


@dataclass(frozen=True)
class Limits:
    """Bounds of one run. A run never exceeds ``max_duration_s + timeout_s`` of wall time (plus
    ``END_GRACE_S``): the timeout covers the wait for a free connection."""

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
            self._conn = Connection(session, asyncio.Semaphore(self.limits.connections),
                                    self.url, self.limits.timeout_s, self.on_response)
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
        await settle(tasks, self.limits.timeout_s + END_GRACE_S)
        return count

    async def wait_until(self, when: float, count: int) -> None:
        """Sleep until ``when``; when already late, still yield now and then (see YIELD_EVERY)."""
        delay = when - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif count % YIELD_EVERY == 0:
            await asyncio.sleep(0)

    async def send(self, item: Planned) -> None:
        """One exchange (waiting for a connection counts against its timeout); its sample."""
        done = await exchange(self._conn, item.request, self._start + item.offset_s)
        self.samples.append(Sample.of(item.request.endpoint, item.offset_s, done, self._start))


async def settle(tasks: set[asyncio.Task[None]], within_s: float) -> None:
    """Wait for the last requests; each ends by its own timeout, and ``within_s`` is the
    backstop: whatever is still running then is cancelled (and leaves no sample)."""
    if not tasks:
        return
    _, late = await asyncio.wait(set(tasks), timeout=within_s)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)


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
    :func:`precise_loop` keeps epoll but waits with ``select()`` on the epoll descriptor, which
    takes microsecond timeouts for any number of connections. Where there is no epoll, plain
    ``select()`` is used when the pool (twice, for a target in the same process) fits below
    ``SELECT_FD_LIMIT``; otherwise the default loop runs.

    The objects alive before the run (MLflow's, matplotlib's: tens of thousands) are frozen
    out of the garbage collector's sight while it runs: a full collection walking them paused
    the loop ~27 ms mid-run, read as that much latency by every request in flight.
    """
    gc.collect()
    gc.freeze()
    try:
        return run_loop(main, connections)
    finally:
        gc.unfreeze()


def run_loop(main: Coroutine[Any, Any, T], connections: int) -> T:
    """Run ``main`` on the most precise loop this platform has (see :func:`run_engine_loop`)."""
    if selectors.DefaultSelector.__name__ not in COARSE_SELECTORS:
        return asyncio.run(main)  # kqueue and select() already time in microseconds
    if not hasattr(select, "epoll") and not precise_timers_fit(connections):
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=precise_loop) as runner:
        return runner.run(main)


class PreciseEpollSelector(selectors.EpollSelector):
    """epoll, woken on time: a wait with a timeout is a ``select()`` on the epoll descriptor
    (readable as soon as any registered one is ready; microsecond timeouts), then an epoll
    poll that does not wait. ``epoll_wait`` alone takes whole milliseconds. If the epoll
    descriptor itself is beyond ``select()``'s reach, waits are plain epoll ones."""

    def __init__(self) -> None:
        super().__init__()
        self._epoll_fd = self.fileno()
        self._precise = self._epoll_fd < SELECT_FD_LIMIT

    def select(self, timeout: float | None = None
               ) -> list[tuple[selectors.SelectorKey, int]]:
        if self._precise and timeout is not None and timeout > 0:
            whole_ms = math.floor(timeout * 1000)
            if whole_ms >= 1:
                # The whole milliseconds on epoll alone (one system call: what a busy loop,
                # woken by reads long before its timers, mostly does); the loop comes back
                # for the rest, under 1 ms. Asked as whole_ms - 0.5, which epoll rounds up
                # to exactly whole_ms (whole_ms itself can round up to one more).
                return super().select((whole_ms - 0.5) / 1000)
            select.select([self._epoll_fd], [], [], timeout)
            timeout = 0
        return super().select(timeout)


def precise_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers wake within a fraction of a millisecond."""
    if hasattr(select, "epoll"):
        return asyncio.SelectorEventLoop(PreciseEpollSelector())
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def precise_timers_fit(connections: int) -> bool:
    """Whether plain ``select()`` (where there is no epoll) can take the pool."""
    highest = highest_open_fd()
    return highest is not None and highest + 2 * connections + SELECT_FD_SPARE < SELECT_FD_LIMIT


def highest_open_fd() -> int | None:
    """The highest descriptor this process has open (None where /proc/self/fd is missing)."""
    try:
        return max((int(name) for name in os.listdir("/proc/self/fd")), default=0)
    except OSError:
        return None
