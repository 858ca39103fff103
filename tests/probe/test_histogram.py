from __future__ import annotations

import json
import math
import random

import pytest

from gatekeeper.probe.histogram import Histogram


def exact_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


def test_percentiles_are_within_the_relative_error_bound() -> None:
    rng = random.Random(1)
    values = [rng.lognormvariate(-5, 1.5) for _ in range(20_000)]
    histogram = Histogram.of(values)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        assert histogram.percentile(q) == pytest.approx(exact_percentile(values, q), rel=0.01)
    assert histogram.maximum == max(values)
    assert histogram.percentile(1.0) == max(values)


def test_merge_is_the_union() -> None:
    rng = random.Random(2)
    first = [rng.uniform(0.001, 0.5) for _ in range(1000)]
    second = [rng.uniform(0.1, 2.0) for _ in range(500)]
    merged = Histogram.of(first).merge(Histogram.of(second))
    assert merged.to_dict() == Histogram.of(first + second).to_dict()


def test_json_round_trip_is_exact() -> None:
    histogram = Histogram.of([0.005, 0.005, 0.2, 0.0])
    data = json.loads(json.dumps(histogram.to_dict()))
    assert Histogram.from_dict(data).to_dict() == histogram.to_dict()
    assert Histogram.from_dict(data).percentile(0.5) == pytest.approx(0.005, rel=0.01)


def test_empty_histogram() -> None:
    empty = Histogram()
    assert math.isnan(empty.percentile(0.99))
    assert Histogram.from_dict(empty.to_dict()).count == 0


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="cannot record -1"):
        Histogram().record(-1)
    with pytest.raises(ValueError, match=r"cannot merge accuracy 0\.02 into 0\.01"):
        Histogram().merge(Histogram(0.02))
