"""``baseline_comparison``: a metric of the candidate against the same metric of the version
behind a baseline alias (e.g. ``champion``).

The improvement margins decide exactly as MLflow's ``MetricThreshold`` (``min_absolute_change``,
``min_relative_change``) does in ``mlflow.models.evaluation.validation._validate``, so a playbook
and ``mlflow.validate_evaluation_results`` never disagree; the regression margins are the same
comparisons with the margin pointing the other way. A missing alias or metric is ``error``, and
so is a value that is not a finite number on either side.

``same_workload: true`` compares two probe runs instead of the source runs: each version's
latest usable run of ``profile`` (default ``steady``), e.g. an LLM probe's ``ttft.chat.p99_ms``.
Runs measured under different workloads are not comparable, so the check is ``error`` unless
both runs recorded a workload fingerprint (params ``probe.workload.*``, docs/llm.md) and the
fingerprints agree on every key of :data:`WORKLOAD_KEYS`; the message names each key that
differs, with both values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.common.values import UnusableValue, number
from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status, missing
from gatekeeper.evidence.interface import (
    PROFILE_PATTERN,
    STEADY_PROFILE,
    Evidence,
    EvidenceRequest,
    RunMetrics,
    VersionEvidence,
)

# MLflow's stand-in for "any improvement" when a relative margin meets a zero baseline.
ZERO_BASELINE_EPSILON = 1e-10

REGRESSION_MARGINS = ("max_regression", "max_regression_relative")
IMPROVEMENT_MARGINS = ("min_improvement", "min_improvement_relative")
WORKLOAD_PARAM = "probe.workload."
#: The fingerprint keys that must agree: what was asked of the server (the api, prompt and
#: output lengths declared, sampling, ignore_eos, models asked for, and their digest) and the
#: model names it reported. The measured token counts are results, not the workload.
WORKLOAD_KEYS = ("digest", "api", "prompt_words", "max_tokens", "sampling", "ignore_eos",
                 "models_requested", "models_reported")


class BaselineComparison(CheckSpecBase):
    ADDED_LATER = frozenset({"same_workload", "profile"})
    kind: Literal["baseline_comparison"]
    metric: str = Field(min_length=1, description="Metric compared on both source runs.")
    greater_is_better: bool = Field(
        default=True, description="True when a higher value is better (accuracy), false when "
        "lower is (loss, error rate).")
    baseline: str | None = Field(
        default=None, min_length=1, description="Alias of the version to compare with, e.g. "
        "champion. Left out: the playbook's `baseline`.")
    max_regression: float | None = Field(
        default=None, ge=0, allow_inf_nan=False,
        description="Largest allowed worsening, in the metric's units (0: no worse).")
    max_regression_relative: float | None = Field(
        default=None, ge=0, le=1, allow_inf_nan=False,
        description="Largest allowed worsening as a fraction of |baseline| (0.02: 2%).")
    min_improvement: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="Required improvement, in the metric's units (MLflow min_absolute_change).")
    min_improvement_relative: float | None = Field(
        default=None, gt=0, le=1, allow_inf_nan=False,
        description="Required improvement as a fraction of |baseline| (MLflow "
        "min_relative_change); on a zero baseline, any improvement.")
    same_workload: bool | None = Field(
        default=None, description="Compare the two versions' probe runs of `profile` (not "
        "their source runs), refusing (error) runs whose workload fingerprints (params "
        "probe.workload.*, an LLM probe's) differ.")
    profile: str | None = Field(
        default=None, pattern=PROFILE_PATTERN, description="With same_workload: the probe "
        "profile whose latest usable run each side reads. Left out: steady.")
    on_missing_baseline: Literal["error", "skip"] = Field(
        default="error", description="What to report when the alias is not set: error, or skip "
        "(e.g. the first version, with nothing to compare with).")

    @model_validator(mode="after")
    def _check_margins(self) -> Self:
        if self.profile is not None and not self.same_workload:
            raise ValueError("'profile' needs 'same_workload: true'")
        regressions = [m for m in REGRESSION_MARGINS if getattr(self, m) is not None]
        improvements = [m for m in IMPROVEMENT_MARGINS if getattr(self, m) is not None]
        if not regressions and not improvements:
            names = ", ".join(f"'{m}'" for m in REGRESSION_MARGINS + IMPROVEMENT_MARGINS)
            raise ValueError(f"set at least one margin: {names}")
        if regressions and improvements:
            raise ValueError(
                f"regression margins ({_quoted(regressions)}) and improvement margins "
                f"({_quoted(improvements)}) exclude each other: a comparison either allows a "
                "regression or requires an improvement")
        return self

    def margins(self) -> dict[str, float]:
        names = REGRESSION_MARGINS + IMPROVEMENT_MARGINS
        return {m: v for m in names if (v := getattr(self, m)) is not None}


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


@dataclass(frozen=True)
class Pair:
    """The two values compared, and which direction is better."""

    candidate: float
    baseline: float
    greater_is_better: bool

    def at_least(self, bound: float) -> bool:
        """The candidate is at least as good as ``bound``: non-strict, as MLflow compares."""
        return self.candidate >= bound if self.greater_is_better else self.candidate <= bound

    def shifted(self, amount: float, better: bool) -> float:
        """The baseline moved by ``amount`` towards better (or worse) values, written as
        MLflow's ``operator.add`` / ``operator.sub`` so the float rounding is the same."""
        upwards = self.greater_is_better == better
        return self.baseline + amount if upwards else self.baseline - amount

    def relative_change(self) -> float:
        """Improvement as a fraction of |baseline|, positive when better, as MLflow computes it
        (the magnitude keeps the sign meaningful for a negative baseline)."""
        if self.greater_is_better:
            return (self.candidate - self.baseline) / abs(self.baseline)
        return (self.baseline - self.candidate) / abs(self.baseline)


