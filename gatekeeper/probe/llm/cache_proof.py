"""``--cache-proof --api ...``: the prefix-cache hit ratio read twice, and a semantic cache's
hit rate and hit precision (:mod:`.semantic`).

The prefix cache (docs/llm.md, "The LLM cache proof"):

- **client**: cached prompt tokens / prompt tokens, from each answer's
  ``usage.prompt_tokens_details.cached_tokens``. ``cache.prefix.hit_ratio`` is over the
  measured requests (warm-up excluded); the cross-check uses every answer the command got
  (warm-up and the semantic pairs' engine answers included), as the server counts them all.
- **server** (with ``--server-metrics``): the increase of ``vllm:prefix_cache_hits`` over
  that of ``vllm:prefix_cache_queries`` across the command's window.
- The two must agree within :data:`TOLERANCE` (absolute); otherwise the proof says they
  disagree and the evidence is not usable. A reading of zero cached tokens (client) or zero
  hits (server) is ``error``: the hit ratio is then not logged, so a check on it is an error,
  never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from gatekeeper.probe.llm.engine import LlmSample
from gatekeeper.probe.llm.mode import LlmRun, measure_streams
from gatekeeper.probe.llm.protocols import Usage
from gatekeeper.probe.llm.semantic import Pair, prove_semantic
from gatekeeper.probe.progress import Progress

if TYPE_CHECKING:  # gatekeeper.probe.modes imports this module for its registry
    from gatekeeper.probe.modes.interface import Measured, Sending

#: The largest absolute difference between the client's and the server's hit ratio that
#: still agrees: the server counts tokens by its own tokenizer and blocks, the client by the
#: usage the server reported, and a request cut off by the window's edge lands on one side.
TOLERANCE = 0.05
SERVER_RATIO = "server.prefix_cache.hit_ratio"
SERVER_HITS = "server.prefix_cache_hits.delta"
SERVER_QUERIES = "server.prefix_cache_queries.delta"


@dataclass(frozen=True)
class LlmCacheProof:
    """The LLM run of ``run``, then the ``pairs`` (none: no semantic proof)."""

    mode: ClassVar[str] = "llm_cache_proof"
    sends: ClassVar[bool] = True
    engine: ClassVar[str] = "builtin"
    workers: ClassVar[int] = 1
    run: LlmRun
    pairs: tuple[Pair, ...] = ()
    tolerance: float = TOLERANCE

    @property
    def sending(self) -> Sending:
        return self.run.sending

    def describe(self) -> str:
        semantic = f", then {len(self.pairs)} semantic pairs" if self.pairs else ""
        return f"LLM cache proof: {self.run.describe()}{semantic}"


@dataclass(frozen=True)
class Tokens:
    """Prompt and cached prompt tokens summed over answers with usage."""

    prompt: int
    cached: int

    @classmethod
    def of(cls, usages: Iterable[Usage]) -> Tokens:
        found = [u for u in usages if u.prompt_tokens is not None]
        return cls(sum(u.prompt_tokens or 0 for u in found),
                   sum(u.cached_tokens or 0 for u in found))

    @property
    def ratio(self) -> float:
        return self.cached / self.prompt if self.prompt else math.nan


def usages(samples: Iterable[LlmSample]) -> list[Usage]:
    return [Usage(s.prompt_tokens, s.output_tokens, s.cached_tokens) for s in samples
            if s.prompt_tokens is not None]


def measure_llm_cache_proof(request: LlmCacheProof, url: str, progress: Progress) -> Measured:
    """The streamed run and the client's prefix reading; the semantic pairs after it. The
    server's reading is added once the window is closed (:func:`conclude`)."""
    measured, samples = measure_streams(request.run, url, progress)
    warmup = request.sending.warmup_s
    semantic = prove_semantic(url, request.run.api, request.pairs) if request.pairs else None
    engine_answers = usages(samples) + (semantic.engine_usage() if semantic else [])
    prefix = {"measured": tokens_dict(Tokens.of(usages(s for s in samples
                                                        if s.intended_s >= warmup))),
              "all": tokens_dict(Tokens.of(engine_answers)), "tolerance": request.tolerance,
              "definitions": "docs/llm.md#the-llm-cache-proof"}
    details: dict[str, Any] = {"prefix": prefix,
                               "semantic": semantic.to_dict() if semantic else None}
    metrics = dict(measured.metrics)
    lines = list(measured.lines)
    if semantic is not None:
        metrics.update(semantic.metrics())
        lines.append(semantic.line())
    problems = (() if semantic is None or semantic.status != "error" else
                (f"semantic cache: no hit on {len(request.pairs)} pairs: an all-zero reading "
                 "is an error, not a pass",))
    return replace(measured, metrics=metrics, lines=tuple(lines),
                   problems=(*measured.problems, *problems),
                   details={**measured.details, "llm_cache_proof": details})


