"""A loopback LLM server with a known law, for judging the probe's streaming metrics.

It speaks OpenAI chat and completions (streamed as server-sent events, with the final usage chunk
of ``stream_options: {include_usage: true}``) and the KServe v2 / Triton generate extension
(``/v2/models/NAME/generate`` and ``generate_stream``), and exposes vLLM-named metrics on
``/metrics``. No model: a "token" is a whitespace-separated word, and the answer is
``max_tokens`` made-up words (as if ``ignore_eos`` were set).

The law, per request (every term is recorded in :class:`Served`, so tests judge the client's
readings against what the server did, not against a wall clock):

- **queue**: at most ``slots`` streams run at once; a request waits for a free slot first.
- **stall**: every ``stall_every``-th request (counted from 1 in arrival order) then waits
  ``stall_s`` more (a pause the client sees in its TTFT).
- **prefill** = ``prefill_s_per_token`` x (prompt tokens - cached tokens). The prefix cache keeps
  every ``cache_block``-token prefix of the prompts it has seen; a prompt whose first k blocks
  were seen before skips their prefill and reports them as ``usage.prompt_tokens_details.
  cached_tokens`` (at least one token is always computed).
- **decode**: each output token takes ``decode_s x (1 + decode_growth x (streams - 1))``, where
  streams is how many requests are decoding at that moment; tokens are sent
  ``tokens_per_chunk`` at a time, the first ``reasoning_tokens`` of them as reasoning.
- **errors**: every ``error_every``-th request sends its first token, then an error event
  (``data: {"error": {...}}``, as vLLM does inside a 200 stream) and ends.
- **semantic cache** (off unless ``semantic_threshold`` > 0): before a request reaches the
  engine above, its prompt is normalised (lower case, punctuation dropped, words as a set) and
  compared with every prompt answered so far (Jaccard similarity of the word sets); at or above
  the threshold the stored answer is sent back at once with ``X-Cache: HIT`` (it never reaches
  the engine: not served, not counted on /metrics), else the engine answers with ``X-Cache:
  MISS`` and the answer is stored. Each engine answer then names its request (``r7w0 r7w1``
  ...), so a client can tell whose answer a hit served. A toy that errs on purpose: prompts
  that differ in one word of few ("capital of France" / "capital of Spain") hit.
- A chat stream opens with a role-only chunk (``{"role": "assistant", "content": ""}``) sent
  on arrival, before any token: it is not a token, and a client that counts it as the first
  token reads a TTFT of almost nothing.

Run it: ``python examples/llm_target.py --port 8000 [--stall-every 10 --stall-ms 500]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

#: Buckets of the vLLM-named histograms on /metrics, in seconds.
BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
           7.5, 10.0)


@dataclass(frozen=True)
class Law:
    """How the target serves; see the module's docstring."""

    prefill_s_per_token: float = 0.0002
    decode_s: float = 0.004
    decode_growth: float = 0.05
    slots: int = 32
    tokens_per_chunk: int = 1
    reasoning_tokens: int = 0
    stall_every: int = 0
    stall_s: float = 0.5
    cache_block: int = 16
    usage_offset: int = 0  # added to usage.completion_tokens: a server whose count is wrong
    error_every: int = 0  # every Nth request breaks off after its first token with an error
    model: str = "law-1"
    kv_capacity_tokens: int = 100_000
    semantic_threshold: float = 0.0  # > 0: the toy semantic cache, hit at this similarity


@dataclass
class Chunk:
    """One chunk as sent: when (monotonic seconds), how many tokens, and which kind."""

    sent_s: float
    tokens: int
    kind: str  # "role", "content", "reasoning"


