from __future__ import annotations

import itertools

import pytest

from gatekeeper.probe import schedule


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
