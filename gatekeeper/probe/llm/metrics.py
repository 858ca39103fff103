"""Token metrics of a streamed run, with fixed definitions (docs/llm.md has the table).

Every latency counts from the request's **intended** send time (coordinated omission
corrected); the ``service_`` variants count from the actual send. Only requests intended after
the warm-up count; a request is ``ok`` when it was answered in full (2xx, no error event) with
at least one token.

- **TTFT**: to the first chunk carrying content, reasoning or a tool call (a role-only or empty
  chunk does not count). **TTFO**: to the first chunk carrying content or a tool call, for the
  requests whose first token was reasoning.
- **E2E**: to the answer's last byte. **TPOT** = (E2E - TTFT) / (output tokens - 1), for
  requests with at least two output tokens. **NTPOT** = E2E / output tokens.
- **ITL**: every gap between consecutive token-carrying chunks, pooled over requests; gaps of
  requests whose usage counts more tokens than they had chunks (several tokens per chunk) are
  flagged, and their share reported.
- **Output tokens**: the server's ``usage.completion_tokens`` when it sent one, else the count
  of token-carrying chunks; every request where the two differ is a mismatch, reported.
- **Window**: from the first measured request's actual send to the last measured answer's end;
  output (and input) tokens/s and goodput are over it. **Per-user tokens/s**: the mean over
  requests of 1 / TPOT.
- **Goodput**: ok requests that met every SLO given (TTFT, TPOT, E2E, per request) per second
  of the window; failures are misses. With no SLO every ok request counts.
- **Strict percentiles** (``*_strict``): each failed request counts as +inf, so a p99 over more
  than 1% failures is infinite (left out of MLflow, ``null`` in result.json).

Percentiles are nearest rank (the value at rank ceil(q*N)) over the exact values.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gatekeeper.probe.llm.engine import LlmSample
from gatekeeper.probe.llm.mix import LlmMixRequest
from gatekeeper.probe.requests_mix import RequestMix

QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p999": 0.999}
#: The latency-like metrics of each endpoint, logged as ``<name>.<endpoint>.p50_ms`` ...
SERIES = ("ttft", "ttfo", "tpot", "itl", "ntpot", "service_ttft", "service_ntpot")
MISMATCH_EXAMPLES = 5
# The share of zero ITL gaps (chunks read together) above which the summary says so.
SAME_READ_NOTED = 0.01
#: result.json keeps the chunk times of this many requests (the first measured ones).
RECORDED_REQUESTS = 1000


@dataclass(frozen=True)
class Slo:
    """Per-request objectives for goodput, in ms; None: not an objective."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met(self, s: LlmSample) -> bool:
        """Whether ``s`` was ok and met every objective (a one-token answer has no TPOT)."""
        if not s.ok:
            return False
        ttft, tpot = ttft_s(s), tpot_s(s)
        return (within(ttft, self.ttft_ms) and within(s.ended_s - s.intended_s, self.e2e_ms)
                and (tpot is None or within(tpot, self.tpot_ms)))

    def describe(self) -> str:
        parts = [f"{name} <= {value:g} ms" for name, value in
                 (("TTFT", self.ttft_ms), ("TPOT", self.tpot_ms), ("E2E", self.e2e_ms))
                 if value is not None]
        return ", ".join(parts) or "no SLO (every ok request counts)"

    def to_dict(self) -> dict[str, float | None]:
        return {"ttft_ms": self.ttft_ms, "tpot_ms": self.tpot_ms, "e2e_ms": self.e2e_ms}


def within(value_s: float, limit_ms: float | None) -> bool:
    return limit_ms is None or value_s * 1000 <= limit_ms


def ttft_s(s: LlmSample) -> float:
    return s.token_s[0] - s.intended_s


