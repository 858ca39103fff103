"""Cache proof: does a response cache pay for itself on a realistic request mix?

Three measurements against one URL (a caching proxy):

1. **Hit ratio.** The cache is emptied, then the mix is replayed at a fixed rate. The ratio is
   counted twice: from the ``X-Cache: HIT|MISS`` header of every answer, and from the cache's
   own statistics (Redis ``INFO``: ``keyspace_hits``/``keyspace_misses`` before and after).
   Beside them stands the truth for an unbounded cache: the share of requests sent that repeat
   an earlier one (:func:`~gatekeeper.probe.capacity.repeated_share`).
2. **Capacity with the cache**: the capacity search, emptying the cache before every step so
   each step sees the mix's own share of repeats (never a cache warmed by the step before).
3. **Capacity without it**: the same search with ``Cache-Control: no-cache`` (the proxy then
   neither reads nor fills the cache), or against another URL such as the model server itself.

Cost per 1,000 inferences follows from each capacity. Without the cache the cost model's
``cache_per_hour`` is dropped: a deployment without a cache does not pay for one, so the
reduction is net of what the cache costs. :meth:`CacheProof.metrics` names the figures so the
``metric_threshold`` check gates on them (``cache.cost_reduction`` is the cost lever).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from gatekeeper.load.costmodel import CostBreakdown, CostModel
from gatekeeper.probe.capacity import (
    STEP_LIMITS,
    CapacityResult,
    ProbeTarget,
    Step,
    StepCallback,
    StepPolicy,
    StepRun,
    find_capacity,
    repeated_share,
    run_step,
    step_plan,
)
from gatekeeper.probe.engine import Limits
from gatekeeper.probe.report import HoldPolicy
from gatekeeper.probe.requests_mix import RequestMix

CACHE_HEADER = "X-Cache"
BYPASS_HEADERS: Mapping[str, str] = {"Cache-Control": "no-cache"}


@dataclass(frozen=True)
class Lookups:
    """Cache lookups counted by the cache itself."""

    hits: int
    misses: int

    def __sub__(self, earlier: Lookups) -> Lookups:
        return Lookups(self.hits - earlier.hits, self.misses - earlier.misses)

    @property
    def ratio(self) -> float:
        """Hits over lookups (0 when there were none)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class CacheStats(Protocol):
    """The cache's own statistics, and a way to empty it."""

    def flush(self) -> None: ...

    def lookups(self) -> Lookups: ...


class RedisStats:
    """:class:`CacheStats` of a Redis used as the cache (its server-wide keyspace counters:
    give the cache a Redis of its own, or other clients' lookups count too)."""

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError as exc:  # an optional extra: say which one
            raise ImportError("the cache proof needs redis: pip install 'gatekeeper[serve]'"
                              ) from exc
        self.client = redis.Redis.from_url(url, socket_timeout=5)

    def flush(self) -> None:
        self.client.flushdb()

    def lookups(self) -> Lookups:
        info: Mapping[str, Any] = self.client.info("stats")
        return Lookups(int(info["keyspace_hits"]), int(info["keyspace_misses"]))


@dataclass(frozen=True)
class HitRatio:
    """One replay's hit ratio, seen three ways."""

    expected: float  # share of requests sent that repeat an earlier one
    headers: Mapping[str, int]  # X-Cache values over every answer ("" when absent)
    cache_stats: Lookups | None  # the cache's own count over the replay

    @property
    def from_headers(self) -> float:
        """HIT over HIT + MISS answers (0 when there were none)."""
        hits, misses = self.headers.get("HIT", 0), self.headers.get("MISS", 0)
        return hits / (hits + misses) if hits + misses else 0.0

    @property
    def from_cache(self) -> float | None:
        return self.cache_stats.ratio if self.cache_stats else None

    def to_dict(self) -> dict[str, Any]:
        stats = self.cache_stats
        return {"expected": self.expected, "from_headers": self.from_headers,
                "from_cache": self.from_cache, "headers": dict(self.headers),
                "cache_stats": {"hits": stats.hits, "misses": stats.misses} if stats else None}


@dataclass(frozen=True)
class SearchSettings:
    """The capacity searches' parameters (see :func:`~gatekeeper.probe.capacity.find_capacity`)."""

    slo_p99_ms: float
    start_rate: float
    max_rate: float
    policy: StepPolicy = field(default_factory=StepPolicy)
    step_duration: float = 2.0
    max_steps: int = 8
    limits: Limits = STEP_LIMITS


