"""A run second by second: the series the percentile plot draws, also saved in result.json."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gatekeeper.probe.engine import Sample, StatusClass
from gatekeeper.probe.histogram import Histogram


@dataclass(frozen=True)
class Second:
    """One one-second window of a run, by intended send time (sent: by actual send time)."""

    second: int
    intended: int
    sent: int
    ok: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Timeline:
    """Per-second windows of a whole run, warm-up included (``warmup_s`` marks its end)."""

    seconds: tuple[Second, ...]
    warmup_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"warmup_s": self.warmup_s, "window_s": 1,
                "seconds": [asdict(s) for s in self.seconds]}


def build_timeline(samples: Sequence[Sample], warmup_s: float) -> Timeline:
    """Group every sample into one-second windows of the run."""
    by_intended: dict[int, list[Sample]] = defaultdict(list)
    sent: dict[int, int] = defaultdict(int)
    for sample in samples:
        by_intended[int(sample.intended_s)].append(sample)
        sent[int(sample.sent_s)] += 1
    last = max([*by_intended, *sent], default=-1)
    return Timeline(tuple(window(n, by_intended.get(n, []), sent.get(n, 0))
                          for n in range(last + 1)), warmup_s)


def window(second: int, samples: Sequence[Sample], sent: int) -> Second:
    """One window: counts, and latency percentiles of its ``ok`` answers (None without any)."""
    ok = [s.latency_s for s in samples if s.status is StatusClass.OK]
    histogram = Histogram.of(ok)
    marks = [histogram.percentile(q) * 1000 if ok else None for q in (0.5, 0.95, 0.99)]
    return Second(second, len(samples), sent, len(ok), len(samples) - len(ok), *marks)


def no_timeline(warmup_s: float) -> Timeline:
    """The timeline of a mode that keeps no per-request samples."""
    return Timeline((), warmup_s)
