from __future__ import annotations

import itertools

import pytest

from gatekeeper.probe import schedule
from gatekeeper.probe.requests_mix import MixRequest, Planned, RequestMix


def test_fixed_rate_is_evenly_spaced() -> None:
    offsets = list(schedule.fixed_rate(100, 2.0))
    assert len(offsets) == 200
    assert offsets[:3] == [0.0, 0.01, 0.02]
    assert offsets[-1] < 2.0


def test_poisson_mean_rate_and_determinism() -> None:
    offsets = list(schedule.poisson(1000, 10.0, seed=7))
    assert offsets == list(schedule.poisson(1000, 10.0, seed=7))
    assert offsets != list(schedule.poisson(1000, 10.0, seed=8))
    # 10,000 expected arrivals: the standard deviation of the count is 100.
    assert 9600 <= len(offsets) <= 10400
    assert offsets == sorted(offsets)
    assert offsets[0] > 0 and offsets[-1] < 10.0


def test_ramp_count_is_the_area_under_the_rate_line() -> None:
    offsets = list(schedule.ramp(100, 300, 4.0))
    assert len(offsets) == pytest.approx(800, abs=1)
    first_half = sum(1 for t in offsets if t < 2.0)
    assert first_half == pytest.approx(300, abs=1)  # (100 + 200) / 2 * 2 s


def test_ramp_from_zero_and_downwards() -> None:
    assert list(itertools.islice(schedule.ramp(0, 100, 2.0), 1)) == [0.0]
    assert len(list(schedule.ramp(0, 100, 2.0))) == pytest.approx(100, abs=1)
    assert len(list(schedule.ramp(300, 100, 1.0))) == pytest.approx(200, abs=1)


def test_steps_run_phases_back_to_back_with_pauses() -> None:
    offsets = list(schedule.steps([(1.0, 10), (0.5, 0), (0.1, 100)]))
    assert len(offsets) == 20
    assert all(t < 1.0 for t in offsets[:10])
    assert offsets[10] == pytest.approx(1.5)
    assert offsets[-1] == pytest.approx(1.59)


def test_replay_sorts_and_shifts_to_zero() -> None:
    assert list(schedule.replay([105.5, 100.0, 101.0])) == [0.0, 1.0, 5.5]
    assert list(schedule.replay([])) == []


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_rates_and_durations_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="must be a positive number"):
        list(schedule.fixed_rate(bad, 1.0))
    with pytest.raises(ValueError, match="must be a positive number"):
        list(schedule.poisson(10, bad, seed=1))


def planned(offsets: list[float]) -> list[Planned]:
    requests = [MixRequest(f"e{i}", "GET", f"/{i}", None) for i in range(len(offsets))]
    return [Planned(t, r) for t, r in zip(offsets, requests, strict=True)]


def test_recorded_rate_is_one_over_the_mean_gap() -> None:
    assert schedule.recorded_rate([5.0, 5.1, 5.4, 6.0]) == pytest.approx(3.0)  # 3 gaps in 1 s
    assert schedule.recorded_rate([2.0]) is None
    assert schedule.recorded_rate([2.0, 2.0, 2.0]) is None


def test_time_scaled_replay_has_the_asked_mean_rate_and_keeps_order_and_gap_shape() -> None:
    # Bursts and pauses: gaps 0.01, 0.09, 0.01, 0.09 -> recorded 20/s.
    original = planned([0.0, 0.01, 0.1, 0.11, 0.2])
    scaled = list(schedule.time_scaled(original, 80.0))
    assert [p.request for p in scaled] == [p.request for p in original]  # same order
    assert schedule.recorded_rate([p.offset_s for p in scaled]) == pytest.approx(80.0)
    gaps = [b.offset_s - a.offset_s for a, b in itertools.pairwise(scaled)]
    assert gaps == pytest.approx([0.0025, 0.0225, 0.0025, 0.0225])  # 1:9 kept, 4x faster
    slower = list(schedule.time_scaled(original, 10.0))
    assert [p.offset_s for p in slower] == pytest.approx([0.0, 0.02, 0.2, 0.22, 0.4])


def test_a_spec_with_a_replay_rate_plans_the_scaled_trace() -> None:
    mix = RequestMix(tuple(
        MixRequest("e", "GET", "/", None, timestamp=100 + t) for t in (0, 1, 3, 4)))
    spec = schedule.ScheduleSpec("replay", 2.001, rate=1.5)
    assert [p.offset_s for p in spec.plan(mix, seed=0)] == pytest.approx([0, 0.5, 1.5, 2.0])
    assert spec.describe() == "replay of recorded arrivals time-scaled to 1.5/s (for 2.001 s)"
    with pytest.raises(ValueError, match="share one instant"):
        list(schedule.time_scaled(planned([1.0, 1.0]), 5.0))
