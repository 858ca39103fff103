"""``ab_comparison``: the candidate arm against the control arm of a live A/B split, from
Prometheus, so that "no significant regression" is a statistical statement.

Each arm is a set of label matchers (``arm="quantized"`` against ``arm="full"``). One measure is
compared per check:

- ``error_rate`` and ``kpi`` (a proportion such as conversion): Newcombe's hybrid score interval
  on the difference of the two proportions, and the pooled two-proportion z-test's p-value;
- ``p95`` / ``p99``: the difference of the histogram quantiles, with a conservative
  order-statistic interval widened to bucket edges (see :mod:`gatekeeper.common.stats`).

The check passes when the interval's worse end stays within ``max_regression`` (or
``max_regression_ms``): at the asked confidence the regression is no larger than allowed. An
arm with fewer than ``min_samples_per_arm`` samples is ``error``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.common.stats import (
    Bucket,
    Interval,
    histogram_quantile,
    newcombe_difference,
    normalise_buckets,
    quantile_difference_interval,
    two_proportion_z_test,
)
from gatekeeper.evaluate.interface import CheckKind, Outcome, Status
from gatekeeper.evaluate.pilot_slo import (
    Matchers,
    PrometheusCheck,
    Unreadable,
    judge_answers,
    pct_text,
    single_value,
    usable,
)
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, ExternalQuery
from gatekeeper.evidence.prometheus import (
    PromAnswer,
    bucket_counts,
    buckets_in_window,
    total_in_window,
)
from gatekeeper.load.strict import Strict

ARMS = ("candidate", "control")
RATE_MEASURES = ("error_rate", "kpi")
LATENCY_MEASURES = ("p95", "p99")


class AbKpi(Strict):
    """A proportion such as conversion: successes over trials, per arm."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Named in messages, "
                      "e.g. conversion.")
    numerator: str = Field(min_length=1, description="PromQL counting successes; $selector "
                           "(the arm's matchers) and $window are filled in.")
    denominator: str = Field(min_length=1, description="PromQL counting trials; $selector and "
                             "$window are filled in.")
    greater_is_better: bool = Field(default=True, description="False when a lower share is "
                                    "better (e.g. churn).")


class AbComparison(PrometheusCheck):
    kind: Literal["ab_comparison"]
    candidate: Matchers = Field(min_length=1, description='Label matchers of the '
                           'candidate arm, e.g. arm="quantized".')
    control: Matchers = Field(min_length=1, description='Label matchers of the '
                         'control arm, e.g. arm="full".')
    measure: Literal["error_rate", "kpi", "p95", "p99"] = Field(
        description="What is compared: error_rate, a kpi proportion, or a latency percentile.")
    kpi: AbKpi | None = Field(default=None, description="The proportion, for measure: kpi.")
    max_regression: float | None = Field(
        default=None, ge=0, le=1, description="For error_rate and kpi: largest allowed "
        "worsening of the proportion, absolute (0.005: half a percentage point).")
    max_regression_ms: float | None = Field(
        default=None, ge=0, description="For p95 and p99: largest allowed increase, in ms.")
    confidence: float = Field(default=0.95, ge=0.5, lt=1,
                              description="Confidence level of the interval.")
    min_samples_per_arm: int = Field(ge=1, description="Fewer samples in either arm is an "
                                     "error: requests, histogram observations or kpi trials.")

    @model_validator(mode="after")
    def _check_measure(self) -> Self:
        rate = self.measure in RATE_MEASURES
        margin, other = (("max_regression", "max_regression_ms") if rate
                         else ("max_regression_ms", "max_regression"))
        if getattr(self, margin) is None:
            raise ValueError(f"measure {self.measure} needs '{margin}'")
        if getattr(self, other) is not None:
            raise ValueError(f"'{other}' does not apply to measure {self.measure}: use "
                             f"'{margin}'")
        if (self.measure == "kpi") != (self.kpi is not None):
            raise ValueError("'kpi' is needed by, and only used with, measure kpi")
        self._check_metrics()
        return self

    def _check_metrics(self) -> None:
        if self.measure in LATENCY_MEASURES and self.histogram is None:
            raise ValueError(f"measure {self.measure} needs 'histogram'")
        if self.measure == "error_rate":
            if self.requests_metric() is None:
                raise ValueError("measure error_rate needs 'requests' or 'histogram'")
            if not (self.errors or self.errors_selector):
                raise ValueError("measure error_rate needs 'errors' or 'errors_selector' "
                                 "(which requests failed)")

    def arm(self, arm: str) -> str:
        return self.candidate if arm == "candidate" else self.control

    def lower_is_better(self) -> bool:
        return not (self.kpi.greater_is_better if self.kpi else False)

    def queries(self) -> dict[str, ExternalQuery]:
        """Per arm: successes and trials (rates) or bucket counts (latency), by name."""
        found: dict[str, ExternalQuery] = {}
        for arm in ARMS:
            for part, promql in self.arm_promql(arm).items():
                found[f"{arm}.{part}"] = self.prom(f"{arm}.{part}", promql)
        return found

    def arm_promql(self, arm: str) -> dict[str, str]:
        selector = ", ".join(s for s in (self.selector.strip(), self.arm(arm).strip()) if s)
        if self.measure in LATENCY_MEASURES:
            assert self.histogram is not None  # the validator saw to it
            return {"buckets": buckets_in_window(self.histogram, (selector,), self.window)}
        if self.kpi is not None:
            return {"successes": self.templated(self.kpi.numerator, selector),
                    "trials": self.templated(self.kpi.denominator, selector)}
        requests, errors = self.requests_metric(), self.errors_metric()
        assert requests is not None and errors is not None  # the validator saw to it
        return {"successes": total_in_window(errors, (selector, self.errors_selector),
                                             self.window),
                "trials": total_in_window(requests, (selector,), self.window)}

    def threshold(self) -> dict[str, Any]:
        margin = ({"max_regression": self.max_regression} if self.max_regression is not None
                  else {"max_regression_ms": self.max_regression_ms})
        return {"measure": self.measure, **margin, "confidence": self.confidence,
                "min_samples_per_arm": self.min_samples_per_arm,
                "lower_is_better": self.lower_is_better(), "candidate": self.candidate,
                "control": self.control, **self.window_threshold()}


