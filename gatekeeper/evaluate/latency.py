"""``latency``: P95 and P99 latency of one endpoint type, from metrics logged on a run.

Each percentile that has a limit is read from ``metric_template`` (by default
``latency.{endpoint}.p{percentile}_ms``, as ``gatekeeper probe`` logs them) and fails above its
limit, warns above its warning limit. The check reports the worse of the two; a missing,
non-finite or negative value is ``error`` (a negative latency is a broken measurement, and it
would otherwise pass any limit).

``source: run`` reads the version's source run; ``source: probe`` a probe run linked to the
version (``profile``, default ``steady``: see :mod:`gatekeeper.evaluate.probe_runs`), which
must be usable evidence. With ``min_samples``, fewer measured samples than that (metric
``latency.{endpoint}.samples``) is ``error``.

With ``at_rps``, the limits hold at that rate: evidence measured at a lower offered rate
(metric ``target.{endpoint}_rps``, below ``RATE_SHARE`` of ``at_rps``) fails, whatever its
latencies. ``sla: NAME`` takes ``p95_ms``, ``p99_ms`` and ``at_rps`` from the playbook's SLA
for endpoint NAME (filled in when the playbook is loaded, so they are part of the milestone's
digest): "P99 under 80 ms at 200/s" is one check.

``metric`` picks what the percentiles are of (an LLM run's, see docs/llm.md): ``e2e`` (the
default: ``latency.{endpoint}.p{percentile}_ms``), ``ttft``, ``tpot``, ``itl`` or ``ntpot``
(``{metric}.{endpoint}.p{percentile}_ms``). ``min_goodput_rps`` fails when fewer requests per
second met every SLO of the run (metric ``goodput.{endpoint}_rps``; failures are misses).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from gatekeeper.common.values import UnusableValue, non_negative
from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status, missing
from gatekeeper.evaluate.probe_runs import (
    STEADY,
    check_profile,
    pick_run,
    profile_field,
    run_observed,
    run_refs,
)
from gatekeeper.evidence.interface import Evidence, RunMetrics

PERCENTILES = (95, 99)
#: What the percentiles are of, and the prefix of their metric names.
METRIC_PREFIXES = {"e2e": "latency", "ttft": "ttft", "tpot": "tpot", "itl": "itl",
                   "ntpot": "ntpot"}
DEFAULT_TEMPLATE = "latency.{endpoint}.p{percentile}_ms"
TEMPLATE_FIELDS = frozenset({"endpoint", "percentile"})
#: Evidence offered at least this share of ``at_rps`` counts as measured at that rate: a
#: Poisson schedule or a weighted mix offers a little more or less than asked, never 10% less.
RATE_SHARE = 0.95

# Worst first: the check reports the worst state of its percentiles.
SEVERITY = (Status.ERROR, Status.FAIL, Status.WARN, Status.PASS)
SOURCE_HELP = ("Which run holds the metrics: 'run', the version's source run, or 'probe', the "
               "run of its latest `gatekeeper probe` (error unless it held its target rate).")


def _limit(what: str) -> Any:
    """An optional limit in ms: positive and finite (a NaN limit would never fail)."""
    return Field(default=None, gt=0, allow_inf_nan=False, description=what)


class Latency(CheckSpecBase):
    ADDED_LATER = frozenset({"sla", "at_rps", "profile", "metric", "min_goodput_rps"})
    kind: Literal["latency"]
    endpoint: str = Field(default="", description="Endpoint type, e.g. predict; fills "
                          "{endpoint} in metric_template. Left out with `sla`: the SLA's name.")
    sla: str | None = Field(
        default=None, min_length=1, description="Endpoint of the playbook's `sla` whose "
        "p95_ms, p99_ms and at_rps this check holds (then leave those three out).")
    at_rps: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="The limits hold at this rate, "
        "requests/s: evidence measured at a lower offered rate (metric "
        "target.{endpoint}_rps) fails.")
    p95_ms: float | None = _limit("Fail when P95 latency is above this, in ms.")
    p99_ms: float | None = _limit("Fail when P99 latency is above this, in ms.")
    warn_p95_ms: float | None = _limit("Warn when P95 latency is above this, in ms "
                                       "(at or below p95_ms).")
    warn_p99_ms: float | None = _limit("Warn when P99 latency is above this, in ms "
                                       "(at or below p99_ms).")
    metric: Literal["e2e", "ttft", "tpot", "itl", "ntpot"] | None = Field(
        default=None, description="What the percentiles are of: e2e (the default), or an LLM "
        "run's ttft, tpot, itl or ntpot (docs/llm.md); reads {metric}.{endpoint}.p{percentile}"
        "_ms.")
    min_goodput_rps: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Fail when fewer requests per "
        "second met every SLO of the run (metric goodput.{endpoint}_rps, an LLM run's).")
    metric_template: str = Field(
        default=DEFAULT_TEMPLATE,
        description="Name of the run metric holding one percentile, in ms; {endpoint} and "
        "{percentile} (95 or 99) are filled in.")
    source: Literal["run", "probe"] = Field(default="run", description=SOURCE_HELP)
    profile: str | None = profile_field(STEADY)
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
        check_profile(self.source, self.profile)
        if self.sla is not None:
            # The loader fills the SLA's limits in (without validating again) and checks the
            # warning limits against them then.
            given = [k for k in ("p95_ms", "p99_ms", "at_rps") if getattr(self, k) is not None]
            if given:
                raise ValueError(f"with 'sla', leave out {', '.join(map(repr, given))}: the "
                                 "SLA declares them once")
            return self
        if not self.endpoint:
            raise ValueError("set 'endpoint' (or 'sla')")
        if self.metric not in (None, "e2e") and self.metric_template != DEFAULT_TEMPLATE:
            raise ValueError("set 'metric' or 'metric_template', not both")
        if self.p95_ms is None and self.p99_ms is None and self.min_goodput_rps is None:
            raise ValueError("set at least one of 'p95_ms', 'p99_ms' or 'min_goodput_rps'")
        for p in PERCENTILES:
            fail, warn = self.limit(p), self.warn_limit(p)
            if warn is not None and (fail is None or warn > fail):
                raise ValueError(f"'warn_p{p}_ms' must be at or below 'p{p}_ms'")
        return self

    def sla_resolved(self) -> bool:
        """Whether the SLA's limits were filled in (by the loader)."""
        return self.sla is not None and bool(self.endpoint) and (
            self.p95_ms is not None or self.p99_ms is not None)

    def limit(self, percentile: int) -> float | None:
        return {95: self.p95_ms, 99: self.p99_ms}[percentile]

    def warn_limit(self, percentile: int) -> float | None:
        return {95: self.warn_p95_ms, 99: self.warn_p99_ms}[percentile]

    def metric_name(self, percentile: int) -> str:
        """The run metric holding ``percentile`` of what ``metric`` names."""
        template = self.metric_template
        if self.metric not in (None, "e2e"):
            template = f"{METRIC_PREFIXES[self.metric]}.{{endpoint}}.p{{percentile}}_ms"
        return template.format(endpoint=self.endpoint, percentile=percentile)

    def goodput_metric(self) -> str:
        return f"goodput.{self.endpoint}_rps"

    def samples_metric(self) -> str:
        return f"latency.{self.endpoint}.samples"

    def rate_metric(self) -> str:
        return f"target.{self.endpoint}_rps"

    def threshold(self) -> dict[str, Any]:
        pairs = {"p95_ms": self.p95_ms, "p99_ms": self.p99_ms, "warn_p95_ms": self.warn_p95_ms,
                 "warn_p99_ms": self.warn_p99_ms, "at_rps": self.at_rps,
                 "min_samples": self.min_samples, "sla": self.sla,
                 "metric": self.metric, "min_goodput_rps": self.min_goodput_rps}
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


