"""One streamed LLM exchange, every chunk timed: the streaming twin of
:func:`gatekeeper.probe.exchange.exchange`.

The request waits for a connection as the plain exchange's do (the per-request timeout covers
the wait), goes out on the streaming client of :mod:`.wire`, and the answer is read as
server-sent events while it arrives: each ``data:`` line is parsed by the API
(:mod:`.protocols`) and its arrival time kept when it carries a token (content, reasoning or a
tool call). A role-only or empty chunk is counted apart and never timed as a token. E2E ends
at ``[DONE]`` (or the answer's end when a stream has none).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from gatekeeper.probe.exchange import Clock, Exchange, ResponseHook, StatusClass, classify
from gatekeeper.probe.llm.protocols import DONE, Api, Delta, Usage
from gatekeeper.probe.llm.wire import Pool
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


@dataclass(frozen=True)
class Streams:
    """What every streamed exchange of one run shares: the connections, the pool's slots
    (waiting for one counts against the timeout), the timeout, the answers' header hook."""

    pool: Pool
    slots: asyncio.Semaphore
    timeout_s: float
    on_response: ResponseHook | None = None


class StreamReader:
    """An answer read as it arrives (:class:`~gatekeeper.probe.llm.wire.Reader`): its head
    timed and shown to the hook, its body split into lines and the events parsed, every line
    of one read timed at that read. After ``[DONE]`` nothing more is read into the chunks."""

    def __init__(self, api: Api, clock: Clock, chunks: Chunks, hook: ResponseHook | None
                 ) -> None:
        self.api, self.clock, self.chunks, self.hook = api, clock, chunks, hook
        self.tail = b""
        self.done_s: float | None = None

    def head(self, status: int, headers: Mapping[str, str], at_s: float) -> None:
        self.clock.first_byte_s = at_s
        if self.hook is not None:
            self.hook(headers)

    def body(self, data: bytes, at_s: float) -> None:
        if self.done_s is not None:
            return
        if self.clock.first_chunk_s is None:
            self.clock.first_chunk_s = at_s
        self.chunks.size += len(data)
        lines = (self.tail + data).split(b"\n")
        self.tail = lines.pop()
        if read_lines(lines, at_s, self.api, self.chunks):
            self.done_s = at_s

    def end(self, at_s: float) -> float:
        """The answer ended at ``at_s``: a last line with no newline is read; returns when the
        stream ended (its ``[DONE]``, else ``at_s``)."""
        if self.done_s is None and read_lines([self.tail], at_s, self.api, self.chunks):
            self.done_s = at_s
        return at_s if self.done_s is None else self.done_s


async def stream_exchange(streams: Streams, request: MixRequest, intended_s: float, api: Api
                          ) -> Streamed:
    """Send ``request``, read its event stream to the end, and time every chunk."""
    clock = Clock(asyncio.get_running_loop(), intended_s)
    chunks = Chunks()
    reader = StreamReader(api, clock, chunks, streams.on_response)
    try:
        async with asyncio.timeout(streams.timeout_s):
            async with streams.slots:
                clock.acquired_s = clock.now()
                code = await send(streams.pool, request, reader)
    except TimeoutError:
        return Streamed(clock.ended(StatusClass.TIMEOUT, size=chunks.size), chunks)
    except (OSError, ValueError):
        return Streamed(clock.ended(StatusClass.CONNECTION, size=chunks.size), chunks)
    ended_s = reader.end(clock.now())
    status = classify(code)
    if status is StatusClass.OK and chunks.error is not None:
        status = StatusClass.SERVER_ERROR  # an error inside a 200 stream is a failed request
    return Streamed(clock.ended(status, code, chunks.size, at_s=ended_s), chunks)


async def send(pool: Pool, request: MixRequest, reader: StreamReader) -> int:
    """The request on the wire, its answer read by ``reader``; returns the status code. A
    connection whose exchange was cut short (timeout, error) is dropped, never reused."""
    headers = {"Content-Type": request.content_type, "Accept": "text/event-stream"}
    data = pool.request(request.method, request.path, request.body, headers)
    wire = await pool.acquire()
    # The actual send: a connection in hand (the slot alone is not one; a new connection's
    # handshake is waiting, as the wait for a slot is).
    reader.clock.acquired_s = reader.clock.now()
    try:
        code = await wire.exchange(data, reader)
    except BaseException:
        pool.discard(wire)
        raise
    pool.release(wire)
    return code


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
