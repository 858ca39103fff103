"""``pilot_slo``: the pilot's live traffic, read from Prometheus over the pilot window.

P95/P99 come from a latency histogram (``histogram_quantile`` over ``rate()`` of its buckets, as
dashboards show them), the error rate from an errors counter over a requests counter, and the
request volume from ``increase()`` of the requests counter. Too little traffic is ``error``: a
quiet pilot proves nothing. A business KPI (conversion, usage) can be gated the same way as a
ratio of two PromQL expressions.

The queries are asked before checks run (see ``needs``); :func:`evaluate` only reads the answers
from ``Evidence.extra``. The shared pieces (:class:`PrometheusCheck`, :func:`read_answers`) also
serve ``ab_comparison``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from gatekeeper.common.values import UnusableValue, non_negative
from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status
from gatekeeper.evidence.external import ExternalFailure
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, ExternalQuery
from gatekeeper.evidence.prometheus import (
    PromAnswer,
    external_query,
    quantile_in_window,
    query_ref,
    total_in_window,
)
from gatekeeper.load.strict import Strict

METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
# One Prometheus duration unit, e.g. 30m, 1h, 7d: what range selectors accept.
DURATION = r"^[1-9][0-9]*(s|m|h|d|w|y)$"
# Label matchers without the braces (the check adds them): a stray brace would otherwise be a
# PromQL parse error at gate time instead of a validation error now.
MATCHERS = r"^[^{}]*$"


def _duration(text: str) -> str:
    if not re.fullmatch(DURATION, text):
        raise ValueError(f"'{text}' is not a Prometheus duration like 30m, 1h or 7d")
    return text


def _matchers_only(text: str) -> str:
    if not re.fullmatch(MATCHERS, text):
        raise ValueError('give label matchers without braces, e.g. arm="quantized"')
    return text


# Validated by hand for a readable message; the pattern still goes into the JSON Schema.
PromDuration = Annotated[str, AfterValidator(_duration),
                         Field(json_schema_extra={"pattern": DURATION})]
Matchers = Annotated[str, AfterValidator(_matchers_only),
                     Field(json_schema_extra={"pattern": MATCHERS})]

# Worst first: the check reports the worst state of its readings.
SEVERITY = (Status.ERROR, Status.FAIL, Status.WARN, Status.PASS)
PERCENTILES = (95, 99)


class Unreadable(Exception):
    """An answer the check cannot judge (no data, unreachable, not one number): ``error``."""


def _matchers(what: str) -> Any:
    return Field(default="", description=what)


def _metric(what: str) -> Any:
    return Field(default=None, pattern=METRIC_NAME, description=what)


class PrometheusCheck(CheckSpecBase):
    """Where and over which window a check queries Prometheus, and the traffic metrics."""

    prometheus_url: str | None = Field(
        default=None, pattern=r"^https?://\S+$",
        description="Base URL of the Prometheus server. Left out: GATEKEEPER_PROMETHEUS_URL.")
    window: PromDuration = Field(description="Length of the window ending at `at`, "
                        "as a Prometheus duration: 30m, 1h, 7d.")
    at: datetime | None = Field(
        default=None, description="End of the window (ISO 8601; no zone means UTC). Left out: "
        "when the gate runs.")
    selector: Matchers = _matchers('Label matchers every query applies, e.g. job="fraud".')
    histogram: str | None = _metric("Latency histogram, without the _bucket suffix, e.g. "
                                    "http_request_duration_seconds.")
    latency_unit: Literal["seconds", "milliseconds"] = Field(
        default="seconds", description="Unit the histogram observes in.")
    requests: str | None = _metric("Counter of requests. Left out: <histogram>_count.")
    errors: str | None = _metric("Counter of failed requests. Left out: the requests counter "
                                 "(narrowed by errors_selector).")
    errors_selector: Matchers = _matchers('Extra matchers that pick failed requests, e.g. '
                                     'code=~"5..".')

    def prom(self, name: str, promql: str) -> ExternalQuery:
        """The query for one reading, keyed by this check's id (unique in its milestone)."""
        return external_query(f"{self.id}/{name}", promql, self.prometheus_url, self.at)

    def requests_metric(self) -> str | None:
        return self.requests or (f"{self.histogram}_count" if self.histogram else None)

    def errors_metric(self) -> str | None:
        return self.errors or self.requests_metric()

    def templated(self, expression: str, selector: str) -> str:
        """A user's PromQL with ``$window`` and ``$selector`` filled in."""
        return expression.replace("$window", self.window).replace("$selector", selector)

    def scale_to_ms(self) -> float:
        return 1000.0 if self.latency_unit == "seconds" else 1.0

    def window_threshold(self) -> dict[str, Any]:
        return {"window": self.window, "at": iso(self.at) if self.at else None}