def measured(run: RunMetrics, name: str, key: int, what: str, called: str) -> float | Reading:
    """Metric ``name`` of ``run`` when it is there and not negative, else the ``error``
    reading (``key``) saying why; ``what`` names it when missing, ``called`` when unusable."""
    ref = run.ref(name)
    if name not in run.metrics:
        found = missing(what, run.label, ref)
        return Reading(key, found.status, found.message, None, ref)
    try:
        return non_negative(called, run.metrics[name])
    except UnusableValue as exc:
        return Reading(key, Status.ERROR, str(exc), run.metrics[name], ref)


def read(spec: Latency, run: RunMetrics, percentile: int, fail: float) -> Reading:
    name = spec.metric_name(percentile)
    value = measured(run, name, percentile, f"metric '{name}'", f"p{percentile}")
    if isinstance(value, Reading):
        return value
    status, text = judge(percentile, value, fail, spec.warn_limit(percentile))
    if spec.metric not in (None, "e2e"):
        text = f"{str(spec.metric).upper()} {text}"
    return Reading(percentile, status, text, value, run.ref(name))


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


def read_rate(spec: Latency, run: RunMetrics, at_rps: float) -> Reading:
    """The rate the evidence was measured at, against the rate the limits hold at."""
    name = spec.rate_metric()
    rate = measured(run, name, RATE, f"metric '{name}' (the rate the latencies were measured "
                    "at)", f"metric '{name}'")
    if isinstance(rate, Reading):
        return rate
    if rate < RATE_SHARE * at_rps:
        return Reading(RATE, Status.FAIL, f"measured at {rate:g}/s, below the {at_rps:g}/s the "
                       "limits hold at", rate, run.ref(name))
    return Reading(RATE, Status.PASS, f"at {rate:g}/s (>= {at_rps:g}/s)", rate, run.ref(name))