@dataclass(frozen=True)
class Comparison:
    """Candidate against control: the two values, their difference and its interval."""

    label: str
    candidate: float
    control: float
    interval: Interval
    details: Mapping[str, Any]  # method-specific figures for ``observed``

    @property
    def diff(self) -> float:
        return self.candidate - self.control


def require_samples(spec: AbComparison, arm: str, samples: float) -> None:
    if samples < spec.min_samples_per_arm:
        raise Unreadable(f"too few samples in the {arm} arm ({spec.arm(arm)}): "
                         f"{samples:.6g} < {spec.min_samples_per_arm}")


def arm_counts(spec: AbComparison, answers: Mapping[str, PromAnswer], arm: str
               ) -> tuple[float, float]:
    trials = usable(single_value(answers[f"{arm}.trials"]), f"the {arm} arm's trials")
    require_samples(spec, arm, trials)
    successes = usable(single_value(answers[f"{arm}.successes"]), f"the {arm} arm's count")
    if not 0 <= successes <= trials:
        raise Unreadable(f"the {arm} arm counts {successes:.6g} of {trials:.6g}: not a "
                         "proportion (the numerator must count a subset of the denominator)")
    return successes, trials


def compare_rates(spec: AbComparison, answers: Mapping[str, PromAnswer]) -> Comparison:
    (x1, n1), (x2, n2) = (arm_counts(spec, answers, arm) for arm in ARMS)
    test = two_proportion_z_test(x1, n1, x2, n2)
    interval = newcombe_difference(x1, n1, x2, n2, spec.confidence)
    details = {"z": test.z, "p_value": test.p_value, "method": "newcombe-wilson",
               "candidate_counts": [x1, n1], "control_counts": [x2, n2]}
    label = spec.kpi.name if spec.kpi else "error rate"
    return Comparison(label, x1 / n1, x2 / n2, interval, details)


def arm_buckets(spec: AbComparison, answers: Mapping[str, PromAnswer], arm: str
                ) -> list[Bucket]:
    """The arm's histogram, checked for its +Inf bucket and enough observations."""
    try:
        counted = bucket_counts(answers[f"{arm}.buckets"])
    except ValueError as exc:
        raise Unreadable(f"the {arm} arm's histogram {spec.histogram}: {exc}") from None
    # Checked before normalising: that takes a running maximum, which would quietly read a
    # NaN or negative count as the bucket below's.
    for upper, count in counted:
        usable(count, f"the {arm} arm's bucket le={upper:g} count")
    try:
        buckets = normalise_buckets(counted)
    except ValueError as exc:
        raise Unreadable(f"the {arm} arm's histogram {spec.histogram}: {exc}") from None
    require_samples(spec, arm, buckets[-1][1])
    return buckets