@dataclass(frozen=True)
class Verdict:
    """One margin judged: the candidate value it requires, and whether it was met."""

    margin: str
    value: float
    bound: float
    met: bool
    note: str = ""


def judge_absolute(margin: str, value: float, better: bool, pair: Pair) -> Verdict:
    bound = pair.shifted(value, better)
    return Verdict(margin, value, bound, pair.at_least(bound))


def judge_relative(margin: str, value: float, better: bool, pair: Pair) -> Verdict:
    if pair.baseline == 0:
        # A fraction of zero is zero: MLflow then asks for any improvement (by its epsilon);
        # an allowed regression of a fraction of zero is no regression at all.
        bound = pair.shifted(ZERO_BASELINE_EPSILON if better else 0.0, better)
        note = "any improvement on a zero baseline" if better else "zero baseline"
        return Verdict(margin, value, bound, pair.at_least(bound), note)
    met = pair.relative_change() >= (value if better else -value)
    return Verdict(margin, value, pair.shifted(value * abs(pair.baseline), better), met)


# Each margin: how it is judged, and whether it asks for better (True) or tolerates worse.
JUDGES: dict[str, tuple[Callable[[str, float, bool, Pair], Verdict], bool]] = {
    "max_regression": (judge_absolute, False),
    "max_regression_relative": (judge_relative, False),
    "min_improvement": (judge_absolute, True),
    "min_improvement_relative": (judge_relative, True),
}


def judge(spec: BaselineComparison, pair: Pair) -> list[Verdict]:
    """Every margin of ``spec``; the comparison passes when all are met."""
    return [JUDGES[m][0](m, value, JUDGES[m][1], pair) for m, value in spec.margins().items()]


def describe(spec: BaselineComparison, verdicts: list[Verdict], pair: Pair, alias: str,
             base: VersionEvidence) -> str:
    """One line: the candidate against the value each margin requires (only the missed ones,
    when some are missed), then the baseline value they derive from."""
    missed = [v for v in verdicts if not v.met]
    ops = {(True, True): ">=", (True, False): "<=", (False, True): "<", (False, False): ">"}
    op = ops[(not missed, spec.greater_is_better)]
    clauses = " and ".join(f"{op} {v.bound:g} ({margin_text(v)})" for v in missed or verdicts)
    return (f"{spec.metric} = {pair.candidate:g} {clauses}, "
            f"{alias} v{base.version} = {pair.baseline:g}")