def tpot_s(s: LlmSample) -> float | None:
    """(E2E - TTFT) / (tokens - 1); None below two tokens."""
    if s.tokens < 2:
        return None
    return (s.ended_s - s.token_s[0]) / (s.tokens - 1)


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The value at rank ceil(q*N) of ascending ``ordered``; NaN when empty."""
    if not ordered:
        return math.nan
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


@dataclass(frozen=True)
class Distribution:
    """Values in seconds (ascending), and how many failed requests it left out."""

    values: tuple[float, ...]
    failures: int = 0

    @classmethod
    def of(cls, values: Iterable[float], failures: int = 0) -> Distribution:
        return cls(tuple(sorted(values)), failures)

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values) if self.values else math.nan

    def percentiles_ms(self) -> dict[str, float]:
        """``p50_ms`` ... ``p999_ms``, ``max_ms``, ``mean_ms`` (NaN when empty)."""
        found = {f"{k}_ms": nearest_rank(self.values, q) * 1000 for k, q in QUANTILES.items()}
        found["max_ms"] = self.values[-1] * 1000 if self.values else math.nan
        found["mean_ms"] = self.mean * 1000
        return found

    def strict_ms(self) -> dict[str, float]:
        """The percentiles with each failure counted as +inf."""
        ordered = (*self.values, *([math.inf] * self.failures))
        found = {f"{k}_ms": nearest_rank(ordered, q) * 1000 for k, q in QUANTILES.items()}
        found["max_ms"] = ordered[-1] * 1000 if ordered else math.nan
        return found


@dataclass(frozen=True)
class EndpointLlm:
    """The token metrics of one endpoint type after the warm-up."""

    endpoint: str
    requests: int
    ok: int
    series: Mapping[str, Distribution]  # SERIES names, and "e2e"
    window_s: float
    output_tokens: int
    prompt_tokens: int
    cached_tokens: int
    per_user_tps: float
    good: int
    itl_flagged_share: float
    itl_same_read_share: float  # gaps of 0: two token chunks came in one read
    usage_missing: int
    usage_mismatches: tuple[tuple[int, int], ...]  # (usage, token chunks) of each mismatch
    reasoning_first: int
    empty_chunks: int

    @property
    def goodput_rps(self) -> float:
        return self.good / self.window_s if self.window_s > 0 else 0.0

    @property
    def output_per_s(self) -> float:
        return self.output_tokens / self.window_s if self.window_s > 0 else 0.0

    @property
    def input_per_s(self) -> float:
        return self.prompt_tokens / self.window_s if self.window_s > 0 else 0.0

    @property
    def cached_share(self) -> float:
        return self.cached_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def measured_window(samples: Sequence[LlmSample]) -> float:
    """First actual send to last end, over ``samples`` (0 when empty)."""
    if not samples:
        return 0.0
    return max(s.ended_s for s in samples) - min(s.sent_s for s in samples)


def endpoint_llm(name: str, measured: Sequence[LlmSample], window_s: float, slo: Slo
                 ) -> EndpointLlm:
    ok = [s for s in measured if s.ok]
    failed = len(measured) - len(ok)
    tpots = [t for s in ok if (t := tpot_s(s)) is not None]
    gaps, flagged = itl_gaps(ok)
    mismatches = tuple((s.output_tokens, len(s.token_s)) for s in ok
                       if s.output_tokens is not None and s.output_tokens != len(s.token_s))
    reasoning = [s for s in ok if s.reasoning_first and s.first_output_s is not None]
    series = {
        "ttft": Distribution.of((ttft_s(s) for s in ok), failed),
        "service_ttft": Distribution.of((s.token_s[0] - s.sent_s for s in ok), failed),
        "ttfo": Distribution.of((s.first_output_s or 0.0) - s.intended_s for s in reasoning),
        "tpot": Distribution.of(tpots, failed),
        "itl": Distribution.of(gaps),
        "ntpot": Distribution.of(((s.ended_s - s.intended_s) / s.tokens for s in ok), failed),
        "service_ntpot": Distribution.of(((s.ended_s - s.sent_s) / s.tokens for s in ok),
                                         failed),
        "e2e": Distribution.of((s.ended_s - s.intended_s for s in ok), failed),
    }
    return EndpointLlm(
        name, len(measured), len(ok), series, window_s, sum(s.tokens for s in ok),
        sum(s.prompt_tokens or 0 for s in ok), sum(s.cached_tokens or 0 for s in ok),
        sum(1 / t for t in tpots if t > 0) / len(tpots) if tpots else math.nan,
        sum(1 for s in measured if slo.met(s)), flagged / len(gaps) if gaps else 0.0,
        sum(1 for g in gaps if g == 0) / len(gaps) if gaps else 0.0,
        sum(1 for s in ok if s.output_tokens is None), mismatches, len(reasoning),
        sum(s.empty_chunks for s in measured))


def itl_gaps(ok: Sequence[LlmSample]) -> tuple[list[float], int]:
    """Every gap between token chunks, and how many came from multi-token-chunk requests."""
    gaps: list[float] = []
    flagged = 0
    for s in ok:
        mine = [b - a for a, b in itertools.pairwise(s.token_s)]
        gaps.extend(mine)
        if s.output_tokens is not None and s.output_tokens > len(s.token_s):
            flagged += len(mine)
    return gaps, flagged


def summarise(samples: Sequence[LlmSample], warmup_s: float, slo: Slo) -> tuple[EndpointLlm, ...]:
    """One :class:`EndpointLlm` per endpoint type, in name order, over one shared window."""
    measured = [s for s in samples if s.intended_s >= warmup_s]
    window = measured_window(measured)
    names = sorted({s.endpoint for s in measured})
    return tuple(endpoint_llm(n, [s for s in measured if s.endpoint == n], window, slo)
                 for n in names)


def llm_metrics(stats: Sequence[EndpointLlm]) -> dict[str, float]:
    """The MLflow metrics: ``ttft.<e>.p50_ms`` ... , tokens/s, goodput; NaN and infinite
    values are left out (a check reports them missing)."""
    metrics: dict[str, float] = {}
    for e in stats:
        name = e.endpoint
        for series in SERIES:
            for key, value in e.series[series].percentiles_ms().items():
                metrics[f"{series}.{name}.{key}"] = value
        for series in ("ttft", "tpot", "ntpot", "e2e"):
            prefix = "latency" if series == "e2e" else series
            for key, value in e.series[series].strict_ms().items():
                metrics[f"{prefix}_strict.{name}.{key}"] = value
        metrics.update({
            f"ttft.{name}.samples": float(len(e.series["ttft"].values)),
            f"itl.{name}.multi_token_share": e.itl_flagged_share,
            f"itl.{name}.same_read_share": e.itl_same_read_share,
            f"tokens.{name}.output_per_s": e.output_per_s,
            f"tokens.{name}.input_per_s": e.input_per_s,
            f"tokens.{name}.per_user_output_per_s": e.per_user_tps,
            f"tokens.{name}.output_total": float(e.output_tokens),
            f"tokens.{name}.cached_share": e.cached_share,
            f"tokens.{name}.usage_mismatches": float(len(e.usage_mismatches)),
            f"tokens.{name}.usage_missing": float(e.usage_missing),
            f"requests.{name}.ok_per_s": e.ok / e.window_s if e.window_s > 0 else 0.0,
            f"goodput.{name}_rps": e.goodput_rps,
            f"goodput.{name}_share": e.good / e.requests if e.requests else 0.0,
        })
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


def endpoint_details(e: EndpointLlm) -> dict[str, Any]:
    """result.json's view of one endpoint: every series in ms, tokens, goodput, mismatches."""
    return {
        "endpoint": e.endpoint, "requests": e.requests, "ok": e.ok, "window_s": e.window_s,
        **{name: json_ready(e.series[name].percentiles_ms()) for name in (*SERIES, "e2e")},
        "strict": {name: json_ready(e.series[name].strict_ms())
                   for name in ("ttft", "tpot", "ntpot", "e2e")},
        "failures": e.requests - e.ok,
        "tokens": {"output": e.output_tokens, "prompt": e.prompt_tokens,
                   "cached": e.cached_tokens, "cached_share": e.cached_share,
                   "output_per_s": e.output_per_s, "input_per_s": e.input_per_s,
                   "per_user_output_per_s": json_number(e.per_user_tps)},
        "goodput": {"good": e.good, "rps": e.goodput_rps},
        "itl_multi_token_share": e.itl_flagged_share,
        "itl_same_read_share": e.itl_same_read_share,
        "reasoning_first": e.reasoning_first, "empty_chunks": e.empty_chunks,
        "usage": {"missing": e.usage_missing, "mismatches": len(e.usage_mismatches),
                  "examples": [{"usage": u, "token_chunks": c}
                               for u, c in e.usage_mismatches[:MISMATCH_EXAMPLES]]},
    }


