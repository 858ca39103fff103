"""``metric_threshold``: a value of the candidate's source run against fixed bounds.

Reads a metric, param or tag; fails outside ``[min, max]``, warns outside ``[warn_min, warn_max]``.
A missing key, or a value that is not a finite number (a param/tag that does not parse, NaN,
infinity), is ``error``; text that does not parse is described, never echoed. ``source: probe``
reads a metric of the probe run linked to the version instead (error unless it held its target
rate), the same ``source: probe`` as in ``latency`` and ``cost``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Literal, Self

from pydantic import Field, model_validator

from gatekeeper.common.values import UnusableValue, number
from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status, missing
from gatekeeper.evaluate.probe_runs import (
    STEADY,
    check_profile,
    pick_run,
    profile_field,
    with_run,
)
from gatekeeper.evidence.interface import PROBE_HELD_METRIC, Evidence


class Section(enum.StrEnum):
    METRICS = "metrics"
    PARAMS = "params"
    TAGS = "tags"
    PROBE = "probe"  # a metric of the linked probe run


class Bounds(CheckSpecBase):
    """A closed range with an optional, narrower warning range inside it."""

    min: float | None = Field(default=None, description="Fail below this value.")
    max: float | None = Field(default=None, description="Fail above this value.")
    warn_min: float | None = Field(default=None, description="Warn below this value.")
    warn_max: float | None = Field(default=None, description="Warn above this value.")

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("set at least one of 'min' or 'max'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        if self.warn_min is not None and (self.min is None or self.warn_min < self.min):
            raise ValueError("'warn_min' must be at or above 'min'")
        if self.warn_max is not None and (self.max is None or self.warn_max > self.max):
            raise ValueError("'warn_max' must be at or below 'max'")
        return self

    def threshold(self) -> dict[str, float]:
        pairs = {"min": self.min, "max": self.max, "warn_min": self.warn_min,
                 "warn_max": self.warn_max}
        return {k: v for k, v in pairs.items() if v is not None}

    def judge(self, value: float) -> Status:
        """A finite value (see :func:`gatekeeper.common.values.number`) against the bounds."""
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            return Status.FAIL
        if (self.warn_min is not None and value < self.warn_min) or (
            self.warn_max is not None and value > self.warn_max
        ):
            return Status.WARN
        return Status.PASS


class MetricThreshold(Bounds):
    ADDED_LATER = frozenset({"profile"})
    kind: Literal["metric_threshold"]
    source: Section = Field(
        default=Section.METRICS, description="Where the key is read: the source run's metrics, "
        "params or tags, or the metrics of the run of the version's latest `gatekeeper probe` "
        "(error unless it held its target rate).")
    key: str = Field(min_length=1, description="Metric, param or tag name on the source run "
                     "(a metric name on the probe run with source: probe).")
    profile: str | None = profile_field(STEADY)

    @model_validator(mode="after")
    def _check_profile(self) -> Self:
        check_profile("probe" if self.source is Section.PROBE else "run", self.profile)
        return self


def describe(status: Status, key: str, value: float, bounds: Bounds) -> str:
    """One readable line: the value, and the bound it met or crossed."""
    limits = ", ".join(f"{k} {v:g}" for k, v in bounds.threshold().items())
    verdict = {Status.PASS: "within", Status.WARN: "outside the warning range of",
               Status.FAIL: "outside"}[status]
    return f"{key} = {value:g}, {verdict} {limits}"


def evaluate(spec: MetricThreshold, evidence: Evidence) -> Outcome:
    if spec.source is Section.PROBE:
        return evaluate_probe(spec, evidence)
    cand = evidence.candidate
    values: Mapping[str, object] = {Section.METRICS: cand.metrics, Section.PARAMS: cand.params,
                                    Section.TAGS: cand.run_tags}[spec.source]
    ref = cand.ref(spec.source.value, spec.key)
    what = f"{spec.source.value[:-1]} '{spec.key}'"
    if spec.key not in values:
        return missing(what, f"run {cand.run_id}", ref)
    return judge_value(spec, what, values[spec.key], ref)


def evaluate_probe(spec: MetricThreshold, evidence: Evidence) -> Outcome:
    """The key as a metric of the probe run ``profile`` picks, which must be usable."""
    run = pick_run(evidence, "probe", spec.profile, STEADY)
    ref = run.ref(spec.key)
    if problem := run.unusable():
        return Outcome(Status.ERROR, problem, threshold=spec.threshold(),
                       evidence={"unusable": run.ref(PROBE_HELD_METRIC)})
    if spec.key not in run.metrics:
        return missing(f"metric '{spec.key}'", run.label, ref)
    return with_run(judge_value(spec, f"metric '{spec.key}'", run.metrics[spec.key], ref), run)


def judge_value(spec: MetricThreshold, what: str, raw: object, ref: str) -> Outcome:
    """The value against the bounds; a value that is not a finite number is ``error``."""
    try:
        value = number(what, raw)
    except UnusableValue as exc:
        return Outcome(Status.ERROR, str(exc), threshold=spec.threshold(),
                       evidence={"value": ref})
    status = spec.judge(value)
    return Outcome(status, describe(status, spec.key, value, spec), observed=value,
                   threshold=spec.threshold(), evidence={"value": ref})


KIND = CheckKind(spec=MetricThreshold, evaluate=evaluate,
                 summary="A metric, param or tag of the source run (or a probe-run metric) "
                 "within fixed bounds.")
