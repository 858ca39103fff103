"""A cost check's breakdown in ``text`` and ``html``: every component, the currency, the
operating point it was priced at, plain decimals (never ``1.6e-05``); the shared sample result
with its cost check as the ``cost`` kind now reports it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from gatekeeper.decide.result import CheckResult, Result
from gatekeeper.render import html, text
from gatekeeper.render.readable import cost_lines
from tests.support.chromium import Elements, render_page
from tests.support.results import sample_result

PER_1K = {"compute": 1.2e-05, "accelerators": 3.6e-06, "memory": 2e-07, "network": 9e-08,
          "cache": 0.0, "operations": 1.00991e-07, "total": 1.63991e-05}
OBSERVED: dict[str, Any] = {
    "per_1k": PER_1K, "total": 1.63991e-05, "currency": "EUR",
    "operating_point": {"price_at": "traffic", "rate_rps": 500, "replicas": 3,
                        "capacity_rps": 200, "traffic_rps": 500, "headroom": 1.2},
    "accelerators": {"gpus_per_replica": 1, "gpu_per_hour": 2.5, "utilisation": 0.634},
    "probe_run_id": "c1", "profile": "capacity"}
BREAKDOWN = ("cost per 1k (EUR) at declared traffic 500/s on 3 replicas (capacity 200/s, "
             "headroom 1.2): compute 0.000012, accelerators 0.0000036, memory 0.0000002, "
             "network 0.00000009, cache 0, operations 0.000000100991, total 0.0000163991")
GPUS = "GPUs: 1 per replica at 2.5/h each, utilisation 63.4%"


def with_breakdown(observed: dict[str, Any]) -> Result:
    """The shared sample result, its cost check observing ``observed``."""
    result = sample_result()
    checks = tuple(dataclasses.replace(c, observed=observed) if c.id == "cost-per-1k" else c
                   for c in result.checks)
    return dataclasses.replace(result, checks=checks)


def cost_check(result: Result) -> CheckResult:
    return next(c for c in result.checks if c.id == "cost-per-1k")


def test_text_shows_the_breakdown_under_the_cost_check() -> None:
    lines = text.render(with_breakdown(OBSERVED)).splitlines()
    at = next(i for i, line in enumerate(lines) if "cost-per-1k" in line)
    assert lines[at + 1:at + 3] == [" " * 9 + BREAKDOWN, " " * 9 + GPUS]
    assert "e-0" not in "\n".join(lines[at:at + 3])


def test_each_operating_point_and_a_missing_currency_read_plainly() -> None:
    capacity = {**OBSERVED, "currency": None, "accelerators": {"gpus_per_replica": 2,
                                                               "gpu_per_hour": 2.5,
                                                               "utilisation": None},
                "operating_point": {"price_at": "capacity", "rate_rps": 412.5, "replicas": 1,
                                    "capacity_rps": 412.5}}
    assert cost_lines(cost_check(with_breakdown(capacity))) == [
        BREAKDOWN.replace("(EUR) at declared traffic 500/s on 3 replicas (capacity 200/s, "
                          "headroom 1.2)", "(currency not declared) at capacity 412.5/s on "
                          "1 replica"),
        "GPUs: 2 per replica at 2.5/h each, utilisation not measured"]
    offered = {k: v for k, v in OBSERVED.items() if k != "accelerators"}
    offered["operating_point"] = {"price_at": "offered", "rate_rps": 20, "replicas": 1}
    assert cost_lines(cost_check(with_breakdown(offered)))[0].startswith(
        "cost per 1k (EUR) at the offered rate 20/s on 1 replica: compute 0.000012,")


def test_checks_without_a_breakdown_show_nothing_more() -> None:
    # The shared sample's cost check predates breakdowns: it renders as before.
    assert cost_lines(cost_check(sample_result())) == []
    edited = {**OBSERVED, "operating_point": {"price_at": "somewhere", "rate_rps": 1}}
    assert cost_lines(cost_check(with_breakdown(edited)))[0].startswith(
        "cost per 1k (EUR) at price_at somewhere, rate_rps 1: ")


def test_chromium_shows_the_breakdown_in_the_observed_cell(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(html.render(with_breakdown(OBSERVED)), encoding="utf-8")
    dom = Elements(render_page(page, tmp_path / "report.png").dom)
    assert BREAKDOWN in dom.lines and GPUS in dom.lines
    at = dom.lines.index(BREAKDOWN)
    assert dom.lines[at - 1].startswith("0.0000163991 per 1k")  # the check's message cell
    assert "e-0" not in dom.text
