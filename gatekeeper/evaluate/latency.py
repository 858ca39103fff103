"""``latency``: P95 and P99 latency of one endpoint type, from metrics logged on a run.

Each percentile that has a limit is read from ``metric_template`` (by default
``latency.{endpoint}.p{percentile}_ms``, as ``gatekeeper probe`` logs them) and fails above its
limit, warns above its warning limit. The check reports the worse of the two; a missing,
non-finite or negative value is ``error`` (a negative latency is a broken measurement, and it
would otherwise pass any limit).

``source: run`` reads the version's source run; ``source: probe`` the probe run linked to the
version, which must have held its target rate. With ``min_samples``, fewer measured samples
than that (metric ``latency.{endpoint}.samples``) is ``error``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from gatekeeper.common.values import UnusableValue, non_negative
from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status, missing
from gatekeeper.evidence.interface import PROBE_HELD_METRIC, Evidence, RunMetrics

PERCENTILES = (95, 99)
TEMPLATE_FIELDS = frozenset({"endpoint", "percentile"})

# Worst first: the check reports the worst state of its percentiles.
SEVERITY = (Status.ERROR, Status.FAIL, Status.WARN, Status.PASS)
SOURCE_HELP = ("Which run holds the metrics: 'run', the version's source run, or 'probe', the "
               "run of its latest `gatekeeper probe` (error unless it held its target rate).")


def _limit(what: str) -> Any:
    """An optional limit in ms: positive and finite (a NaN limit would never fail)."""
    return Field(default=None, gt=0, allow_inf_nan=False, description=what)


class Latency(CheckSpecBase):
    kind: Literal["latency"]
    endpoint: str = Field(min_length=1, description="Endpoint type, e.g. predict; fills "
                          "{endpoint} in metric_template.")
    p95_ms: float | None = _limit("Fail when P95 latency is above this, in ms.")
    p99_ms: float | None = _limit("Fail when P99 latency is above this, in ms.")
    warn_p95_ms: float | None = _limit("Warn when P95 latency is above this, in ms "
                                       "(at or below p95_ms).")
    warn_p99_ms: float | None = _limit("Warn when P99 latency is above this, in ms "
                                       "(at or below p99_ms).")
    metric_template: str = Field(
        default="latency.{endpoint}.p{percentile}_ms",
        description="Name of the run metric holding one percentile, in ms; {endpoint} and "
        "{percentile} (95 or 99) are filled in.")
    source: Literal["run", "probe"] = Field(default="run", description=SOURCE_HELP)
    min_samples: int | None = Field(
        default=None, ge=1, description="Error when the run measured fewer successful requests "
        "of this endpoint type (metric latency.{endpoint}.samples) than this.")

    @field_validator("metric_template")
    @classmethod
    def _check_template(cls, template: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(template)
                     if name is not None}
        except ValueError as exc:
            raise ValueError(f"not a valid template: {exc}") from exc
        if "percentile" not in names:
            raise ValueError("must contain {percentile}, or both percentiles read one metric")
        if names - TEMPLATE_FIELDS:
            unknown = ", ".join(sorted(f"{{{n}}}" for n in names - TEMPLATE_FIELDS))
            raise ValueError(f"unknown placeholder {unknown}: use {{endpoint}} and {{percentile}}")
        try:  # a bad format spec, e.g. {percentile:x.y}, only shows when formatting
            template.format(endpoint="predict", percentile=95)
        except ValueError as exc:
            raise ValueError(f"not a valid template: {exc}") from exc
        return template

    @model_validator(mode="after")
    def _check_limits(self) -> Self:
        if self.p95_ms is None and self.p99_ms is None:
            raise ValueError("set at least one of 'p95_ms' or 'p99_ms'")
        for p in PERCENTILES:
            fail, warn = self.limit(p), self.warn_limit(p)
            if warn is not None and (fail is None or warn > fail):
                raise ValueError(f"'warn_p{p}_ms' must be at or below 'p{p}_ms'")
        return self

    def limit(self, percentile: int) -> float | None:
        return {95: self.p95_ms, 99: self.p99_ms}[percentile]

    def warn_limit(self, percentile: int) -> float | None:
        return {95: self.warn_p95_ms, 99: self.warn_p99_ms}[percentile]

    def metric(self, percentile: int) -> str:
        return self.metric_template.format(endpoint=self.endpoint, percentile=percentile)

    def samples_metric(self) -> str:
        return f"latency.{self.endpoint}.samples"

    def threshold(self) -> dict[str, float]:
        pairs = {"p95_ms": self.p95_ms, "p99_ms": self.p99_ms, "warn_p95_ms": self.warn_p95_ms,
                 "warn_p99_ms": self.warn_p99_ms, "min_samples": self.min_samples}
        return {k: v for k, v in pairs.items() if v is not None}


@dataclass(frozen=True)
class Reading:
    """One percentile judged against its limits."""

    percentile: int
    status: Status
    text: str
    value: float | None
    ref: str


def judge(percentile: int, value: float, fail: float, warn: float | None) -> tuple[Status, str]:
    """A usable (finite, non-negative) value against the limits."""
    shown = f"p{percentile} = {value:g} ms"
    if value > fail:
        return Status.FAIL, f"{shown} > {fail:g} ms"
    if warn is not None and value > warn:
        return Status.WARN, f"{shown} > warning {warn:g} ms (limit {fail:g} ms)"
    return Status.PASS, f"{shown} <= {fail:g} ms"


def read(spec: Latency, run: RunMetrics, percentile: int, fail: float) -> Reading:
    name = spec.metric(percentile)
    ref = run.ref(name)
    if name not in run.metrics:
        found = missing(f"metric '{name}'", run.label, ref)
        return Reading(percentile, found.status, found.message, None, ref)
    value = run.metrics[name]
    try:
        usable = non_negative(f"p{percentile}", value)
    except UnusableValue as exc:
        return Reading(percentile, Status.ERROR, str(exc), value, ref)
    status, text = judge(percentile, usable, fail, spec.warn_limit(percentile))
    return Reading(percentile, status, text, value, ref)


def too_few_samples(spec: Latency, run: RunMetrics) -> str | None:
    """Why the run measured too few samples to judge, or None (also when there is no minimum)."""
    if spec.min_samples is None:
        return None
    name = spec.samples_metric()
    if name not in run.metrics:
        return f"metric '{name}' not found on {run.label}"
    try:
        count = non_negative(f"metric '{name}'", run.metrics[name])
    except UnusableValue as exc:
        return f"{exc} ({run.label})"
    if count < spec.min_samples:
        return f"{count:g} samples < min_samples {spec.min_samples} ({run.label})"
    return None


def refs(spec: Latency, run: RunMetrics, readings: list[Reading]) -> dict[str, str]:
    """What the outcome cites: each percentile read, and what made the run usable."""
    cited = {f"p{r.percentile}_ms": r.ref for r in readings}
    if run.probe:
        cited["held_target_rate"] = run.ref(PROBE_HELD_METRIC)
    if spec.min_samples is not None:
        cited["samples"] = run.ref(spec.samples_metric())
    return cited


def evaluate(spec: Latency, evidence: Evidence) -> Outcome:
    cand = evidence.candidate
    run = cand.probe_run() if spec.source == "probe" else cand.source_run()
    readings = [read(spec, run, p, fail) for p in PERCENTILES
                if (fail := spec.limit(p)) is not None]
    status = min((r.status for r in readings), key=SEVERITY.index)
    message = ", ".join(r.text for r in readings)
    if problem := run.unusable() or too_few_samples(spec, run):
        status, message = Status.ERROR, problem
    return Outcome(
        status, f"{spec.endpoint}: {message}",
        observed={f"p{r.percentile}_ms": r.value for r in readings},
        threshold=spec.threshold(),
        evidence=refs(spec, run, readings),
    )


KIND = CheckKind(spec=Latency, evaluate=evaluate,
                 summary="P95/P99 latency of one endpoint type, from a run's or the "
                 "probe's logged metrics.")