def compare_latency(spec: AbComparison, answers: Mapping[str, PromAnswer]) -> Comparison:
    q = int(spec.measure[1:]) / 100  # "p99" -> 0.99
    scale = spec.scale_to_ms()
    cand, ctrl = (arm_buckets(spec, answers, arm) for arm in ARMS)
    values = [usable(histogram_quantile(q, counts) * scale, f"the {arm} arm's {spec.measure}")
              for arm, counts in zip(ARMS, (cand, ctrl), strict=True)]
    raw = quantile_difference_interval(q, cand, ctrl, spec.confidence)
    details = {"method": "order-statistic, bucket edges, bonferroni",
               "samples": [cand[-1][1], ctrl[-1][1]]}
    return Comparison(spec.measure, values[0], values[1],
                      Interval(raw.low * scale, raw.high * scale), details)


def worse_end(spec: AbComparison, comparison: Comparison) -> tuple[float, float]:
    """The interval's end on the side of a regression, and the allowed limit there."""
    if spec.measure in LATENCY_MEASURES:
        assert spec.max_regression_ms is not None
        return comparison.interval.high, spec.max_regression_ms
    assert spec.max_regression is not None
    if spec.lower_is_better():
        return comparison.interval.high, spec.max_regression
    return comparison.interval.low, -spec.max_regression


def describe(spec: AbComparison, comparison: Comparison, passed: bool, limit: float) -> str:
    """``error rate 1.2% vs 0.75%: diff +0.45 pp (95% CI -0.17..+1.10 pp) > +0.50 pp``."""
    latency = spec.measure in LATENCY_MEASURES
    value, delta, unit = (_ms, _delta_ms, "ms") if latency else (pct_text, _delta_pp, "pp")
    ci = comparison.interval
    op = {(True, True): "<=", (True, False): ">", (False, True): ">=", (False, False): "<"}
    return (f"{comparison.label} {value(comparison.candidate)} vs "
            f"{value(comparison.control)}: diff {delta(comparison.diff)} {unit} "
            f"({spec.confidence * 100:g}% CI {delta(ci.low)}..{delta(ci.high)} {unit}) "
            f"{op[(spec.lower_is_better(), passed)]} {delta(limit)} {unit}")


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _delta_ms(value: float) -> str:
    return f"{value:+.1f}" if math.isfinite(value) else f"{value:+}"  # "+inf"


def _delta_pp(value: float) -> str:
    return f"{value * 100:+.2f}"


def plain(value: float) -> float | None:
    """JSON has no infinity: an unbounded end is null."""
    return value if math.isfinite(value) else None


def judge(spec: AbComparison, answers: Mapping[str, PromAnswer]) -> Outcome:
    rates = spec.measure in RATE_MEASURES
    comparison = (compare_rates if rates else compare_latency)(spec, answers)
    end, limit = worse_end(spec, comparison)
    passed = end <= limit if spec.lower_is_better() else end >= limit
    observed = {"candidate": comparison.candidate, "control": comparison.control,
                "diff": comparison.diff, "ci_low": plain(comparison.interval.low),
                "ci_high": plain(comparison.interval.high), **comparison.details,
                "evaluated_at": answers["candidate." + ("trials" if rates else "buckets")]
                .evaluated_at()}
    return Outcome(Status.PASS if passed else Status.FAIL,
                   describe(spec, comparison, passed, limit), observed=observed)


def evaluate(spec: AbComparison, evidence: Evidence) -> Outcome:
    return judge_answers(spec.queries(), evidence, lambda found: judge(spec, found),
                         spec.threshold())


def needs(spec: AbComparison) -> EvidenceRequest:
    return EvidenceRequest(external=frozenset(spec.queries().values()))


KIND = CheckKind(spec=AbComparison, evaluate=evaluate, needs=needs,
                 summary="Candidate arm against control arm of a live A/B split, with a "
                 "confidence interval on the difference.")