class Kpi(Strict):
    """A business KPI: the ratio of two PromQL expressions over the window."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Named in messages, "
                      "e.g. conversion.")
    numerator: str = Field(min_length=1, description="PromQL giving one number; $window and "
                           "$selector are filled in.")
    denominator: str = Field(min_length=1, description="PromQL giving one number; $window and "
                             "$selector are filled in.")
    min: float | None = Field(default=None, description="Fail when the ratio is below this.")
    max: float | None = Field(default=None, description="Fail when the ratio is above this.")

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("set at least one of 'min' or 'max'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("'min' must be at or below 'max'")
        return self


def _limit(what: str) -> Any:
    return Field(default=None, gt=0, description=what)


class PilotSlo(PrometheusCheck):
    kind: Literal["pilot_slo"]
    p95_ms: float | None = _limit("Fail when P95 latency over the window is above this, in ms.")
    p99_ms: float | None = _limit("Fail when P99 latency over the window is above this, in ms.")
    max_error_rate: float | None = Field(
        default=None, ge=0, le=1, description="Fail when errors / requests is above this "
        "(0.01: 1%).")
    min_requests: int = Field(ge=1, description="Fewer requests in the window is an error: "
                              "too little traffic to judge.")
    kpi: Kpi | None = Field(default=None, description="A business KPI gated as a ratio.")

    @model_validator(mode="after")
    def _check_sources(self) -> Self:
        if self.requests_metric() is None:
            raise ValueError("set 'histogram' or 'requests': the request volume is read from "
                             "one of them")
        if (self.p95_ms or self.p99_ms) and self.histogram is None:
            raise ValueError("'p95_ms' and 'p99_ms' need 'histogram'")
        if self.max_error_rate is not None and not (self.errors or self.errors_selector):
            raise ValueError("'max_error_rate' needs 'errors' or 'errors_selector' (which "
                             "requests failed)")
        return self

    def limit(self, percentile: int) -> float | None:
        return {95: self.p95_ms, 99: self.p99_ms}[percentile]

    def queries(self) -> dict[str, ExternalQuery]:
        """Every reading this check needs, by name."""
        sel = (self.selector,)
        requests = self.requests_metric()
        assert requests is not None  # the validator saw to it
        found = {"requests": self.prom("requests", total_in_window(requests, sel, self.window))}
        for p in PERCENTILES:
            if self.limit(p) is not None and self.histogram:
                promql = quantile_in_window(p / 100, self.histogram, sel, self.window)
                found[f"p{p}"] = self.prom(f"p{p}", promql)
        if self.max_error_rate is not None and (errors := self.errors_metric()):
            promql = total_in_window(errors, (self.selector, self.errors_selector), self.window)
            found["errors"] = self.prom("errors", promql)
        if self.kpi is not None:
            for part in ("numerator", "denominator"):
                expression = self.templated(getattr(self.kpi, part), self.selector)
                found[f"kpi.{part}"] = self.prom(f"kpi.{part}", expression)
        return found

    def threshold(self) -> dict[str, Any]:
        limits = {"min_requests": self.min_requests, "p95_ms": self.p95_ms,
                  "p99_ms": self.p99_ms, "max_error_rate": self.max_error_rate,
                  "kpi_min": self.kpi.min if self.kpi else None,
                  "kpi_max": self.kpi.max if self.kpi else None}
        return {**{k: v for k, v in limits.items() if v is not None}, **self.window_threshold()}


def iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def read_answers(evidence: Evidence, queries: Mapping[str, ExternalQuery]
                 ) -> dict[str, PromAnswer]:
    """The answers to ``queries`` by name; Unreadable naming every distinct failure."""
    found: dict[str, PromAnswer] = {}
    problems: list[str] = []
    for name, query in queries.items():
        value = evidence.extra.get(query.key)
        if isinstance(value, PromAnswer):
            found[name] = value
        elif isinstance(value, ExternalFailure):
            problems.append(value.message)
        else:
            problems.append(f"no Prometheus answer collected for `{query.param('query')}`")
    if problems:
        raise Unreadable("; ".join(dict.fromkeys(problems)))
    return found


def single_value(found: PromAnswer) -> float:
    """The one number a query must give (our own queries aggregate; a user's may not)."""
    if len(found.samples) != 1:
        raise Unreadable(f"`{found.query}` returned {len(found.samples)} series, expected one: "
                         "aggregate it, e.g. with sum()")
    return found.samples[0].value


def usable(value: float, what: str) -> float:
    """A count, a latency or a ratio's part read from Prometheus: finite and non-negative.

    NaN is what ``histogram_quantile`` gives without requests; a negative count comes from a
    broken exporter or a bad expression, and would otherwise pass any upper limit.
    """
    try:
        return non_negative(what, value)
    except UnusableValue as exc:
        raise Unreadable(str(exc)) from None


def refs(answers: Mapping[str, PromAnswer]) -> dict[str, str]:
    return {name: found.ref() for name, found in answers.items()}


def count_text(value: float) -> str:
    """A count from ``increase()``: whole unless extrapolation made it fractional."""
    return f"{value:.0f}" if value == round(value) else f"{value:.1f}"


def ms_text(value: float) -> str:
    return f"{round(value, 2):g} ms"


def pct_text(value: float) -> str:
    return f"{value * 100:.3g}%"


@dataclass(frozen=True)
class Reading:
    """One quantity judged against its limit."""

    name: str
    value: float
    status: Status
    text: str


def upper_limit(name: str, value: float, limit: float, shown: str, limit_shown: str) -> Reading:
    if value > limit:
        return Reading(name, value, Status.FAIL, f"{shown} > {limit_shown}")
    return Reading(name, value, Status.PASS, f"{shown} <= {limit_shown}")


def latency_reading(spec: PilotSlo, answers: Mapping[str, PromAnswer], p: int,
                    limit: float) -> Reading:
    value = usable(single_value(answers[f"p{p}"]) * spec.scale_to_ms(), f"p{p}")
    return upper_limit(f"p{p}_ms", value, limit, f"p{p} = {ms_text(value)}", ms_text(limit))


def error_rate_reading(answers: Mapping[str, PromAnswer], requests: float,
                       limit: float) -> Reading:
    errors = usable(single_value(answers["errors"]), "the error count")
    rate = errors / requests
    return upper_limit("error_rate", rate, limit, f"error rate = {pct_text(rate)}",
                       pct_text(limit))


def kpi_reading(kpi: Kpi, answers: Mapping[str, PromAnswer]) -> Reading:
    numerator = usable(single_value(answers["kpi.numerator"]), f"{kpi.name} numerator")
    denominator = usable(single_value(answers["kpi.denominator"]), f"{kpi.name} denominator")
    if denominator == 0:
        raise Unreadable(f"{kpi.name}: the denominator is 0 over the window")
    value = numerator / denominator
    shown = f"{kpi.name} = {value:.4g}"
    if kpi.min is not None and value < kpi.min:
        return Reading("kpi", value, Status.FAIL, f"{shown} < {kpi.min:g}")
    if kpi.max is not None and value > kpi.max:
        return Reading("kpi", value, Status.FAIL, f"{shown} > {kpi.max:g}")
    bounds = [f">= {kpi.min:g}" if kpi.min is not None else "",
              f"<= {kpi.max:g}" if kpi.max is not None else ""]
    return Reading("kpi", value, Status.PASS, f"{shown} {' and '.join(b for b in bounds if b)}")


def readings(spec: PilotSlo, answers: Mapping[str, PromAnswer], requests: float
             ) -> list[Reading]:
    found = [latency_reading(spec, answers, p, limit) for p in PERCENTILES
             if (limit := spec.limit(p)) is not None]
    if spec.max_error_rate is not None:
        found.append(error_rate_reading(answers, requests, spec.max_error_rate))
    if spec.kpi is not None:
        found.append(kpi_reading(spec.kpi, answers))
    return found


def judge(spec: PilotSlo, answers: Mapping[str, PromAnswer]) -> Outcome:
    requests = usable(single_value(answers["requests"]), "the request count")
    observed: dict[str, Any] = {"requests": requests, "window": spec.window,
                                "evaluated_at": answers["requests"].evaluated_at()}
    if requests < spec.min_requests:
        return Outcome(Status.ERROR, f"too few requests in the pilot window: "
                       f"{count_text(requests)} < {spec.min_requests}", observed=observed)
    found = readings(spec, answers, requests)
    if "errors" in answers:
        observed["errors"] = single_value(answers["errors"])
    observed.update({r.name: r.value for r in found})
    status = min((r.status for r in found), default=Status.PASS, key=SEVERITY.index)
    volume = f"{count_text(requests)} requests in {spec.window} (min {spec.min_requests})"
    return Outcome(status, ", ".join([volume, *(r.text for r in found)]), observed=observed)


def judge_answers(queries: Mapping[str, ExternalQuery], evidence: Evidence,
                  judge: Callable[[Mapping[str, PromAnswer]], Outcome],
                  threshold: Mapping[str, Any]) -> Outcome:
    """Read the answers to ``queries`` and ``judge`` them; anything unreadable is ``error``.

    The evidence cites each answer's API call, or the call that was to be made when there is
    no answer.
    """
    try:
        answers = read_answers(evidence, queries)
    except Unreadable as exc:
        asked = {name: query_ref(q) for name, q in queries.items()}
        return Outcome(Status.ERROR, str(exc), threshold=threshold, evidence=asked)
    try:
        outcome = judge(answers)
    except Unreadable as exc:
        outcome = Outcome(Status.ERROR, str(exc))
    return replace(outcome, threshold=threshold, evidence=refs(answers))


def evaluate(spec: PilotSlo, evidence: Evidence) -> Outcome:
    return judge_answers(spec.queries(), evidence, lambda found: judge(spec, found),
                         spec.threshold())


def needs(spec: PilotSlo) -> EvidenceRequest:
    return EvidenceRequest(external=frozenset(spec.queries().values()))


KIND = CheckKind(spec=PilotSlo, evaluate=evaluate, needs=needs,
                 summary="Live pilot traffic from Prometheus: P95/P99, error rate, volume, KPI.")