@dataclass
class Served:
    """What the target did for one request (monotonic seconds)."""

    number: int
    api: str
    arrival_s: float
    prompt_tokens: int
    cached_tokens: int = 0
    queue_s: float = 0.0
    stall_s: float = 0.0
    prefill_s: float = 0.0
    chunks: list[Chunk] = field(default_factory=list)
    ended_s: float = 0.0

    @property
    def first_token_s(self) -> float:
        """When the first chunk carrying a token was sent."""
        return next(c.sent_s for c in self.chunks if c.tokens)

    @property
    def first_output_s(self) -> float:
        """When the first chunk carrying answer content (not reasoning) was sent."""
        return next(c.sent_s for c in self.chunks if c.kind == "content")

    @property
    def ttft_s(self) -> float:
        return self.first_token_s - self.arrival_s

    @property
    def output_tokens(self) -> int:
        return sum(c.tokens for c in self.chunks)

    @property
    def tpot_s(self) -> float:
        """(E2E - TTFT) / (output tokens - 1), E2E ending at the last token's chunk."""
        last = max(c.sent_s for c in self.chunks if c.tokens)
        return (last - self.first_token_s) / (self.output_tokens - 1)

    @property
    def gaps_s(self) -> list[float]:
        """Gaps between consecutive token-carrying chunks."""
        times = [c.sent_s for c in self.chunks if c.tokens]
        return [b - a for a, b in itertools.pairwise(times)]


def normalised_words(text: str) -> frozenset[str]:
    """The words of ``text``, lower case, punctuation dropped: what the toy semantic cache
    compares."""
    return frozenset(re.findall(r"[a-z0-9]+", text.lower()))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two word sets (1 for two empty ones)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0


@dataclass
class SemanticCache:
    """Answers by normalised prompt; ``lookup`` finds the most similar one at or above the
    threshold. ``hits`` and ``misses`` count lookups."""

    threshold: float
    entries: list[tuple[frozenset[str], str]] = field(default_factory=list)
    hits: int = 0
    misses: int = 0

    def lookup(self, prompt: str) -> str | None:
        """The stored answer for the prompt most similar to ``prompt``, or None (a miss)."""
        words = normalised_words(prompt)
        best: tuple[float, str] | None = None
        for key, answer in self.entries:
            score = similarity(words, key)
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, answer)
        if best is None:
            self.misses += 1
            return None
        self.hits += 1
        return best[1]

    def store(self, prompt: str, answer: str) -> None:
        self.entries.append((normalised_words(prompt), answer))


class PrefixCache:
    """Block-aligned prompt prefixes seen so far."""

    def __init__(self, block: int) -> None:
        self.block = block
        self.seen: set[int] = set()

    def lookup_and_add(self, words: Sequence[str]) -> int:
        """How many leading tokens of ``words`` are cached (whole blocks, never all of them);
        then remember every block prefix of ``words``."""
        cached = 0
        keys = [(k, hash(tuple(words[:k]))) for k in range(self.block, len(words) + 1,
                                                             self.block)]
        for k, key in keys:
            if key not in self.seen:
                break
            cached = k
        self.seen.update(key for _, key in keys)
        return min(cached, max(len(words) - 1, 0))


@dataclass
class Counters:
    """The vLLM-named metrics the target keeps."""

    running: int = 0
    waiting: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    cache_queries: int = 0
    cache_hits: int = 0
    success: int = 0
    kv_tokens: int = 0
    histograms: dict[str, list[float]] = field(default_factory=dict)

    def observe(self, name: str, value: float) -> None:
        self.histograms.setdefault(name, []).append(value)


