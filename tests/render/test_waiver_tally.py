"""Every output format shows the waivers' own tally when the run had --waivers (and the
waived check apart in its state counts), rendered from the shared sample result."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gatekeeper.decide.result import Result, WaiverFileRef, WaiverNote, WaiverReport
from gatekeeper.render import FORMATS
from tests.support.results import sample_result

REPORT = WaiverReport(
    files=(WaiverFileRef("waivers.yaml", "sha256:" + "9" * 64),),
    used=(WaiverNote("W-7", "waivers.yaml:2", ("pii-findings",)),),
    ignored=(WaiverNote("W-9", "waivers.yaml:14", ("latency-predict",), "expired 2026-12-01"),),
    unmatched=(WaiverNote("W-10", "waivers.yaml:26", (), "no check of milestone serve "
                                                         "matches 'gpu-*'"),))


def waived() -> Result:
    return replace(sample_result(), waivers=REPORT)


@pytest.mark.parametrize("name", ["text", "markdown", "html", "github", "junit"])
def test_readable_and_ci_formats_show_the_waiver_tally(name: str) -> None:
    assert "1 used, 1 ignored, 1 unmatched" in FORMATS[name](waived())
    assert "1 used, 1 ignored" not in FORMATS[name](sample_result())


def test_text_lists_each_waiver_that_did_nothing_and_why() -> None:
    lines = FORMATS["text"](waived()).splitlines()
    assert lines[-4:-1] == [
        "waivers: 1 used, 1 ignored, 1 unmatched",
        "  W-9 (waivers.yaml:14) ignored: expired 2026-12-01",
        "  W-10 (waivers.yaml:26) matched nothing: no check of milestone serve matches 'gpu-*'"]


def test_json_and_sarif_carry_the_whole_waiver_report() -> None:
    data = json.loads(FORMATS["json"](waived()))
    assert data["waivers"]["ignored"][0] == {"id": "W-9", "where": "waivers.yaml:14",
                                             "checks": ["latency-predict"],
                                             "note": "expired 2026-12-01"}
    assert Result.from_dict(data) == waived()
    sarif = json.loads(FORMATS["sarif"](waived()))
    assert sarif["runs"][0]["properties"]["waivers"] == data["waivers"]
    assert sarif["runs"][0]["properties"]["summary"]["waived"] == 1