def json_ready(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: json_number(v) for k, v in values.items()}


def json_number(value: float) -> float | None:
    """JSON has no NaN or infinity: both become null."""
    return value if math.isfinite(value) else None


def request_records(samples: Sequence[LlmSample], warmup_s: float,
                    limit: int = RECORDED_REQUESTS) -> list[dict[str, Any]]:
    """The first ``limit`` measured requests, by intended time: when each was meant to go and
    went (seconds from the run's start), and each token chunk's arrival in ms from the
    intended send time (``chunks_ms``; from the actual send: subtract ``lag_ms``)."""
    measured = sorted((s for s in samples if s.intended_s >= warmup_s),
                      key=lambda s: s.intended_s)[:limit]
    return [{"endpoint": s.endpoint, "intended_s": round(s.intended_s, 6),
             "lag_ms": round((s.sent_s - s.intended_s) * 1000, 3), "status": s.status.value,
             "chunks_ms": [round((t - s.intended_s) * 1000, 3) for t in s.token_s],
             "end_ms": round((s.ended_s - s.intended_s) * 1000, 3),
             "output_tokens": s.output_tokens, "prompt_tokens": s.prompt_tokens,
             "cached_tokens": s.cached_tokens, "error": s.error} for s in measured]


def fingerprint(api: str, mix: RequestMix, samples: Sequence[LlmSample]) -> dict[str, Any]:
    """What shaped the workload, so runs are compared only with like runs: the declared
    prompt and output lengths (by weight), the sampling parameters, ``ignore_eos``, the api,
    the model asked for, and the model names the server reported. ``digest`` covers the
    declared part (the same mix and api give the same digest)."""
    prompts = [r.prompt for r in mix.requests if isinstance(r, LlmMixRequest) and r.prompt]
    declared = {
        "api": api,
        "prompt_words": spread([p.words for p in prompts]),
        "max_tokens": spread([p.max_tokens for p in prompts]),
        "sampling": sorted({json.dumps(dict(p.sampling), sort_keys=True) for p in prompts}),
        "ignore_eos": sorted({str(p.ignore_eos).lower() for p in prompts}),
        "models_requested": sorted({p.model for p in prompts if p.model}),
    }
    digest = hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()
    ok = [s for s in samples if s.ok]
    return {**declared, "digest": digest,
            "models_reported": sorted({s.model for s in samples if s.model}),
            "measured_prompt_tokens": spread([s.prompt_tokens for s in ok
                                              if s.prompt_tokens is not None]),
            "measured_output_tokens": spread([s.tokens for s in ok])}


