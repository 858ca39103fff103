"""``--cache-proof``: hit ratio, capacity and cost with and without the cache."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from gatekeeper.load.costmodel import CostModel, money
from gatekeeper.probe.cache_proof import RedisStats, SearchSettings, prove_cache
from gatekeeper.probe.capacity import Step, StepPolicy
from gatekeeper.probe.modes.interface import Measured, Sending
from gatekeeper.probe.modes.search import SearchBounds, capacity_line, step_teller
from gatekeeper.probe.progress import Progress
from gatekeeper.probe.timeline import no_timeline


@dataclass(frozen=True)
class CacheProof:
    """Replay at ``sending.rate`` for ``sending.schedule.duration_s`` through the cache, then
    the capacity search with and without it; ``redis_url`` adds the cache's own counts."""

    mode: ClassVar[str] = "cache_proof"
    sends: ClassVar[bool] = True
    engine: ClassVar[str] = "builtin"
    workers: ClassVar[int] = 1
    sending: Sending
    bounds: SearchBounds
    cost_model: CostModel
    redis_url: str | None = None

    def describe(self) -> str:
        return (f"cache proof: replay at {self.sending.rate:g}/s, then capacity searches, "
                f"p99 SLO {self.bounds.slo_p99_ms:g} ms")


def measure_cache_proof(request: CacheProof, url: str, progress: Progress) -> Measured:
    """The cache proof; the report is that of the replay through the cache.

    ``progress`` is told a line as each step of either search finishes
    (``with cache: step 1: ...``)."""
    s, bounds = request.sending, request.bounds
    duration = s.schedule.duration_s
    stats = RedisStats(request.redis_url) if request.redis_url else None
    search = SearchSettings(bounds.slo_p99_ms, s.rate, max(bounds.max_rate, s.rate),
                            StepPolicy(warmup_s=s.warmup_s, seed=s.seed), duration,
                            bounds.max_steps, replace(s.limits, max_duration_s=duration))
    tellers = {True: step_teller(progress.step, "with cache: "),
               False: step_teller(progress.step, "without cache: ")}

    def on_step(cached: bool, step: Step) -> None:
        tellers[cached](step)

    proof = prove_cache(url, s.mix, request.cost_model, stats, s.rate, duration, search,
                        on_step=on_step)
    metrics = proof.metrics()
    lines = [f"cache: hit ratio {proof.hit.from_headers:.3f} (X-Cache), "
             f"expected {proof.hit.expected:.3f}",
             "with cache:    " + capacity_line(proof.cached),
             "without cache: " + capacity_line(proof.uncached)]
    if proof.cost_reduction is not None:
        currency = request.cost_model.currency
        lines.append(f"cost per 1,000: {money(metrics['cost.per_1k_cached'], currency)} with "
                     f"the cache, {money(metrics['cost.per_1k_uncached'], currency)} without "
                     f"({proof.cost_reduction:.0%} less)")
    return Measured(proof.replay.report, no_timeline(s.warmup_s), proof.replay.response_bytes,
                    metrics, tuple(lines), (), {"cache_proof": proof.to_dict()})
