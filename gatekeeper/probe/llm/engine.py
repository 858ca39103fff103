"""The open-model engine sending LLM prompts: the built-in engine's schedule and
coordinated-omission correction, with every answer read as a stream (:mod:`.stream`) on the
streaming client's connections (:mod:`.wire`). Each request leaves the engine's plain
:class:`Sample` (so the E2E report, timeline and checks work unchanged) and an
:class:`LlmSample` beside it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from gatekeeper.probe.engine import Engine, Sample, StatusClass
from gatekeeper.probe.llm.mix import LlmMixRequest
from gatekeeper.probe.llm.protocols import Api, Prompt
from gatekeeper.probe.llm.stream import Streamed, Streams, stream_exchange
from gatekeeper.probe.llm.wire import Pool
from gatekeeper.probe.requests_mix import Planned


@dataclass(frozen=True, slots=True)
class LlmSample:
    """One streamed request; times are seconds from the engine's start.

    ``token_s``: arrival of each chunk that carried a token; ``first_output_s``: of the first
    one with content or a tool call (later than the first token when reasoning came first)."""

    endpoint: str
    intended_s: float
    sent_s: float
    ended_s: float
    status: StatusClass
    token_s: tuple[float, ...]
    first_output_s: float | None
    reasoning_first: bool
    empty_chunks: int
    prompt_tokens: int | None  # the server's usage
    output_tokens: int | None
    cached_tokens: int | None
    model: str | None
    error: str | None
    prompt: Prompt | None

    @property
    def ok(self) -> bool:
        """Answered in full with at least one token."""
        return self.status is StatusClass.OK and bool(self.token_s)

    @property
    def tokens(self) -> int:
        """Output tokens: the server's usage when it sent one, else the token chunks."""
        return self.output_tokens if self.output_tokens is not None else len(self.token_s)

    @classmethod
    def of(cls, sample: Sample, streamed: Streamed, start: float, prompt: Prompt | None
           ) -> LlmSample:
        c = streamed.chunks
        usage = c.usage
        return cls(sample.endpoint, sample.intended_s, sample.sent_s, sample.ended_s,
                   sample.status, tuple(t - start for t in c.token_s),
                   None if c.first_output_s is None else c.first_output_s - start,
                   c.reasoning_first, c.empty,
                   usage.prompt_tokens if usage else None,
                   usage.completion_tokens if usage else None,
                   usage.cached_tokens if usage else None, c.model, c.error, prompt)


@dataclass
class LlmEngine(Engine):
    """The engine with streamed exchanges in ``api``; ``streams`` holds the LLM samples."""

    api: Api | None = None
    streams: list[LlmSample] = field(default_factory=list)

    async def run(self, plan: Iterable[Planned]) -> int:
        """Send the plan on the streaming client's connections (:mod:`.wire`)."""
        pool = Pool(self.url, self.headers)
        self._streams = Streams(pool, asyncio.Semaphore(self.limits.connections),
                                self.limits.timeout_s, self.on_response)
        try:
            return await self.dispatch(plan)
        finally:
            pool.close()

    async def send(self, item: Planned) -> None:
        assert self.api is not None
        streamed = await stream_exchange(self._streams, item.request, self._start + item.offset_s,
                                         self.api)
        sample = Sample.of(item.request.endpoint, item.offset_s, streamed.exchange, self._start)
        self.samples.append(sample)
        prompt = item.request.prompt if isinstance(item.request, LlmMixRequest) else None
        self.streams.append(LlmSample.of(sample, streamed, self._start, prompt))
