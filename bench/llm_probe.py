"""The streaming LLM probe's speed: the most streamed chunks per second it reads on one core
while its TTFT and ITL stay within 1 ms of the target's truth, and the most concurrent streams;
beside it, a plain aiohttp streaming client built the way vLLM's ``bench serve`` reads streams.

The target (:class:`Stream`: a minimal OpenAI completions server on non-blocking sockets,
where each stream sends a chunk every ``gap`` after its request arrived, so S streams opened at
a steady rate send S / gap chunks per second spread evenly in time) runs in its own process
pinned to CPU 1; the client runs in this process pinned to CPU 0 (``os.sched_setaffinity``).
The law-abiding examples/llm_target.py costs ~10x more per chunk (aiohttp, a task per token)
and would run out of CPU long before any client. Each request's prompt is unique; the target
records, per prompt, when the request arrived (the kernel's receive time, as the probe times
its reads) and when each chunk left (``time.monotonic`` right before its send: one clock for
every process on Linux), so every request is judged against what the target did:

- **TTFT error** = the client's TTFT from its actual send - the target's (first chunk sent -
  request arrived);
- **ITL error** = each gap between the client's chunk arrivals - the same gap at the target;
- **lag** = a chunk's arrival at the client - its send at the target (with the probe's kernel
  receive times, loopback's delivery; with the vLLM-style client's, how far behind its reading
  fell).

A row *holds* when every request ended with all its chunks and the p99 of |TTFT error| and of
|ITL error| are within ``TOLERANCE_MS`` (1 ms); ``holds_p50`` the same for the medians.

The side-by-side client (``vllm_style``) mirrors vLLM's ``async_request_openai_completions``
(vllm/benchmarks/lib/endpoint_request_func.py): one aiohttp session, ``response.content.
iter_any()``, a buffer split on blank lines, ``json.loads`` per ``data:`` message, a timestamp
per message that has ``choices`` with text, the send time taken just before ``session.post``;
requests started at their planned times by ``asyncio.sleep`` on the default event loop. It
reads ``time.monotonic`` where vLLM reads ``time.perf_counter`` (the same clock on Linux).

Rows are ``STREAMS@GAP_MS`` (``BENCH_ROWS``), each ``BENCH_SECONDS`` of arrivals at the rate
that keeps STREAMS streams of ``BENCH_TOKENS`` chunks open. Run by hand:
``.venv/bin/python bench/llm_probe.py``; figures go in docs/llm.md, never into timed tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import multiprocessing
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from gatekeeper.probe import schedule
from gatekeeper.probe.engine import Limits, precise_loop, run_engine_loop
from gatekeeper.probe.llm.engine import LlmEngine
from gatekeeper.probe.llm.mix import LlmMixRequest
from gatekeeper.probe.llm.protocols import APIS, Prompt
from gatekeeper.probe.llm.wire import ANCILLARY_SIZE, enable_timestamps, kernel_time
from gatekeeper.probe.requests_mix import Planned

ROWS = os.environ.get("BENCH_ROWS",
                      "10@10,100@10,200@10,300@10,400@10,1000@100,1000@50,2000@100")
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
TOKENS = int(os.environ.get("BENCH_TOKENS", "20"))
CLIENTS = os.environ.get("BENCH_CLIENTS", "probe,vllm-style").split(",")
TOLERANCE_MS = 1.0
CLIENT_CPU, TARGET_CPU = 0, 1
API = APIS["openai-completions"]
# A chunk's times at the target: (request arrival, each token chunk's send), by prompt.
Truth = dict[str, tuple[float, list[float]]]


@dataclass(frozen=True)
class Reading:
    """One request as a client read it (monotonic seconds): actual send, chunk arrivals."""

    prompt: str
    sent_s: float
    chunk_s: list[float]
    ok: bool


@dataclass(frozen=True)
class Row:
    """One client at one load."""

    client: str
    streams: int
    gap_ms: float
    offered: float  # chunks/s the target sends while all streams are open
    received: float  # chunks/s the client read over the run
    complete: str  # requests with every chunk / planned
    ttft_ms: tuple[float, float]  # p50, p99 of |TTFT error|
    itl_ms: tuple[float, float]
    lag_p99_ms: float
    cpu: float
    us_per_chunk: float  # the client's CPU time per chunk read (setup included)
    sent: float  # chunks/s the target managed to send
    target_cpu: float

    @property
    def whole(self) -> bool:
        done, planned = self.complete.split("/")
        return done == planned

    @property
    def holds(self) -> bool:
        """Every request whole, and the p99 of both errors within the tolerance."""
        return self.whole and max(self.ttft_ms[1], self.itl_ms[1]) <= TOLERANCE_MS

    @property
    def holds_p50(self) -> bool:
        """Every request whole, and the median of both errors within the tolerance."""
        return self.whole and max(self.ttft_ms[0], self.itl_ms[0]) <= TOLERANCE_MS

    def line(self) -> str:
        return (f"| {self.client} | {self.streams:,} | {self.gap_ms:g} | {self.offered:,.0f} | "
                f"{self.received:,.0f} | {self.complete} | {self.ttft_ms[0]:.2f} / "
                f"{self.ttft_ms[1]:.2f} | {self.itl_ms[0]:.2f} / {self.itl_ms[1]:.2f} | "
                f"{self.lag_p99_ms:.2f} | {self.cpu:.0%} | {self.us_per_chunk:.0f} | "
                f"{self.sent:,.0f} | {self.target_cpu:.0%} | {'yes' if self.holds else 'no'} | "
                f"{'yes' if self.holds_p50 else 'no'} |")


HEADER = ("| client | streams | gap ms | offered chunks/s | read chunks/s | complete "
          "| TTFT err p50 / p99 ms | ITL err p50 / p99 ms | lag p99 ms | client CPU "
          "| client µs/chunk | target sent chunks/s | target CPU | p99 within 1 ms "
          "| p50 within 1 ms |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


# -- the target, in its own process ----------------------------------------------------------
class Stream:
    """One connection to the bench's target: an OpenAI completions server that costs little per
    chunk, so that the client is what runs out of time. Each request's stream sends its first
    chunk ``gap_s`` after the request arrived and one more every ``gap_s`` (one timer per
    stream, so S streams opened at a steady rate send S / gap chunks/s spread evenly in time,
    not in bursts), each chunk a vLLM-shaped event in its own HTTP chunk, then the finish,
    usage and ``[DONE]`` events. Every send's time is read right before its write.

    A plain non-blocking socket read with ``recvmsg_into``, so a request's arrival is the
    kernel's receive time of its last segment (as the probe times its reads), not when this
    busy loop got to it: the truth then includes the target's own wait before reading, which a
    client rightly counts in its TTFT."""

    def __init__(self, sock: socket.socket, gap_s: float, truth: Truth) -> None:
        self.sock, self.gap_s, self.truth = sock, gap_s, truth
        self.loop = asyncio.get_running_loop()
        self.buffer = b""
        self.unsent = bytearray()
        self.closed = False
        self.read_into = bytearray(65536)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stamped = enable_timestamps(sock)
        self.loop.add_reader(sock.fileno(), self.readable)

    def readable(self) -> None:
        try:
            size, ancillary, _, _ = self.sock.recvmsg_into([self.read_into], ANCILLARY_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if size == 0:
            self.close()
            return
        arrived = kernel_time(ancillary, time.monotonic())
        self.buffer += self.read_into[:size]
        head, found, rest = self.buffer.partition(b"\r\n\r\n")
        if not found:
            return
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        if len(rest) < length:
            return
        self.buffer = rest[length:]
        body = json.loads(rest[:length])
        sent: list[float] = []
        self.truth[body["prompt"]] = (arrived, sent)
        self.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n")
        self.loop.call_later(self.gap_s, self.next, sent, int(body["max_tokens"]), 0)

    def next(self, sent: list[float], tokens: int, k: int) -> None:
        if self.closed:
            return
        if k < tokens:
            sent.append(time.monotonic())
            self.write(frame(CHUNK % k))
            self.loop.call_later(self.gap_s, self.next, sent, tokens, k + 1)
            return
        self.write(frame(FINISH) + frame(USAGE % tokens) + frame(b"data: [DONE]\n\n")
                   + b"0\r\n\r\n")

    def write(self, data: bytes) -> None:
        """Send now; what the socket does not take waits for it to be writable, in order."""
        if self.unsent:
            self.unsent += data
            return
        try:
            done = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            done = 0
        except OSError:
            self.close()
            return
        if done < len(data):
            self.unsent += data[done:]
            self.loop.add_writer(self.sock.fileno(), self.flush)

    def flush(self) -> None:
        try:
            done = self.sock.send(self.unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        del self.unsent[:done]
        if not self.unsent:
            self.loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.loop.remove_writer(self.sock.fileno())
            self.sock.close()


def frame(event: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(event), event)


CHUNK = (b'data: {"id":"cmpl-1","object":"text_completion","created":1764000000,'
         b'"model":"bench","choices":[{"index":0,"text":" w%d","logprobs":null,'
         b'"finish_reason":null,"stop_reason":null}],"usage":null}\n\n')
FINISH = (b'data: {"id":"cmpl-1","object":"text_completion","created":1764000000,'
          b'"model":"bench","choices":[{"index":0,"text":"","logprobs":null,'
          b'"finish_reason":"length","stop_reason":null}],"usage":null}\n\n')
USAGE = (b'data: {"id":"cmpl-1","object":"text_completion","created":1764000000,'
         b'"model":"bench","choices":[],"usage":{"prompt_tokens":2,"total_tokens":0,'
         b'"completion_tokens":%d}}\n\n')


def serve(gap_s: float, pipe: Connection) -> None:
    """Run the target on ``TARGET_CPU`` (timers on the probe's precise loop) until asked for
    its truth and the CPU time it used."""
    os.sched_setaffinity(0, {TARGET_CPU})
    truth: Truth = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
        listener.setblocking(False)
        pipe.send(f"http://127.0.0.1:{listener.getsockname()[1]}")
        asked = loop.run_in_executor(None, pipe.recv)
        while not asked.done():
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            await asyncio.wait({accepting, asked}, return_when=asyncio.FIRST_COMPLETED)
            if accepting.done():
                Stream(accepting.result()[0], gap_s, truth)
            else:
                accepting.cancel()
        listener.close()

    with asyncio.Runner(loop_factory=precise_loop) as runner:
        runner.run(main())
    pipe.send((truth, time.process_time()))


# -- the plan both clients send --------------------------------------------------------------
def plan(streams: int, gap_s: float) -> list[Planned]:
    """Arrivals at the rate that keeps ``streams`` streams of TOKENS chunks open."""
    rate = streams / (TOKENS * gap_s)
    items = []
    for i, offset in enumerate(schedule.fixed_rate(rate, SECONDS)):
        prompt = Prompt("bench", TOKENS, prompt=f"q{i} hello")
        body = json.dumps(API.body(prompt)).encode()
        items.append(Planned(offset, LlmMixRequest("bench", "POST", API.path(prompt), body,
                                                   prompt=prompt)))
    return items


# -- the probe ---------------------------------------------------------------------------
def run_probe(url: str, items: Sequence[Planned], streams: int) -> list[Reading]:
    limits = Limits(max_duration_s=SECONDS + 1, max_requests=len(items), timeout_s=60.0,
                    connections=2 * streams)
    engine = LlmEngine(url, limits, api=API)
    run_engine_loop(engine.run(items), limits.connections)
    start = engine._start
    return [Reading(s.prompt.text if s.prompt else "", start + s.sent_s,
                    [start + t for t in s.token_s], s.ok) for s in engine.streams]


# -- a plain aiohttp client, read the way vLLM's bench serve reads ---------------------------
def run_vllm_style(url: str, items: Sequence[Planned], streams: int) -> list[Reading]:
    return asyncio.run(vllm_style(url, items, streams))


async def vllm_style(url: str, items: Sequence[Planned], streams: int) -> list[Reading]:
    connector = aiohttp.TCPConnector(limit=2 * streams, ttl_dns_cache=300)
    readings: list[Reading] = []
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        tasks = []
        for item in items:
            delay = start + item.offset_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one_vllm_style(session, url, item)))
        readings = list(await asyncio.gather(*tasks))
    return readings


async def one_vllm_style(session: aiohttp.ClientSession, url: str, item: Planned) -> Reading:
    request = item.request
    assert isinstance(request, LlmMixRequest) and request.prompt is not None
    payload = json.loads(request.body or b"{}")
    chunks: list[float] = []
    sent = time.monotonic()
    ok = False
    try:
        async with session.post(url + request.path, json=payload) as response:
            buffer = ""
            async for raw in response.content.iter_any():
                buffer += raw.decode("utf-8")
                while "\n\n" in buffer:
                    message, buffer = buffer.split("\n\n", 1)
                    for line in message.strip().splitlines():
                        if not line.startswith("data:"):
                            continue
                        data = line.removeprefix("data:").strip()
                        if data == "[DONE]":
                            continue
                        now = time.monotonic()
                        choices = json.loads(data).get("choices")
                        if choices and choices[0].get("text"):
                            chunks.append(now)
            ok = response.status == 200
    except (aiohttp.ClientError, OSError, ValueError):
        ok = False
    return Reading(request.prompt.text, sent, chunks, ok)


CLIENT_RUNS = {"probe": run_probe, "vllm-style": run_vllm_style}


# -- judging -----------------------------------------------------------------------------
def judge(client: str, streams: int, gap_s: float, readings: Sequence[Reading], truth: Truth,
          planned: int, cpu_s: float, target_cpu_s: float) -> Row:
    ttft: list[float] = []
    itl: list[float] = []
    lag: list[float] = []
    complete = 0
    for r in readings:
        arrival_s, sent = truth.get(r.prompt, (math.nan, []))
        if not r.ok or not r.chunk_s or len(r.chunk_s) != len(sent):
            continue
        complete += 1
        ttft.append(abs((r.chunk_s[0] - r.sent_s) - (sent[0] - arrival_s)))
        itl.extend(abs((b - a) - (d - c)) for (a, b), (c, d) in
                   zip(itertools.pairwise(r.chunk_s), itertools.pairwise(sent), strict=True))
        lag.extend(got - out for got, out in zip(r.chunk_s, sent, strict=True))
    chunk_times = [t for r in readings for t in r.chunk_s]
    span = max(chunk_times) - min(chunk_times) if chunk_times else math.nan
    # The steady window: every stream open, after the first ones' ramp-up, before arrivals end.
    begin = min((r.sent_s for r in readings), default=math.nan) + TOKENS * gap_s
    end = begin - TOKENS * gap_s + SECONDS
    steady = sum(1 for t in chunk_times if begin <= t < end) / (end - begin)
    sent_times = [t for _, sent in truth.values() for t in sent]
    sent_span = max(sent_times) - min(sent_times) if sent_times else math.nan
    return Row(client, streams, gap_s * 1000, streams / gap_s, steady,
               f"{complete}/{planned}", (pct(ttft, 0.5), pct(ttft, 0.99)),
               (pct(itl, 0.5), pct(itl, 0.99)), pct(lag, 0.99), cpu_s / span,
               cpu_s / max(len(chunk_times), 1) * 1e6,
               len(sent_times) / sent_span, target_cpu_s / sent_span)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, in milliseconds (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1] * 1000


def measure(client: str, streams: int, gap_s: float) -> Row:
    """One client against a fresh target: ``streams`` streams, a chunk every ``gap_s``."""
    ours, theirs = multiprocessing.Pipe()
    target = multiprocessing.Process(target=serve, args=(gap_s, theirs), daemon=True)
    target.start()
    try:
        url = ours.recv()
        items = plan(streams, gap_s)
        started = time.process_time()
        readings = CLIENT_RUNS[client](url, items, streams)
        cpu_s = time.process_time() - started
        ours.send("truth")
        truth, target_cpu_s = ours.recv()
    finally:
        target.terminate()
        target.join()
    return judge(client, streams, gap_s, readings, truth, len(items), cpu_s, target_cpu_s)


def rows() -> Iterator[tuple[int, float]]:
    for spec in ROWS.split(","):
        streams, gap_ms = spec.split("@")
        yield int(streams), float(gap_ms) / 1000


def wake_up_p99_ms(cpu: int) -> float:
    """How late a 0.5 ms sleep wakes up on ``cpu`` at p99: the machine's own noise floor
    (other processes on a shared machine), below which no client's error can go."""
    os.sched_setaffinity(0, {cpu})
    late = []
    for _ in range(1000):
        before = time.monotonic()
        time.sleep(0.0005)
        late.append(time.monotonic() - before - 0.0005)
    return pct(late, 0.99)


def summary(found: Sequence[Row]) -> Iterator[str]:
    """Per client: the most chunks/s and the most streams held within the tolerance (at p99,
    and at p50), and the chunks/s one core would read at the client's measured CPU cost per
    chunk."""
    for client in CLIENTS:
        mine = [r for r in found if r.client == client]
        cost = min((r.us_per_chunk for r in mine), default=math.nan)
        held = {"p99": [r for r in mine if r.holds], "p50": [r for r in mine if r.holds_p50]}
        reach = "; ".join(
            f"{name} within {TOLERANCE_MS:g} ms up to "
            f"{max((r.received for r in rows), default=0.0):,.0f} chunks/s and "
            f"{max((r.streams for r in rows), default=0):,} streams"
            for name, rows in held.items())
        yield (f"{client}: {reach}; CPU {cost:.0f} µs/chunk at best (one core: "
               f"{1e6 / cost:,.0f} chunks/s)")


def main() -> None:
    floors = {cpu: wake_up_p99_ms(cpu) for cpu in (CLIENT_CPU, TARGET_CPU)}
    os.sched_setaffinity(0, {CLIENT_CPU})
    print(f"{SECONDS:g} s of arrivals per row, {TOKENS} chunks per stream, client on CPU "
          f"{CLIENT_CPU}, target on CPU {TARGET_CPU}; load average {os.getloadavg()[0]:.1f}; "
          f"a 0.5 ms sleep wakes p99 {floors[CLIENT_CPU]:.2f} ms late on CPU {CLIENT_CPU}, "
          f"{floors[TARGET_CPU]:.2f} ms on CPU {TARGET_CPU}", flush=True)
    found = []
    for streams, gap_s in rows():
        for client in CLIENTS:
            row = measure(client, streams, gap_s)
            print(row.line(), flush=True)
            found.append(row)
    print(f"\n{HEADER}")
    print("\n".join(r.line() for r in found))
    print("\n".join(summary(found)))


if __name__ == "__main__":
    main()
