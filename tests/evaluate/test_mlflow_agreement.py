"""Where ``baseline_comparison`` margins overlap MLflow's ``MetricThreshold``, MLflow decides.

``min_improvement`` is ``min_absolute_change`` and ``min_improvement_relative`` is
``min_relative_change``; every case below runs ``mlflow.validate_evaluation_results`` (MLflow's
own code, on real ``EvaluationResult`` objects) and our check, and the verdicts must be equal.
"""

from __future__ import annotations

import os

# Before MLflow is imported: importing it otherwise starts a telemetry call.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import itertools
import logging
import math
import random
from collections.abc import Iterator

import pytest
from mlflow.models import MetricThreshold
from mlflow.models.evaluation import EvaluationResult
from mlflow.models.evaluation.validation import (
    ModelValidationFailedException,
    validate_evaluation_results,
)

from gatekeeper.evaluate.baseline_comparison import BaselineComparison, evaluate
from gatekeeper.evaluate.interface import Status
from tests.evaluate.conftest import COMMON, evidence, version

# candidate, baseline, min_absolute_change, min_relative_change, greater_is_better
Case = tuple[float, float, float | None, float | None, bool]


@pytest.fixture(autouse=True)
def _quiet_mlflow() -> Iterator[None]:
    # MLflow warns on every zero-baseline relative comparison; thousands of those bury failures.
    logger = logging.getLogger("mlflow.models.evaluation.validation")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def mlflow_passes(case: Case) -> bool:
    candidate, baseline, absolute, relative, greater_is_better = case
    # MLflow's classes are untyped, hence the ignores.
    thresholds = {"m": MetricThreshold(  # type: ignore[no-untyped-call]
        min_absolute_change=absolute, min_relative_change=relative,
        greater_is_better=greater_is_better)}
    cand = EvaluationResult({"m": candidate}, {}, "cand")  # type: ignore[no-untyped-call]
    base = EvaluationResult({"m": baseline}, {}, "base")  # type: ignore[no-untyped-call]
    try:
        validate_evaluation_results(thresholds, cand, base)
    except ModelValidationFailedException:
        return False
    return True


def gatekeeper_passes(case: Case) -> bool:
    candidate, baseline, absolute, relative, greater_is_better = case
    check = BaselineComparison(**COMMON, kind="baseline_comparison", metric="m",
                               baseline="champion", greater_is_better=greater_is_better,
                               min_improvement=absolute, min_improvement_relative=relative)
    champion = version("3", run_id="r3", metrics={"m": baseline})
    status = evaluate(check, evidence({"m": candidate}, baselines={"champion": champion})).status
    assert status in (Status.PASS, Status.FAIL), case
    return status is Status.PASS


def disagreements(cases: list[Case]) -> list[tuple[Case, bool]]:
    return [(c, ours) for c in cases if (ours := gatekeeper_passes(c)) != mlflow_passes(c)]


# Named edge cases, with the verdict MLflow gives (asserted too, so this documents the rules).
EDGES: dict[str, tuple[Case, bool]] = {
    "absolute: equal to baseline + margin passes (>=)": ((0.75, 0.5, 0.25, None, True), True),
    "absolute: just below baseline + margin fails": ((0.7499, 0.5, 0.25, None, True), False),
    "absolute, lower is better: at baseline - margin": ((0.25, 0.5, 0.25, None, False), True),
    "absolute: float rounding of the bound decides": ((0.3, 0.2, 0.1, None, True), False),
    "absolute: candidate at the rounded bound": ((0.30000000000000004, 0.2, 0.1, None, True),
                                                 True),
    "relative: exactly the required fraction passes": ((0.75, 0.5, None, 0.5, True), True),
    "relative, negative baseline uses |baseline|": ((-1.0, -2.0, None, 0.5, True), True),
    "relative, negative baseline, too little": ((-1.5, -2.0, None, 0.5, True), False),
    "relative, zero baseline: 1e-10 better passes": ((1e-10, 0.0, None, 0.5, True), True),
    "relative, zero baseline: equal fails": ((0.0, 0.0, None, 0.5, True), False),
    "relative, zero baseline, lower is better": ((-1e-10, 0.0, None, 1.0, False), True),
    "relative, negative zero baseline": ((1e-10, -0.0, None, 0.5, True), True),
    "relative: equal values never pass": ((0.5, 0.5, None, 0.05, True), False),
    "both margins: relative one missed": ((0.8, 1.0, 0.1, 0.25, True), False),
    "both margins: both met": ((1.25, 1.0, 0.1, 0.25, True), True),
}


@pytest.mark.parametrize(("case", "expected"), EDGES.values(), ids=EDGES.keys())
def test_edge_cases_match_mlflow(case: Case, expected: bool) -> None:
    assert mlflow_passes(case) is expected
    assert gatekeeper_passes(case) is expected


VALUES = (-2.0, -1.0, -0.5, -1e-10, -0.0, 0.0, 1e-10, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0, 2.0)
ABSOLUTE = (None, 1e-10, 0.1, 0.2, 0.5, 1.0)
RELATIVE = (None, 0.05, 0.1, 0.5, 1.0)


def test_grid_matches_mlflow() -> None:
    cases = [(c, b, a, r, g) for c, b, a, r, g in itertools.product(
        VALUES, VALUES, ABSOLUTE, RELATIVE, (True, False)) if a is not None or r is not None]
    assert len(cases) == 13050
    assert disagreements(cases) == []


def boundary_cases(rng: random.Random) -> Iterator[Case]:
    """Candidates on, and one float step either side of, each margin's bound."""
    for _ in range(500):
        baseline = rng.choice([0.0, rng.uniform(-5, 5), rng.uniform(-1e-3, 1e-3)])
        absolute = rng.choice([None, rng.uniform(1e-6, 2)])
        relative = rng.choice([None, rng.uniform(0.0, 1.0)]) if absolute else rng.random()
        greater = rng.random() < 0.5
        sign = 1 if greater else -1
        bounds = [baseline + sign * absolute] if absolute else []
        bounds += [baseline + sign * relative * abs(baseline)] if relative is not None else []
        for bound in bounds:
            for candidate in (math.nextafter(bound, -math.inf), bound,
                              math.nextafter(bound, math.inf)):
                yield candidate, baseline, absolute, relative, greater


def random_cases(rng: random.Random) -> Iterator[Case]:
    for _ in range(3000):
        scale = rng.choice([1e-9, 1e-3, 1.0, 1e3])
        absolute = rng.choice([None, rng.uniform(1e-12, 1) * scale])
        relative = rng.choice([None, rng.uniform(0, 1)]) if absolute else rng.uniform(0, 1)
        yield (rng.uniform(-1, 1) * scale, rng.uniform(-1, 1) * scale, absolute, relative,
               rng.random() < 0.5)


def test_boundaries_match_mlflow() -> None:
    cases = list(boundary_cases(random.Random(20240611)))
    assert len(cases) > 1500
    assert disagreements(cases) == []


def test_random_cases_match_mlflow() -> None:
    cases = list(random_cases(random.Random(8785)))
    assert disagreements(cases) == []
