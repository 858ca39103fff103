"""Which run a check reads: the version's source run, or one of its probe runs by profile.

Every check kind that reads run metrics with ``source: run | probe`` picks its run here, so
they all follow one rule:

- ``source: run``: the version's source run.
- ``source: probe`` with ``profile: NAME``: the latest usable run of that profile, as the
  version tag ``gatekeeper.probe.NAME.run_id`` names it (``gatekeeper probe`` moves that tag
  only to a usable run, so an unusable run never replaces usable evidence).
- ``source: probe`` without ``profile``: the kind's natural profile (``steady`` for latency,
  errors; the cost kind says its own) when the version has a run of it, else the run
  ``gatekeeper.probe.run_id`` names (the latest usable run of any profile: what playbooks
  written before profiles read).

The picked run's label names it (``probe run <id>, profile steady``), so every message that
cites it says which run was used, and :func:`run_refs` gives the refs a result cites.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from pydantic import Field

from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evidence.interface import (
    CACHE_PROOF_PROFILE,
    CAPACITY_PROFILE,
    PROBE_HELD_METRIC,
    PROBE_USABLE_METRIC,
    PROFILE_PATTERN,
    STEADY_PROFILE,
    Evidence,
    RunMetrics,
)

#: A plain run at a steady rate (``gatekeeper probe --rate R``; imported k6/Locust runs too).
STEADY = STEADY_PROFILE
#: ``gatekeeper probe --find-capacity``: the highest rate that meets the P99 SLO.
CAPACITY = CAPACITY_PROFILE
#: ``gatekeeper probe --cache-proof``: with and without the cache.
CACHE_PROOF = CACHE_PROOF_PROFILE

Source = Literal["run", "probe"]


def profile_field(natural: str = STEADY) -> Any:
    """The ``profile`` key of a check spec that reads probe runs."""
    return Field(default=None, pattern=PROFILE_PATTERN, description=(
        "With source: probe, the probe profile whose latest usable run is read (steady, "
        f"capacity, cache-proof, or your own). Left out: {natural} when the version has such "
        "a run, else the run gatekeeper.probe.run_id names."))


def check_profile(source: Source, profile: str | None) -> None:
    """A profile means nothing for the source run: refused, never silently ignored."""
    if profile is not None and source != "probe":
        raise ValueError("'profile' needs 'source: probe'")


def pick_run(evidence: Evidence, source: Source, profile: str | None = None,
             natural: str = STEADY) -> RunMetrics:
    """The run a check with ``source`` and ``profile`` reads (module docstring)."""
    cand = evidence.candidate
    if source == "run":
        return cand.source_run()
    if profile is not None:
        return cand.probe_run(profile)
    if natural in cand.probe_runs:
        return cand.probe_run(natural)
    return cand.probe_run()


def usable_run(evidence: Evidence, source: Source, profile: str | None = None,
               natural: str = STEADY) -> RunMetrics | Outcome:
    """:func:`pick_run`, or the ``error`` outcome saying why its run is no evidence at all."""
    run = pick_run(evidence, source, profile, natural)
    problem = run.unusable()
    if problem is None:
        return run
    return Outcome(Status.ERROR, problem, observed=run_observed(run),
                   evidence={"unusable": run.ref(PROBE_HELD_METRIC) if run.linked else
                             run.ref_template})


def run_refs(run: RunMetrics) -> dict[str, str]:
    """What a result cites about the run itself: for a probe run, which run it is and the
    metrics that made it usable."""
    if not run.probe:
        return {}
    # Unlinked, both cite the version tag that is not set.
    refs = {"probe_run": f"mlflow:runs/{run.run_id}" if run.linked else run.ref_template,
            "held_target_rate": run.ref(PROBE_HELD_METRIC)}
    if PROBE_USABLE_METRIC in run.metrics:
        refs["usable"] = run.ref(PROBE_USABLE_METRIC)
    return refs


def run_observed(run: RunMetrics) -> dict[str, str | None]:
    """Which probe run was read, for a result's ``observed``: its id and profile (nothing for
    the source run, which the result's model already names)."""
    if not run.probe:
        return {}
    return {"probe_run_id": run.run_id, "profile": run.profile}


def with_run(outcome: Outcome, run: RunMetrics) -> Outcome:
    """``outcome`` with the run it read added to its evidence refs."""
    return replace(outcome, evidence={**outcome.evidence, **run_refs(run)})