def tokens_dict(tokens: Tokens) -> dict[str, Any]:
    return {"prompt_tokens": tokens.prompt, "cached_tokens": tokens.cached,
            "hit_ratio": tokens.ratio if math.isfinite(tokens.ratio) else None}


@dataclass(frozen=True)
class PrefixVerdict:
    """The prefix cache's two readings judged: ``status`` is ``agree``, ``client-only`` (no
    server reading asked for), ``disagree`` or ``error``; ``why`` says what went wrong."""

    status: str
    client: float  # over the measured requests
    client_all: float  # over every answer of the window
    server: float | None
    why: str | None = None

    def metrics(self) -> dict[str, float]:
        found = {"cache.prefix.client_hit_ratio_all": self.client_all,
                 "cache.prefix.agree": float(self.status == "agree")}
        if self.status != "error":
            found["cache.prefix.hit_ratio"] = self.client
        if self.server is not None:
            found["cache.prefix.server_hit_ratio"] = self.server
            found["cache.prefix.difference"] = abs(self.client_all - self.server)
        return {k: v for k, v in found.items() if math.isfinite(v)}

    def line(self) -> str:
        server = ("" if self.server is None or not math.isfinite(self.server) else
                  f", server {self.server:.3f} (all {self.client_all:.3f} by usage)")
        head = f"prefix cache: hit ratio {fmt(self.client)} by usage{server}"
        if self.status == "agree":
            return f"{head}: agree"
        if self.status == "client-only":
            return f"{head} (no --server-metrics: not cross-checked)"
        return f"{head}: {self.status.upper()}, {self.why}"


def fmt(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "-"


def judge_prefix(client: Tokens, client_all: Tokens, server: Mapping[str, float] | None,
                 tolerance: float) -> PrefixVerdict:
    """The verdict on the readings; ``server`` is the run's metrics when the server was read
    (None: not asked for)."""
    if client.prompt == 0 or client.cached == 0:
        return PrefixVerdict("error", client.ratio, client_all.ratio, server_ratio(server),
                             "no cached prompt tokens in any answer's usage (an all-zero "
                             "reading: no cache, or a server that does not report it)")
    if server is None:
        return PrefixVerdict("client-only", client.ratio, client_all.ratio, None)
    ratio = server_ratio(server)
    if ratio is None or not math.isfinite(ratio):
        return PrefixVerdict("error", client.ratio, client_all.ratio, ratio,
                             "the server exposed no prefix-cache counters, or no queries")
    if server.get(SERVER_HITS, 0.0) == 0:
        return PrefixVerdict("error", client.ratio, client_all.ratio, ratio,
                             "the server counted no prefix-cache hits (an all-zero reading)")
    if abs(client_all.ratio - ratio) > tolerance:
        return PrefixVerdict("disagree", client.ratio, client_all.ratio, ratio,
                             f"usage says {client_all.ratio:.3f}, the server's counters "
                             f"{ratio:.3f}: more than {tolerance:g} apart")
    return PrefixVerdict("agree", client.ratio, client_all.ratio, ratio)


def server_ratio(server: Mapping[str, float] | None) -> float | None:
    return None if server is None else server.get(SERVER_RATIO)


def conclude(request: LlmCacheProof, measured: Measured, server_read: bool) -> Measured:
    """``measured`` with the prefix verdict, once the server's window (if any) is in its
    metrics; ``server_read``: whether ``--server-metrics`` was given."""
    details = dict(measured.details.get("llm_cache_proof") or {})
    prefix = dict(details.get("prefix") or {})
    verdict = judge_prefix(tokens_of(prefix.get("measured")), tokens_of(prefix.get("all")),
                           measured.metrics if server_read else None, request.tolerance)
    server = verdict.server
    prefix.update({"status": verdict.status, "why": verdict.why,
                   "server_hit_ratio": server if server is not None and math.isfinite(server)
                   else None})
    details["prefix"] = prefix
    problems: Sequence[str] = ()
    if verdict.status in ("error", "disagree"):
        problems = (f"prefix cache: {verdict.status}: {verdict.why}",)
    return replace(measured, metrics={**measured.metrics, **verdict.metrics()},
                   lines=(*measured.lines, verdict.line()),
                   problems=(*measured.problems, *problems),
                   details={**measured.details, "llm_cache_proof": details})


def tokens_of(found: Any) -> Tokens:
    if not isinstance(found, Mapping):
        return Tokens(0, 0)
    return Tokens(int(found.get("prompt_tokens") or 0), int(found.get("cached_tokens") or 0))