def margin_text(verdict: Verdict) -> str:
    value = (f"{verdict.value * 100:g}%" if verdict.margin.endswith("_relative")
             else f"{verdict.value:g}")
    return f"{verdict.margin} {value}" + (f": {verdict.note}" if verdict.note else "")


def threshold_of(spec: BaselineComparison, base: VersionEvidence | None) -> dict[str, Any]:
    return {"baseline_alias": spec.baseline,
            "baseline_version": base.version if base else None,
            "greater_is_better": spec.greater_is_better, **spec.margins()}


def observed_of(pair: Pair) -> dict[str, float | None]:
    delta = pair.candidate - pair.baseline
    return {"candidate": pair.candidate, "baseline": pair.baseline, "delta": delta,
            "relative_delta": delta / abs(pair.baseline) if pair.baseline else None}


def evaluate(spec: BaselineComparison, evidence: Evidence) -> Outcome:
    alias = spec.baseline
    if alias is None:
        return Outcome(Status.ERROR, "no baseline alias: set 'baseline' on the check or the "
                       "playbook", threshold=threshold_of(spec, None))
    base = evidence.baseline(alias)
    if base is None:
        return missing_baseline(spec, evidence.candidate, alias)
    if spec.same_workload:
        return compare_probe_runs(spec, evidence.candidate, base, alias)
    return compare(spec, evidence.candidate, base, alias)


def compare_probe_runs(spec: BaselineComparison, cand: VersionEvidence, base: VersionEvidence,
                       alias: str) -> Outcome:
    """``same_workload``: the metric of both versions' probe runs of the profile, once their
    workload fingerprints are known to agree."""
    profile = spec.profile or STEADY_PROFILE
    threshold = {**threshold_of(spec, base), "same_workload": True, "profile": profile}
    sides = {"candidate": cand, "baseline": base}
    runs = {side: v.probe_run(profile) for side, v in sides.items()}
    for side, run in runs.items():
        problem = run.unusable()
        if problem is not None:
            return Outcome(Status.ERROR, f"{side} v{sides[side].version}: {problem}",
                           threshold=threshold, evidence={side: run.ref(spec.metric)})
    refs = {side: run.ref(spec.metric) for side, run in runs.items()}
    prints = {side: workload_of(v, profile) for side, v in sides.items()}
    for side, found in prints.items():
        if not found:
            return Outcome(Status.ERROR, f"{side} v{sides[side].version} ({runs[side].label}) "
                           "recorded no workload fingerprint (params probe.workload.*): not "
                           "an LLM probe run, or one from before fingerprints; re-probe it",
                           threshold=threshold, evidence=refs)
    differ = workload_differences(prints["candidate"], prints["baseline"])
    if differ:
        return Outcome(Status.ERROR, f"different workloads, not compared: candidate "
                       f"v{cand.version} ({runs['candidate'].label}) and {alias} "
                       f"v{base.version} ({runs['baseline'].label}) differ in "
                       + "; ".join(differ),
                       observed={"workload_differs": {k: {"candidate": prints["candidate"]
                                                          .get(k), "baseline":
                                                          prints["baseline"].get(k)}
                                                      for k in differing_keys(prints)}},
                       threshold=threshold, evidence=refs)
    return compare_runs(spec, runs["candidate"], runs["baseline"], alias, base, threshold)


def workload_of(version: VersionEvidence, profile: str) -> dict[str, str]:
    """The fingerprint (``probe.workload.*`` params, prefix dropped) of the profile's run."""
    linked = version.probe_runs.get(profile)
    if linked is None:
        return {}
    return {k[len(WORKLOAD_PARAM):]: v for k, v in linked.params.items()
            if k.startswith(WORKLOAD_PARAM)}


def differing_keys(prints: dict[str, dict[str, str]]) -> list[str]:
    cand, base = prints["candidate"], prints["baseline"]
    return [k for k in WORKLOAD_KEYS if cand.get(k) != base.get(k)]