def spread(values: Sequence[int]) -> dict[str, float] | None:
    """min, p50, p90, max and mean of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return {"min": ordered[0], "p50": nearest_rank(ordered, 0.5),
            "p90": nearest_rank(ordered, 0.9), "max": ordered[-1],
            "mean": sum(ordered) / len(ordered)}


def summary_lines(stats: Sequence[EndpointLlm], slo: Slo) -> tuple[str, ...]:
    """One line per endpoint type, and one per endpoint whose usage and chunks disagree."""
    lines: list[str] = []
    for e in stats:
        p = {name: e.series[name].percentiles_ms() for name in ("ttft", "tpot", "itl")}
        lines.append(
            f"{e.endpoint}: TTFT p50 {ms(p['ttft']['p50_ms'])} p99 {ms(p['ttft']['p99_ms'])}, "
            f"TPOT p50 {ms(p['tpot']['p50_ms'])} p99 {ms(p['tpot']['p99_ms'])}, ITL p99 "
            f"{ms(p['itl']['p99_ms'])}; {e.output_per_s:,.1f} output tokens/s; goodput "
            f"{e.goodput_rps:,.2f}/s ({e.good:,} of {e.requests:,} met {slo.describe()})")
        if e.usage_mismatches:
            lines.append(f"{e.endpoint}: usage and token chunks disagree on "
                         f"{len(e.usage_mismatches):,} of {e.ok:,} answers (e.g. usage "
                         f"{e.usage_mismatches[0][0]}, chunks {e.usage_mismatches[0][1]}); "
                         f"{e.itl_flagged_share:.0%} of ITL gaps are multi-token chunks")
        if e.usage_missing:
            lines.append(f"{e.endpoint}: {e.usage_missing:,} answers had no usage: tokens "
                         "counted by chunks")
        if e.itl_same_read_share > SAME_READ_NOTED:
            lines.append(f"{e.endpoint}: {e.itl_same_read_share:.1%} of ITL gaps are 0: two "
                         "token chunks came in one read (the server sent them together, or "
                         "the probe read later than the gap between them)")
    return tuple(lines)


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.1f} ms"
