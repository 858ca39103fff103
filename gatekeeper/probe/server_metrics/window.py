"""What the server counted over one run's window, from scrapes before, during and after it.

- Counters: the increase from the scrape before to the scrape after, summed over series (per
  engine, per model). A series that is lower after than before was reset (a restart): its value
  after is taken as the increase, as Prometheus' ``increase()`` does. A series absent before
  started during the run, from 0.
- Triton's cumulative microseconds: the increase of the time over the increase of the count it
  belongs to (``count_of``): the mean seconds per request over the window.
- Histograms: bucket increases per ``le``, summed over series; the mean is the increase of
  ``_sum`` over that of ``_count``. A quantile q is found as Prometheus' ``histogram_quantile``
  finds it: the bucket where the cumulative count first reaches q x total, linearly
  interpolated between that bucket's lower bound (the previous bucket's upper one; 0 for the
  first) and its upper bound, i.e. observations assumed spread evenly inside a bucket. A
  quantile falling in the ``+Inf`` bucket is the highest finite bound (a floor, not a value).
  The precision is the bucket width: vLLM's TTFT buckets are 0.1, 0.25, 0.5, 0.75, 1 s ...
- Gauges: max and mean over the samples taken during the run (each sample's series combined by
  the registry's ``across``: sum for counts, mean for ratios); percent is read as a ratio and
  bytes as MiB so one concept has one unit whatever the server.
- Saturation: the run is saturated when the waiting queue kept growing: at least
  ``MIN_SAMPLES`` samples of ``requests_waiting``, a positive least-squares slope over time,
  and the mean of the last quarter of the samples at least ``MIN_GROWTH`` requests above the
  mean of the first quarter. A queue that grows then drains, or stays level however long, is
  not saturated.

The server's numbers cover every request it served in the window: warm-up requests and other
clients' included. They explain the client's numbers; they never replace them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.probe.server_metrics.exposition import Labels, Scrape, without
from gatekeeper.probe.server_metrics.registry import CONCEPTS, ServerMetric, candidates

QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
MIN_SAMPLES = 4
MIN_GROWTH = 1.0
#: Gauge units read into one unit per concept.
GAUGE_SCALE = {"percent": 0.01, "bytes": 1 / 2**20}
PREFIX = "server"


@dataclass(frozen=True)
class Reading:
    """One concept over the window: which metric gave it, and its values."""

    metric: ServerMetric
    values: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        m = self.metric
        found: dict[str, Any] = {"metric": m.name, "server": m.server, "kind": m.kind}
        if m.renamed_to:
            found["older_name_of"] = m.renamed_to
        return {**found, **{k: _json(v) for k, v in self.values.items()}}


@dataclass(frozen=True)
class Saturation:
    """Whether the waiting queue kept growing, and how fast (requests per second)."""

    saturated: bool
    slope_per_s: float
    first_quarter: float
    last_quarter: float
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return {"saturated": self.saturated, "slope_per_s": _json(self.slope_per_s),
                "first_quarter_mean": _json(self.first_quarter),
                "last_quarter_mean": _json(self.last_quarter), "samples": self.samples,
                "rule": f"slope > 0 and last-quarter mean >= first-quarter mean + "
                        f"{MIN_GROWTH:g}, over >= {MIN_SAMPLES} samples"}


@dataclass(frozen=True)
class ServerEvidence:
    """Every concept the server exposed over the window, and whether it saturated."""

    url: str
    window_s: float
    samples: int
    readings: Mapping[str, Reading]
    saturation: Saturation | None
    derived: Mapping[str, float] = field(default_factory=dict)

    @property
    def servers(self) -> list[str]:
        return sorted({r.metric.server for r in self.readings.values()})

    def metrics(self) -> dict[str, float]:
        """``server.<concept>.<stat>`` for MLflow and result.json (NaN left out)."""
        found = {f"{PREFIX}.{concept}.{stat}": value
                 for concept, reading in self.readings.items()
                 for stat, value in reading.values.items()}
        found.update({f"{PREFIX}.{name}": value for name, value in self.derived.items()})
        if self.saturation is not None:
            found[f"{PREFIX}.saturated"] = 1.0 if self.saturation.saturated else 0.0
            found[f"{PREFIX}.requests_waiting.slope_per_s"] = self.saturation.slope_per_s
        return {k: v for k, v in found.items() if math.isfinite(v)}

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "servers": self.servers, "window_s": self.window_s,
                "samples": self.samples,
                "readings": {c: r.to_dict() for c, r in self.readings.items()},
                "derived": {k: _json(v) for k, v in self.derived.items()},
                "saturation": self.saturation.to_dict() if self.saturation else None,
                "missing": [c for c in CONCEPTS if c not in self.readings]}


def window_evidence(url: str, before: Scrape, after: Scrape, during: Sequence[Scrape]
                    ) -> ServerEvidence:
    """The evidence of the window from ``before`` to ``after``; ``during`` are the samples
    taken while the run went on (gauges; ``before`` and ``after`` may be among them)."""
    readings = {}
    for concept in CONCEPTS:
        metric = resolve(concept, after)
        if metric is not None:
            readings[concept] = Reading(metric, read(metric, before, after, during))
    waiting = readings.get("requests_waiting")
    saturation = (queue_saturation([(s.taken_at, gauge_value(waiting.metric, s))
                                    for s in during])
                  if waiting is not None else None)
    return ServerEvidence(url, after.taken_at - before.taken_at, len(during), readings,
                          saturation, derived(readings))


def resolve(concept: str, scrape: Scrape) -> ServerMetric | None:
    """The newest metric of ``concept`` present in ``scrape`` (older names only without it)."""
    return next((m for m in candidates(concept) if present(m, scrape)), None)


def present(metric: ServerMetric, scrape: Scrape) -> bool:
    if metric.kind == "histogram":
        return scrape.has(f"{metric.name}_bucket")
    return bool(series_of(metric.name, scrape))


def read(metric: ServerMetric, before: Scrape, after: Scrape, during: Sequence[Scrape]
         ) -> dict[str, float]:
    """The values of one metric over the window, by its kind."""
    if metric.kind == "counter":
        return {"delta": increase(metric.name, before, after)}
    if metric.kind == "cumulative_us":
        count = increase(metric.count_of or "", before, after)
        spent = increase(metric.name, before, after) * metric.scale_to_seconds
        return {"mean_ms": spent / count * 1000 if count else math.nan, "count": count}
    if metric.kind == "histogram":
        return histogram_values(metric, before, after)
    levels = [gauge_value(metric, s) for s in during] or [gauge_value(metric, after)]
    levels = [v for v in levels if math.isfinite(v)]
    if not levels:
        return {"max": math.nan, "mean": math.nan}
    return {"max": max(levels), "mean": sum(levels) / len(levels)}


def series_of(name: str, scrape: Scrape) -> dict[Labels, float]:
    """Series of a counter or gauge by labels; a counter's ``_total`` sample preferred."""
    samples = scrape.named(f"{name}_total") or scrape.named(name)
    return {s.labels: s.value for s in samples}