def read_goodput(spec: Latency, run: RunMetrics, minimum: float) -> Reading:
    """The requests per second that met every SLO, against ``min_goodput_rps``."""
    name = spec.goodput_metric()
    goodput = measured(run, name, GOODPUT, f"metric '{name}' (an LLM run's goodput)",
                       f"metric '{name}'")
    if isinstance(goodput, Reading):
        return goodput
    if goodput < minimum:
        return Reading(GOODPUT, Status.FAIL, f"goodput {goodput:g}/s < {minimum:g}/s", goodput,
                       run.ref(name))
    return Reading(GOODPUT, Status.PASS, f"goodput {goodput:g}/s >= {minimum:g}/s", goodput,
                   run.ref(name))


#: The ``percentile`` of the readings that are not percentiles.
RATE, GOODPUT = 0, -1


def reading_key(reading: Reading) -> str:
    """How a reading is named in ``observed`` and ``evidence``."""
    if reading.percentile == GOODPUT:
        return "goodput_rps"
    return f"p{reading.percentile}_ms" if reading.percentile else "rate_rps"


def refs(spec: Latency, run: RunMetrics, readings: list[Reading]) -> dict[str, str]:
    """What the outcome cites: each percentile and the rate read, and which run it was."""
    cited = {reading_key(r): r.ref for r in readings}
    cited.update(run_refs(run))
    if spec.min_samples is not None:
        cited["samples"] = run.ref(spec.samples_metric())
    return cited


def observed(readings: list[Reading], run: RunMetrics) -> dict[str, Any]:
    return {**{reading_key(r): r.value for r in readings}, **run_observed(run)}


def evaluate(spec: Latency, evidence: Evidence) -> Outcome:
    if spec.sla is not None and not spec.sla_resolved():
        return Outcome(Status.ERROR, f"sla '{spec.sla}' was not filled in from the playbook's "
                       "sla", threshold=spec.threshold())
    run = pick_run(evidence, spec.source, spec.profile, STEADY)
    readings = [read(spec, run, p, fail) for p in PERCENTILES
                if (fail := spec.limit(p)) is not None]
    if spec.at_rps is not None:
        readings.append(read_rate(spec, run, spec.at_rps))
    if spec.min_goodput_rps is not None:
        readings.append(read_goodput(spec, run, spec.min_goodput_rps))
    status = min((r.status for r in readings), key=SEVERITY.index)
    message = ", ".join(r.text for r in readings)
    if problem := run.unusable() or too_few_samples(spec, run):
        status, message = Status.ERROR, problem
    elif run.probe and run.label not in message:
        message = f"{message} ({run.label})"
    return Outcome(
        status, f"{spec.endpoint}: {message}",
        observed=observed(readings, run),
        threshold=spec.threshold(),
        evidence=refs(spec, run, readings),
    )


KIND = CheckKind(spec=Latency, evaluate=evaluate,
                 summary="P95/P99 latency of one endpoint type, from a run's or the "
                 "probe's logged metrics.")