class LlmTarget:
    """The server; ``with LlmTarget(law) as url: ...`` runs it on 127.0.0.1 in a thread."""

    def __init__(self, law: Law | None = None, port: int = 0) -> None:
        self.law = law or Law()
        self.port = port
        self.served: list[Served] = []
        self.counters = Counters()
        self._cache = PrefixCache(self.law.cache_block)
        self.semantic = (SemanticCache(self.law.semantic_threshold)
                         if self.law.semantic_threshold > 0 else None)
        self._arrivals = 0
        self._decoding = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    # -- running -----------------------------------------------------------------------------
    def __enter__(self) -> str:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the LLM target did not start")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                 ) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self.main())
        self._loop.close()

    async def main(self) -> None:
        """Serve until stopped (``__exit__``, or Ctrl-C when run as a script)."""
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(self.law.slots)
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v2/models/{model}/generate", self.generate)
        app.router.add_post("/v2/models/{model}/generate_stream", self.generate_stream)
        app.router.add_get("/v2/health/ready", self.ready)
        app.router.add_get("/metrics", self.metrics)
        return app

    # -- the APIs ----------------------------------------------------------------------------
    async def chat(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.json()
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        cached = self.semantic_answer(request, body, prompt, chat=True)
        if cached is not None:
            return cached
        return await self.openai(request, body, self.arrive("openai-chat", prompt, arrived),
                                 prompt)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.json()
        prompt = str(body.get("prompt", ""))
        cached = self.semantic_answer(request, body, prompt, chat=False)
        if cached is not None:
            return cached
        return await self.openai(request, body, self.arrive("openai-completions", prompt,
                                                            arrived), prompt)

    async def models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": self.law.model, "object": "model", "owned_by": "gatekeeper"}]})

    async def ready(self, _request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def openai(self, request: web.Request, body: dict[str, Any], served: Served,
                     prompt: str = "") -> web.StreamResponse:
        api = served.api
        max_tokens = int(body.get("max_tokens") or 16)
        chat = api == "openai-chat"
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{served.number}"
        if not body.get("stream"):
            text = " ".join([w async for w, _ in self.generate_tokens(served, max_tokens)])
            answer = self.whole(ident, chat, text, served)
            if self.semantic is None:
                return web.json_response(answer)
            self.semantic.store(prompt, text)
            return web.json_response(answer, headers={"X-Cache": "MISS"})
        response = await self.open_stream(request)
        if chat:
            await self.send(response, served, 0, "role",
                            self.chat_chunk(ident, {"role": "assistant", "content": ""}))
        async with contextlib.aclosing(self.generate_chunks(served, max_tokens)) as chunks:
            async for words, kind in chunks:
                if self.breaks(served):
                    await self.write(response, {"error": {"message": "engine failed",
                                                          "type": "InternalServerError",
                                                          "code": 500}})
                    break
                if chat:
                    key = "reasoning_content" if kind == "reasoning" else "content"
                    data = self.chat_chunk(ident, {key: words})
                else:
                    data = self.completion_chunk(ident, words)
                await self.send(response, served, len(words.split()), kind, data)
        finish = ({"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
                  if chat else {"index": 0, "text": "", "logprobs": None,
                                "finish_reason": "length"})
        await self.write(response, self.envelope(ident, chat, [finish]))
        if (body.get("stream_options") or {}).get("include_usage"):
            await self.write(response, {**self.envelope(ident, chat, []),
                                        "usage": self.usage(served)})
        await response.write(b"data: [DONE]\n\n")
        self.finish(served)
        await response.write_eof()
        return response

    async def generate(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        body = await request.json()
        served = self.arrive("kserve-v2", str(body.get("text_input", "")), arrived)
        words = [w async for w, _ in self.generate_tokens(served, self.kserve_max(body))]
        self.finish(served)
        return web.json_response({"model_name": request.match_info["model"],
                                  "model_version": "1", "text_output": " ".join(words)})

    async def generate_stream(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.json()
        served = self.arrive("kserve-v2", str(body.get("text_input", "")), arrived)
        response = await self.open_stream(request)
        chunks = self.generate_chunks(served, self.kserve_max(body))
        async with contextlib.aclosing(chunks):
            async for words, kind in chunks:
                if self.breaks(served):
                    await self.write(response, {"error": "engine failed"})
                    break
                await self.send(response, served, len(words.split()), kind, {
                    "model_name": request.match_info["model"], "model_version": "1",
                    "text_output": words})
        self.finish(served)
        await response.write_eof()
        return response

    def semantic_answer(self, request: web.Request, body: dict[str, Any], prompt: str,
                        chat: bool) -> web.Response | None:
        """The toy semantic cache's answer to a non-streamed request (``X-Cache: HIT``), or
        None: no cache, a streamed request, or a miss (the engine answers)."""
        if self.semantic is None or body.get("stream"):
            return None
        text = self.semantic.lookup(prompt)
        if text is None:
            return None
        ident = f"{'chatcmpl' if chat else 'cmpl'}-cached-{self.semantic.hits}"
        choice: dict[str, Any] = (
            {"index": 0, "message": {"role": "assistant", "content": text},
             "finish_reason": "length"} if chat else
            {"index": 0, "text": text, "finish_reason": "length"})
        out = len(text.split())
        return web.json_response(
            {"id": ident, "object": "chat.completion" if chat else "text_completion",
             "created": int(time.time()), "model": self.law.model, "choices": [choice],
             "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": out,
                       "total_tokens": len(prompt.split()) + out}},
            headers={"X-Cache": "HIT"})

    def breaks(self, served: Served) -> bool:
        """Whether ``served`` breaks off now: an ``error_every``-th request after its first
        token."""
        every = self.law.error_every
        return bool(every) and served.number % every == 0 and served.output_tokens > 0

    @staticmethod
    def kserve_max(body: dict[str, Any]) -> int:
        parameters = body.get("parameters") or {}
        return int(parameters.get("max_tokens") or body.get("max_tokens") or 16)

    # -- the law -----------------------------------------------------------------------------
    def arrive(self, api: str, prompt: str, arrived_s: float) -> Served:
        """Record a request that arrived (its head read) at ``arrived_s``."""
        self._arrivals += 1
        words = prompt.split()
        served = Served(self._arrivals, api, arrived_s, len(words))
        served.cached_tokens = self._cache.lookup_and_add(words)
        self.served.append(served)
        return served

    async def generate_tokens(self, served: Served, max_tokens: int
                              ) -> AsyncIterator[tuple[str, str]]:
        async for words, kind in self.generate_chunks(served, max_tokens):
            served.chunks.append(Chunk(time.monotonic(), len(words.split()), kind))
            yield words, kind

    async def generate_chunks(self, served: Served, max_tokens: int
                              ) -> AsyncGenerator[tuple[str, str], None]:
        """Queue, stall, prefill, then the tokens chunk by chunk (words, kind)."""
        law, c = self.law, self.counters
        c.waiting += 1
        async with self._slots:
            c.waiting -= 1
            c.running += 1
            started = time.monotonic()
            served.queue_s = started - served.arrival_s
            if law.stall_every and served.number % law.stall_every == 0:
                served.stall_s = law.stall_s
                await asyncio.sleep(law.stall_s)
            computed = served.prompt_tokens - served.cached_tokens
            served.prefill_s = law.prefill_s_per_token * computed
            await asyncio.sleep(served.prefill_s)
            c.kv_tokens += served.prompt_tokens + max_tokens
            self._decoding += 1
            try:
                sent = 0
                while sent < max_tokens:
                    n = min(law.tokens_per_chunk, max_tokens - sent)
                    for _ in range(n):
                        growth = 1 + law.decode_growth * (self._decoding - 1)
                        await asyncio.sleep(law.decode_s * growth)
                    kind = "reasoning" if sent < law.reasoning_tokens else "content"
                    # With the semantic cache on, an answer names its request: a hit shows
                    # whose answer it served.
                    tag = f"r{served.number}w" if self.semantic is not None else "w"
                    yield " ".join(f"{tag}{sent + i}" for i in range(n)), kind
                    sent += n
            finally:
                self._decoding -= 1
                c.running -= 1
                c.kv_tokens -= served.prompt_tokens + max_tokens

    def finish(self, served: Served) -> None:
        served.ended_s = time.monotonic()
        c = self.counters
        c.success += 1
        c.prompt_tokens += served.prompt_tokens
        c.generation_tokens += served.output_tokens
        c.cache_queries += served.prompt_tokens
        c.cache_hits += served.cached_tokens
        c.observe("vllm:request_queue_time_seconds", served.queue_s)
        if any(ch.tokens for ch in served.chunks):
            c.observe("vllm:time_to_first_token_seconds", served.ttft_s)
            c.observe("vllm:e2e_request_latency_seconds", served.ended_s - served.arrival_s)
            for gap in served.gaps_s:
                c.observe("vllm:inter_token_latency_seconds", gap)

    def usage(self, served: Served) -> dict[str, Any]:
        out = served.output_tokens + self.law.usage_offset
        return {"prompt_tokens": served.prompt_tokens, "completion_tokens": out,
                "total_tokens": served.prompt_tokens + out,
                "prompt_tokens_details": {"cached_tokens": served.cached_tokens}}

    # -- the wire ----------------------------------------------------------------------------
    @staticmethod
    async def open_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        return response

    async def send(self, response: web.StreamResponse, served: Served, tokens: int, kind: str,
                   data: dict[str, Any]) -> None:
        await self.write(response, data)
        served.chunks.append(Chunk(time.monotonic(), tokens, kind))

    @staticmethod
    async def write(response: web.StreamResponse, data: dict[str, Any]) -> None:
        await response.write(b"data: " + json.dumps(data).encode() + b"\n\n")

    def envelope(self, ident: str, chat: bool, choices: list[dict[str, Any]]
                 ) -> dict[str, Any]:
        return {"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": self.law.model, "choices": choices}

    def chat_chunk(self, ident: str, delta: dict[str, Any]) -> dict[str, Any]:
        return self.envelope(ident, True, [{"index": 0, "delta": delta, "logprobs": None,
                                            "finish_reason": None}])

    def completion_chunk(self, ident: str, text: str) -> dict[str, Any]:
        return self.envelope(ident, False, [{"index": 0, "text": text, "logprobs": None,
                                             "finish_reason": None}])

    def whole(self, ident: str, chat: bool, text: str, served: Served) -> dict[str, Any]:
        self.finish(served)
        choice: dict[str, Any] = (
            {"index": 0, "message": {"role": "assistant", "content": text},
             "finish_reason": "length"} if chat else
            {"index": 0, "text": text, "finish_reason": "length"})
        return {"id": ident, "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()), "model": self.law.model, "choices": [choice],
                "usage": self.usage(served)}

    async def metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.exposition(),
                            content_type="text/plain", charset="utf-8")

    def exposition(self) -> str:
        """The counters in Prometheus text format, named as vLLM names them."""
        c, label = self.counters, f'model_name="{self.law.model}"'
        lines = [
            *metric("vllm:num_requests_running", "gauge", label, c.running),
            *metric("vllm:num_requests_waiting", "gauge", label, c.waiting),
            *metric("vllm:kv_cache_usage_perc", "gauge", label,
                    c.kv_tokens / self.law.kv_capacity_tokens),
            *metric("vllm:prompt_tokens", "counter", label, c.prompt_tokens),
            *metric("vllm:generation_tokens", "counter", label, c.generation_tokens),
            *metric("vllm:prefix_cache_queries", "counter", label, c.cache_queries),
            *metric("vllm:prefix_cache_hits", "counter", label, c.cache_hits),
            *metric("vllm:request_success", "counter", label, c.success),
        ]
        for name in ("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
                     "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds"):
            lines.extend(histogram(name, label, c.histograms.get(name, [])))
        return "\n".join(lines) + "\n"


def metric(name: str, kind: str, label: str, value: float) -> list[str]:
    shown = f"{name}_total" if kind == "counter" else name
    return [f"# TYPE {name} {kind}", f"{shown}{{{label}}} {value}"]


def histogram(name: str, label: str, values: Sequence[float]) -> list[str]:
    lines = [f"# TYPE {name} histogram"]
    for bound in BUCKETS:
        count = sum(1 for v in values if v <= bound)
        lines.append(f'{name}_bucket{{{label},le="{bound}"}} {count}')
    lines.append(f'{name}_bucket{{{label},le="+Inf"}} {len(values)}')
    lines.append(f"{name}_sum{{{label}}} {sum(values)}")
    lines.append(f"{name}_count{{{label}}} {len(values)}")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """Serve on a port until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--prefill-ms-per-token", type=float, default=0.2)
    parser.add_argument("--decode-ms", type=float, default=4.0)
    parser.add_argument("--decode-growth", type=float, default=0.05)
    parser.add_argument("--slots", type=int, default=32)
    parser.add_argument("--tokens-per-chunk", type=int, default=1)
    parser.add_argument("--reasoning-tokens", type=int, default=0)
    parser.add_argument("--stall-every", type=int, default=0)
    parser.add_argument("--stall-ms", type=float, default=500.0)
    parser.add_argument("--error-every", type=int, default=0)
    parser.add_argument("--model", default="law-1")
    parser.add_argument("--semantic-threshold", type=float, default=0.0,
                        help="> 0: a toy semantic cache answering non-streamed prompts whose "
                        "normalised words are at least this similar (Jaccard) to an earlier one")
    a = parser.parse_args(argv)
    law = Law(a.prefill_ms_per_token / 1000, a.decode_ms / 1000, a.decode_growth, a.slots,
              a.tokens_per_chunk, a.reasoning_tokens, a.stall_every, a.stall_ms / 1000,
              error_every=a.error_every, model=a.model,
              semantic_threshold=a.semantic_threshold)
    target = LlmTarget(law, a.port)
    print(f"LLM target ({law}) on http://127.0.0.1:{a.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(target.main())


if __name__ == "__main__":
    main()