def increase(name: str, before: Scrape, after: Scrape) -> float:
    """A counter's increase, summed over series (see the module docstring for resets)."""
    start = series_of(name, before)
    return sum(delta(start.get(labels, 0.0), value)
               for labels, value in series_of(name, after).items())


def delta(start: float, end: float) -> float:
    return end - start if end >= start else end


def gauge_value(metric: ServerMetric, scrape: Scrape) -> float:
    """The gauge's series in one scrape combined into one value, in the concept's unit."""
    values = [v for v in series_of(metric.name, scrape).values() if math.isfinite(v)]
    if not values:
        return math.nan
    combined = sum(values) if metric.across == "sum" else sum(values) / len(values)
    return combined * GAUGE_SCALE.get(metric.unit, 1.0)


def bucket_increases(name: str, before: Scrape, after: Scrape) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of the window, summed over series, by bound."""
    def buckets(scrape: Scrape) -> dict[tuple[Labels, float], float]:
        return {(without(s.labels, "le"), float(s.label("le") or "nan")): s.value
                for s in scrape.named(f"{name}_bucket")}

    start = buckets(before)
    totals: dict[float, float] = {}
    for key, value in buckets(after).items():
        totals[key[1]] = totals.get(key[1], 0.0) + delta(start.get(key, 0.0), value)
    return sorted((bound, count) for bound, count in totals.items() if not math.isnan(bound))


def histogram_values(metric: ServerMetric, before: Scrape, after: Scrape) -> dict[str, float]:
    """Quantiles and mean in milliseconds, and the count of observations in the window."""
    buckets = bucket_increases(metric.name, before, after)
    count = increase(f"{metric.name}_count", before, after)
    total = increase(f"{metric.name}_sum", before, after)
    scale = metric.scale_to_seconds * 1000
    values = {f"{name}_ms": bucket_quantile(q, buckets) * scale
              for name, q in QUANTILES.items()}
    values["mean_ms"] = total / count * scale if count else math.nan
    values["count"] = count
    return values


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The q-quantile of cumulative ``buckets`` (sorted by bound, +Inf last); NaN if empty."""
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank and cumulative > below:
            if math.isinf(bound):
                return lower  # above the last finite bound: only a floor is known
            return lower + (bound - lower) * (rank - below) / (cumulative - below)
        lower, below = (bound if math.isfinite(bound) else lower), cumulative
    return lower


def queue_saturation(points: Sequence[tuple[float, float]]) -> Saturation:
    """The saturation rule of the module docstring over (time, waiting) points."""
    points = [(t, w) for t, w in points if math.isfinite(w)]
    n = len(points)
    if n < MIN_SAMPLES:
        return Saturation(False, math.nan, math.nan, math.nan, n)
    quarter = max(1, n // 4)
    first = sum(w for _, w in points[:quarter]) / quarter
    last = sum(w for _, w in points[-quarter:]) / quarter
    slope = least_squares_slope(points)
    return Saturation(slope > 0 and last >= first + MIN_GROWTH, slope, first, last, n)


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float:
    mean_t = sum(t for t, _ in points) / len(points)
    mean_w = sum(w for _, w in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (w - mean_w) for t, w in points) / spread


def derived(readings: Mapping[str, Reading]) -> dict[str, float]:
    """Ratios of two readings: the prefix cache's hit ratio over the window (token-weighted)."""
    hits = readings.get("prefix_cache_hits")
    queries = readings.get("prefix_cache_queries")
    if hits is None or queries is None:
        return {}
    asked = queries.values["delta"]
    return {"prefix_cache.hit_ratio": hits.values["delta"] / asked if asked else math.nan}


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None