@dataclass(frozen=True)
class CacheProof:
    """The hit ratio, both capacities and both costs; ``cost_reduction`` is the lever."""

    hit: HitRatio
    replay: StepRun  # the fixed-rate replay through the cache
    cached: CapacityResult
    uncached: CapacityResult
    cost_cached: CostBreakdown | None  # None when that search found no capacity
    cost_uncached: CostBreakdown | None

    @property
    def cost_reduction(self) -> float | None:
        """1 - cached / uncached cost per 1,000 (negative: the cache costs more than it saves)."""
        if self.cost_cached is None or self.cost_uncached is None:
            return None
        return 1 - self.cost_cached.total / self.cost_uncached.total

    def metrics(self) -> dict[str, float]:
        """The figures as MLflow metrics; one that could not be measured is left out, so a
        check reading it reports it missing (``error``) instead of judging a stand-in."""
        found = {"cache.hit_ratio": self.hit.from_headers,
                 "cache.expected_hit_ratio": self.hit.expected,
                 **self.cached.metrics("capacity.cached"),
                 **self.uncached.metrics("capacity.uncached")}
        optional = {"cache.hit_ratio_stats": self.hit.from_cache,
                    "cost.per_1k_cached": total(self.cost_cached),
                    "cost.per_1k_uncached": total(self.cost_uncached),
                    "cache.cost_reduction": self.cost_reduction}
        found.update({k: v for k, v in optional.items() if v is not None})
        return found

    def to_dict(self) -> dict[str, Any]:
        return {"hit_ratio": self.hit.to_dict(), "cached": self.cached.to_dict(),
                "uncached": self.uncached.to_dict(),
                "cost_per_1k_cached": breakdown(self.cost_cached),
                "cost_per_1k_uncached": breakdown(self.cost_uncached),
                "cost_reduction": self.cost_reduction}


def total(cost: CostBreakdown | None) -> float | None:
    return cost.total if cost else None


def breakdown(cost: CostBreakdown | None) -> dict[str, float] | None:
    return cost.as_dict() if cost else None


def without_cache(model: CostModel) -> CostModel:
    """The cost model of the same deployment with no cache to pay for."""
    return model.model_copy(update={"cache_per_hour": 0.0})


def measure_hit_ratio(url: str, mix: RequestMix, rate: float, duration_s: float,
                      stats: CacheStats | None, limits: Limits | None = None, seed: int = 1,
                      warmup_s: float = 0.5) -> tuple[HitRatio, StepRun]:
    """Empty the cache, replay ``mix`` at ``rate`` for ``duration_s`` through it, and count.

    Every answer counts toward the ratio (the warm-up too: the cache starts empty and the
    truth covers every request sent); only latency figures exclude the warm-up.
    """
    plan = list(step_plan(mix, rate, duration_s, seed))
    bounded = replace(limits or STEP_LIMITS, max_duration_s=duration_s)
    target = ProbeTarget(url, bounded, tally_header=CACHE_HEADER)
    if stats is not None:
        stats.flush()
    before = stats.lookups() if stats else None
    run = run_step(target, plan, bounded, HoldPolicy(warmup_s=warmup_s))
    counted = stats.lookups() - before if stats and before else None
    expected = repeated_share([p.request for p in plan])
    return HitRatio(expected, run.tally, counted), run


def capacity_with_cache(url: str, mix: RequestMix, stats: CacheStats | None,
                        search: SearchSettings, on_step: StepCallback | None = None
                        ) -> CapacityResult:
    """The capacity search through the cache, emptied before every step."""
    target = ProbeTarget(url, search.limits, tally_header=CACHE_HEADER,
                         before_step=stats.flush if stats else None)
    return run_search(target, mix, search, on_step)


def capacity_without_cache(url: str, mix: RequestMix, search: SearchSettings,
                           uncached_url: str | None = None, on_step: StepCallback | None = None
                           ) -> CapacityResult:
    """The capacity search bypassing the cache: ``no-cache`` on ``url``, or ``uncached_url``."""
    headers = {} if uncached_url else dict(BYPASS_HEADERS)
    target = ProbeTarget(uncached_url or url, search.limits, headers=headers,
                         tally_header=CACHE_HEADER)
    return run_search(target, mix, search, on_step)


def run_search(target: ProbeTarget, mix: RequestMix, search: SearchSettings,
               on_step: StepCallback | None = None) -> CapacityResult:
    return find_capacity(target, mix, search.slo_p99_ms, search.start_rate, search.max_rate,
                         search.policy, search.step_duration, search.max_steps, on_step)


#: Called with ``cached`` (True: the search through the cache) and each step as it is judged.
ProofStepCallback = Callable[[bool, Step], None]


def prove_cache(url: str, mix: RequestMix, cost_model: CostModel, stats: CacheStats | None,
                replay_rate: float, replay_duration_s: float, search: SearchSettings,
                uncached_url: str | None = None, on_step: ProofStepCallback | None = None
                ) -> CacheProof:
    """Measure the hit ratio, both capacities, and cost per 1,000 with and without the cache.

    ``on_step(cached, step)`` sees every step of both searches as soon as it is judged."""
    hit, replay = measure_hit_ratio(url, mix, replay_rate, replay_duration_s, stats,
                                    search.limits, search.policy.seed, search.policy.warmup_s)
    cached = capacity_with_cache(url, mix, stats, search, tagged(on_step, cached=True))
    uncached = capacity_without_cache(url, mix, search, uncached_url,
                                      tagged(on_step, cached=False))
    return CacheProof(hit, replay, cached, uncached, cost_or_none(cached, cost_model),
                      cost_or_none(uncached, without_cache(cost_model)))


def tagged(on_step: ProofStepCallback | None, cached: bool) -> StepCallback | None:
    """``on_step`` with ``cached`` bound: the callback of one of the two searches."""
    if on_step is None:
        return None
    report = on_step
    return lambda step: report(cached, step)


def cost_or_none(result: CapacityResult, model: CostModel) -> CostBreakdown | None:
    return result.cost(model) if result.best is not None else None
