"""The serve gate's pictures: the replay's latency histogram and percentiles over time, drawn
against what the gate judged (each ``latency`` check's P95/P99 and rate, the ``cost`` check's
budget and cost) with the gate's verdict. Pure up to :func:`write_pictures`, which writes them.

The objectives come from the gate's own result (``gatekeeper check -o json``): the thresholds
that were judged, so the pictures can never show other numbers than the verdict used; the
playbook only says which endpoint type each latency check is about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gatekeeper.common.files import write_atomic
from gatekeeper.probe.capacity import StepRun
from gatekeeper.render.probe import (
    Budget,
    Objectives,
    Slo,
    Verdict,
    latency_png,
    percentiles_png,
)


def gate_objectives(result: Mapping[str, Any], endpoints: Mapping[str, str]) -> Objectives:
    """SLOs, budget and verdict of a gate result; ``endpoints``: latency check id → endpoint."""
    checks: Sequence[Mapping[str, Any]] = result.get("checks", [])
    slos = {endpoints[c["id"]]: slo_of(c["threshold"]) for c in checks
            if c.get("kind") == "latency" and c["id"] in endpoints}
    budgets = [b for c in checks if c.get("kind") == "cost" and (b := budget_of(c))]
    return Objectives(slos, budgets[0] if budgets else None, verdict_of(result))


def slo_of(threshold: Mapping[str, Any]) -> Slo:
    return Slo(threshold.get("p95_ms"), threshold.get("p99_ms"), threshold.get("at_rps"))


def budget_of(check: Mapping[str, Any]) -> Budget | None:
    """The budget per 1,000 and the cost the check found (None without a budget)."""
    budget = (check.get("threshold") or {}).get("budget_per_1k")
    if budget is None:
        return None
    observed = check.get("observed") or {}
    total = observed.get("total") if isinstance(observed, Mapping) else None
    currency = observed.get("currency") if isinstance(observed, Mapping) else None
    return Budget(float(budget), float(total) if isinstance(total, int | float) else None,
                  currency or "")


def verdict_of(result: Mapping[str, Any]) -> Verdict:
    """``serve gate passed`` or ``serve gate blocked: 2 of 10 checks fail or error``."""
    checks = result.get("checks", [])
    milestone = result.get("milestone") or "gate"
    name = milestone.get("id", "gate") if isinstance(milestone, Mapping) else str(milestone)
    passed = result.get("decision") == "pass"
    if passed:
        return Verdict(True, f"{name} gate passed")
    bad = [c for c in checks if c.get("status") in ("fail", "error") and c.get("blocking", True)]
    return Verdict(False, f"{name} gate blocked: {len(bad)} of {len(checks)} checks fail or "
                          "error")


def write_pictures(folder: Path, replay: StepRun, objectives: Objectives) -> list[Path]:
    """latency.png and (when the replay kept a timeline) percentiles.png into ``folder``."""
    pictures = {"latency.png": latency_png(replay.report, objectives)}
    if replay.timeline is not None and replay.timeline.seconds:
        pictures["percentiles.png"] = percentiles_png(replay.timeline, replay.report,
                                                      objectives)
    written = []
    for name, data in pictures.items():
        write_atomic(folder / name, data)
        written.append(folder / name)
    return written
