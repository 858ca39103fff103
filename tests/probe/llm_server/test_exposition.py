"""The strict exposition parser reads what prometheus_client writes exactly as
prometheus_client's own parser does, and names the line of what it cannot read."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatekeeper.probe.server_metrics.exposition import ExpositionError, parse_exposition
from tests.probe.llm_server.pages import VllmServer

FIXTURES = Path(__file__).parent / "fixtures"


def reference(text: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return sorted((bare(s.name), tuple(sorted(s.labels.items())), s.value)
                  for family in text_string_to_metric_families(text) for s in family.samples)


def bare(name: str) -> str:
    """prometheus_client's parser renames a counter without ``_total`` (Triton's) to one with
    it; the server's own name is the one to look up, so ours keeps it: compare without."""
    return name.removesuffix("_total")


@pytest.mark.parametrize("page", ["vllm", "triton_before.prom", "dcgm.prom"])
def test_every_sample_equals_prometheus_clients_reading(page: str) -> None:
    if page == "vllm":
        server = VllmServer()
        server.ttft.observe(0.03)
        server.waiting.set(4)
        server.hits.inc(7)
        text = server.page()
    else:
        text = (FIXTURES / page).read_text()
    ours = sorted((bare(s.name), s.labels, s.value) for s in parse_exposition(text).samples)
    assert ours == reference(text) and len(ours) > 5


def test_types_escapes_special_values_and_timestamps() -> None:
    text = ('# HELP x a help line with "quotes"\n# TYPE x gauge\n'
            'x{path="C:\\\\dir",say="a \\"b\\"\\nc"} +Inf 1700000000000\n'
            'x{path="", say="n"} NaN\ny 1e-3\n')
    scrape = parse_exposition(text)
    assert scrape.types == {"x": "gauge"}
    first, second, third = scrape.samples
    assert first.labels == (("path", "C:\\dir"), ("say", 'a "b"\nc')) and first.value == math.inf
    assert second.label("path") == "" and math.isnan(second.value)
    assert third.name == "y" and third.value == 0.001


@pytest.mark.parametrize(("text", "message"), [
    ("ok 1\nbad{le=0.1} 2\n", "line 2: bad label at column 5"),
    ("x{a=\"1\" 2\n", "line 1: expected ',' or '}' at column 9"),
    ("x one\n", "line 1: x: 'one' is not a number"),
    ("x{a=\"1\",a=\"2\"} 1\n", "line 1: label 'a' given twice"),
    ("x{a=\"\\t\"} 1\n", "line 1: bad escape '\\t' in a label value"),
    ("x\n", "line 1: x: expected a value (and an optional timestamp)"),
    ("{a=\"1\"} 1\n", "line 1: expected a metric name"),
])
def test_a_bad_line_is_named(text: str, message: str) -> None:
    with pytest.raises(ExpositionError) as caught:
        parse_exposition(text)
    assert str(caught.value).startswith(message)
