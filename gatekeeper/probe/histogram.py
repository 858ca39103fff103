"""A log-bucketed latency histogram with bounded relative error, mergeable and JSON-serialisable.

Hand-written (DDSketch-style buckets, ~60 lines) rather than ``hdrhistogram`` from PyPI: the
raw buckets serialise to plain JSON that any later run can merge, with no native extension.

Bucket ``i`` holds values in ``(gamma**(i-1), gamma**i]`` with
``gamma = (1 + accuracy) / (1 - accuracy)``; reporting a bucket by ``2 * gamma**i / (gamma + 1)``
is within ``accuracy`` (relative) of every value in it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ACCURACY = 0.01
# Latencies below a microsecond are noise for HTTP; they share the lowest bucket.
MIN_VALUE_S = 1e-6
PERCENTILE_METHOD = (
    "nearest rank (the value at rank ceil(q*N)) over log buckets with <=1% relative error; "
    "max is exact"
)


@dataclass
class Histogram:
    """Counts of non-negative values (seconds) in log buckets. Mutable while recording only."""

    accuracy: float = DEFAULT_ACCURACY
    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    minimum: float = math.inf
    maximum: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.accuracy < 1:
            raise ValueError(f"accuracy must be in (0, 1), got {self.accuracy}")
        self._log_gamma = math.log((1 + self.accuracy) / (1 - self.accuracy))

    def record(self, value: float) -> None:
        """Add one value; negative or non-finite values are a bug in the caller."""
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"cannot record {value}")
        index = self.index_of(value)
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def index_of(self, value: float) -> int:
        """The bucket that holds ``value``."""
        return math.ceil(math.log(max(value, MIN_VALUE_S)) / self._log_gamma)

    def bucket_value(self, index: int) -> float:
        """The value reported for bucket ``index``: within ``accuracy`` of all it holds."""
        gamma = math.exp(self._log_gamma)
        return 2 * gamma**index / (gamma + 1)

    def percentile(self, q: float) -> float:
        """The nearest-rank ``q``-quantile (``0 < q <= 1``), clamped to the exact min and max."""
        if not 0 < q <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {q}")
        if self.count == 0:
            return math.nan
        rank = math.ceil(q * self.count)
        if rank >= self.count:
            return self.maximum
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(max(self.bucket_value(index), self.minimum), self.maximum)
        return self.maximum  # unreachable: the counts sum to ``count``

    def merge(self, other: Histogram) -> Histogram:
        """A new histogram holding both sets of values; the accuracies must match."""
        if other.accuracy != self.accuracy:
            raise ValueError(f"cannot merge accuracy {other.accuracy} into {self.accuracy}")
        merged = Histogram(self.accuracy, dict(self.buckets), self.count, self.minimum,
                           self.maximum)
        for index, n in other.buckets.items():
            merged.buckets[index] = merged.buckets.get(index, 0) + n
        merged.count += other.count
        merged.minimum = min(merged.minimum, other.minimum)
        merged.maximum = max(merged.maximum, other.maximum)
        return merged

    def to_dict(self) -> dict[str, Any]:
        """The raw buckets, as JSON-ready data that ``from_dict`` reads back exactly."""
        return {"accuracy": self.accuracy, "count": self.count,
                "min": self.minimum if self.count else None, "max": self.maximum,
                "buckets": {str(i): n for i, n in sorted(self.buckets.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """Read what ``to_dict`` wrote."""
        buckets = {int(i): int(n) for i, n in data["buckets"].items()}
        minimum = math.inf if data["min"] is None else float(data["min"])
        return cls(float(data["accuracy"]), buckets, int(data["count"]), minimum,
                   float(data["max"]))

    @classmethod
    def of(cls, values: Iterable[float], accuracy: float = DEFAULT_ACCURACY) -> Histogram:
        """A histogram of ``values``."""
        histogram = cls(accuracy)
        for value in values:
            histogram.record(value)
        return histogram
