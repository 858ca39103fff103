"""One streamed LLM exchange, every chunk timed: the streaming twin of
:func:`gatekeeper.probe.exchange.exchange`.

The request is sent as the plain exchange sends it (the same connection pool, the same
timeout covering the wait for a connection), then the answer is read as server-sent events:
each ``data:`` line is parsed by the API (:mod:`.protocols`) and its arrival time kept when
it carries a token (content, reasoning or a tool call). A role-only or empty chunk is counted
apart and never timed as a token.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import aiohttp

from gatekeeper.probe.exchange import Clock, Connection, Exchange, StatusClass, classify
from gatekeeper.probe.llm.protocols import DONE, Api, Delta, Usage
from gatekeeper.probe.requests_mix import MixRequest

DATA = b"data:"
DONE_MARK = b"[DONE]"


@dataclass
class Chunks:
    """What a stream carried, as it arrives (loop clock)."""

    token_s: list[float] = field(default_factory=list)  # each token-carrying chunk's arrival
    first_output_s: float | None = None  # first content or tool call (not reasoning)
    reasoning_first: bool = False
    empty: int = 0  # chunks with no token: role-only, empty text, finish, usage
    usage: Usage | None = None
    model: str | None = None
    error: str | None = None
    size: int = 0

    def add(self, at_s: float, delta: Delta) -> None:
        if delta.token:
            if not self.token_s and delta.reasoning and not delta.content:
                self.reasoning_first = True
            self.token_s.append(at_s)
            if self.first_output_s is None and (delta.content or delta.tool_call):
                self.first_output_s = at_s
        else:
            self.empty += 1
        self.usage = delta.usage or self.usage
        self.model = delta.model or self.model
        self.error = delta.error or self.error


@dataclass(frozen=True, slots=True)
class Streamed:
    """One streamed exchange: the plain exchange's times and status, and its chunks."""

    exchange: Exchange
    chunks: Chunks


async def stream_exchange(conn: Connection, request: MixRequest, intended_s: float, api: Api
                          ) -> Streamed:
    """Send ``request``, read its event stream to the end, and time every chunk."""
    clock = Clock(asyncio.get_running_loop(), intended_s)
    chunks = Chunks()
    try:
        async with asyncio.timeout(conn.timeout_s):
            async with conn.slots:
                clock.acquired_s = clock.now()
                code = await send(conn, request, clock, api, chunks)
    except TimeoutError:
        return Streamed(clock.ended(StatusClass.TIMEOUT, size=chunks.size), chunks)
    except (aiohttp.ClientError, OSError, ValueError):
        return Streamed(clock.ended(StatusClass.CONNECTION, size=chunks.size), chunks)
    status = classify(code)
    if status is StatusClass.OK and chunks.error is not None:
        status = StatusClass.SERVER_ERROR  # an error inside a 200 stream is a failed request
    return Streamed(clock.ended(status, code, chunks.size), chunks)


async def send(conn: Connection, request: MixRequest, clock: Clock, api: Api, chunks: Chunks
               ) -> int:
    """The request on the wire, its events read into ``chunks``; returns the status code."""
    headers = {"Content-Type": request.content_type, "Accept": "text/event-stream"}
    async with conn.session.request(request.method, conn.url + request.path, data=request.body,
                                    headers=headers, allow_redirects=False) as response:
        clock.first_byte_s = clock.now()
        if conn.on_response is not None:
            conn.on_response(response.headers)
        # Whatever one socket read brought is split into lines here, not by readline(): one
        # await per read instead of two per event (the data line and the blank line after it)
        # is most of the probe's cost per chunk; every line of a read arrived at its time.
        tail = b""
        async for data in response.content.iter_any():
            now = clock.now()
            if clock.first_chunk_s is None:
                clock.first_chunk_s = now
            chunks.size += len(data)
            lines = (tail + data).split(b"\n")
            tail = lines.pop()
            if read_lines(lines, now, api, chunks):
                return response.status
        read_lines([tail], clock.now(), api, chunks)  # a last line with no newline
        return response.status


def read_lines(lines: list[bytes], at_s: float, api: Api, chunks: Chunks) -> bool:
    """Add the events of ``lines`` (arrived at ``at_s``) to ``chunks``; True at ``[DONE]``."""
    for line in lines:
        if not line.startswith(DATA):
            continue  # the blank line after each event, comments, other fields
        delta = parse_line(line, api)
        if delta is DONE:
            return True
        if delta is not None:
            chunks.add(at_s, delta)
    return False


def parse_line(line: bytes, api: Api) -> Delta | None:
    """One line of an event stream: a delta, ``DONE``, or None (blank, comment, other field).
    A data line that is not a JSON object is an error delta."""
    if not line.startswith(DATA):
        return None
    payload = line[len(DATA):].strip()
    if payload == DONE_MARK:
        return DONE
    try:
        data = json.loads(payload.decode())  # a str skips json's detection of the encoding
    except ValueError:
        return Delta(error=f"not JSON: {payload[:60]!r}")
    if not isinstance(data, dict):
        return Delta(error="an event that is not a JSON object")
    return api.parse(data)