def workload_differences(cand: dict[str, str], base: dict[str, str]) -> list[str]:
    """``api: openai-chat vs openai-completions`` for each key of :data:`WORKLOAD_KEYS` that
    differs (the digest only when nothing else explains it)."""
    keys = differing_keys({"candidate": cand, "baseline": base})
    shown = [k for k in keys if k != "digest"] or keys
    return [f"{k}: {cand.get(k, '(not recorded)')} vs {base.get(k, '(not recorded)')}"
            for k in shown]


def compare_runs(spec: BaselineComparison, cand: RunMetrics, base_run: RunMetrics, alias: str,
                 base: VersionEvidence, threshold: dict[str, Any]) -> Outcome:
    """The margins on the metric of two probe runs."""
    refs = {"candidate": cand.ref(spec.metric), "baseline": base_run.ref(spec.metric)}
    for side, run in (("candidate", cand), ("baseline", base_run)):
        if spec.metric not in run.metrics:
            return replace(missing(f"metric '{spec.metric}'", f"{side} {run.label}",
                                   refs[side]), threshold=threshold)
        try:
            number(f"{side} {spec.metric}", run.metrics[spec.metric])
        except UnusableValue as exc:
            return Outcome(Status.ERROR, str(exc), threshold=threshold, evidence=refs)
    pair = Pair(cand.metrics[spec.metric], base_run.metrics[spec.metric],
                spec.greater_is_better)
    verdicts = judge(spec, pair)
    status = Status.PASS if all(v.met for v in verdicts) else Status.FAIL
    return Outcome(status, describe(spec, verdicts, pair, alias, base) + " (probe runs, same "
                   "workload)", observed=observed_of(pair), threshold=threshold, evidence=refs)


def missing_baseline(spec: BaselineComparison, cand: VersionEvidence, alias: str) -> Outcome:
    # An alias is not a version, so VersionEvidence.ref cannot name it; same scheme, by hand.
    ref = f"mlflow:models/{cand.name}/aliases/{alias}"
    if spec.on_missing_baseline == "skip":
        return Outcome(Status.SKIP, f"baseline alias '{alias}' is not set on model {cand.name}; "
                       "skipped (on_missing_baseline: skip)", threshold=threshold_of(spec, None),
                       evidence={"missing": ref})
    return replace(missing(f"baseline alias '{alias}'", f"model {cand.name}", ref),
                   threshold=threshold_of(spec, None))


def compare(spec: BaselineComparison, cand: VersionEvidence, base: VersionEvidence,
            alias: str) -> Outcome:
    threshold = threshold_of(spec, base)
    refs = {"candidate": cand.ref("metrics", spec.metric),
            "baseline": base.ref("metrics", spec.metric)}
    sides = {"candidate": (cand, "candidate"), "baseline": (base, f"baseline {alias}")}
    for side, (version, role) in sides.items():
        if spec.metric not in version.metrics:
            run = f"run {version.run_id}" if version.run_id else "no source run"
            return replace(missing(f"metric '{spec.metric}'", f"{role} v{version.version} ({run})",
                                   refs[side]), threshold=threshold)
        try:
            number(f"{side} {spec.metric}", version.metrics[spec.metric])
        except UnusableValue as exc:
            return Outcome(Status.ERROR, str(exc), threshold=threshold, evidence=refs)
    pair = Pair(cand.metrics[spec.metric], base.metrics[spec.metric], spec.greater_is_better)
    verdicts = judge(spec, pair)
    status = Status.PASS if all(v.met for v in verdicts) else Status.FAIL
    return Outcome(status, describe(spec, verdicts, pair, alias, base), observed=observed_of(pair),
                   threshold=threshold, evidence=refs)


def needs(spec: BaselineComparison) -> EvidenceRequest:
    if spec.baseline is None:
        return EvidenceRequest()
    return EvidenceRequest(baseline_aliases=frozenset({spec.baseline}))


KIND = CheckKind(spec=BaselineComparison, evaluate=evaluate, needs=needs,
                 summary="A metric against the same metric of the baseline alias's version.")
