"""One HTTP exchange, sent and timed: the only place the probe talks HTTP to its target.

:func:`exchange` sends one request and records when it was meant to go, when it got a
connection, when the answer's head and its first body chunk arrived, and when the last byte
did, with the status and the body size. The per-request timeout covers the whole exchange,
*waiting for a free connection included*: a request that could not get a connection in time is
a timeout, so a slow target with few connections cannot stretch a run past its bounds.

The body is read chunk by chunk and the first chunk's time is kept apart from the head's, so a
streamed answer (an LLM's token stream) can be timed here: time to first token, and later the
gaps between chunks.

:func:`reach` is the reachability check: one TCP connection to the URL's host and port.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from gatekeeper.probe.requests_mix import MixRequest

#: Called with each answer's headers (case-insensitive keys) as soon as they arrive.
ResponseHook = Callable[[Mapping[str, str]], None]


class StatusClass(enum.Enum):
    """How one request ended."""

    OK = "ok"  # 2xx
    TIMEOUT = "timeout"  # no complete answer within the per-request timeout
    SERVER_ERROR = "5xx"
    CLIENT_ERROR = "4xx"  # 4xx, or any other non-2xx: redirects are never followed
    CONNECTION = "connection"  # refused, reset, closed before a full answer


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request's times on the event loop's clock, and how it ended.

    ``acquired_s`` is None when no connection came free within the timeout (nothing was sent);
    ``first_byte_s`` (the answer's head) and ``first_chunk_s`` (its first body bytes) are None
    when they never arrived.
    """

    intended_s: float
    acquired_s: float | None
    first_byte_s: float | None
    first_chunk_s: float | None
    last_byte_s: float
    status: StatusClass
    code: int | None = None
    body_bytes: int = 0


@dataclass(frozen=True)
class Connection:
    """What every exchange of one run shares: the session, the pool's slots, the base URL."""

    session: aiohttp.ClientSession
    slots: asyncio.Semaphore
    url: str  # scheme, host, port and base path; mix paths are appended
    timeout_s: float
    on_response: ResponseHook | None = None


class Clock:
    """The times of one exchange as they happen."""

    def __init__(self, loop: asyncio.AbstractEventLoop, intended_s: float) -> None:
        self.loop = loop
        self.intended_s = intended_s
        self.acquired_s: float | None = None
        self.first_byte_s: float | None = None
        self.first_chunk_s: float | None = None

    def now(self) -> float:
        return self.loop.time()

    def ended(self, status: StatusClass, code: int | None = None, size: int = 0,
              at_s: float | None = None) -> Exchange:
        """The exchange, ended now (or at ``at_s``, when its end was seen earlier)."""
        return Exchange(self.intended_s, self.acquired_s, self.first_byte_s, self.first_chunk_s,
                        self.now() if at_s is None else at_s, status, code, size)


async def exchange(conn: Connection, request: MixRequest, intended_s: float) -> Exchange:
    """Send ``request`` once a connection is free, read the whole answer, and time it all.

    ``intended_s`` is when it was meant to be sent (loop clock); the timeout runs from now, so
    the wait for a connection counts against it."""
    clock = Clock(asyncio.get_running_loop(), intended_s)
    try:
        async with asyncio.timeout(conn.timeout_s):
            async with conn.slots:
                clock.acquired_s = clock.now()
                code, size = await send(conn, request, clock)
    except TimeoutError:
        return clock.ended(StatusClass.TIMEOUT)
    except (aiohttp.ClientError, OSError, ValueError):
        return clock.ended(StatusClass.CONNECTION)
    return clock.ended(classify(code), code, size)


async def send(conn: Connection, request: MixRequest, clock: Clock) -> tuple[int, int]:
    """The request on the wire; returns the status code and the body's size."""
    headers = {"Content-Type": request.content_type} if request.body is not None else None
    async with conn.session.request(request.method, conn.url + request.path, data=request.body,
                                    headers=headers, allow_redirects=False) as response:
        clock.first_byte_s = clock.now()
        if conn.on_response is not None:
            conn.on_response(response.headers)
        chunk = await response.content.readany()
        clock.first_chunk_s = clock.now() if chunk else None
        size = 0
        while chunk:
            size += len(chunk)
            chunk = await response.content.readany()
        return response.status, size


def classify(status: int) -> StatusClass:
    """The class of an HTTP status code."""
    if 200 <= status < 300:
        return StatusClass.OK
    if status >= 500:
        return StatusClass.SERVER_ERROR
    return StatusClass.CLIENT_ERROR


def reach(url: str, timeout_s: float) -> float:
    """Open (and close) one TCP connection to ``url``'s host and port; returns the seconds it
    took. Raises ``OSError`` when the target does not accept it."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    started = time.monotonic()
    socket.create_connection((parts.hostname or "", port), timeout=timeout_s).close()
    return time.monotonic() - started
