"""The LLM importers map each tool's names onto ours (AIPerf's ITL is our TPOT, GuideLLM's
TPOT our NTPOT ...), through the one IMPORTERS registry; a bad file is one line naming the file
and the key. These fixtures are hand-written from each tool's documented schema; files the tools
wrote are checked in test_real_tool_outputs.py (fixtures/PROVENANCE.md says which is which)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from gatekeeper.errors import InvalidInputError
from gatekeeper.probe.importers import IMPORTERS
from gatekeeper.probe.llm_import.common import LlmEndpointReport, llm_metrics
from gatekeeper.probe.report import ProbeReport

FIXTURES = Path(__file__).parent / "fixtures"


def only(report: ProbeReport) -> LlmEndpointReport:
    (endpoint,) = report.endpoints
    assert isinstance(endpoint, LlmEndpointReport)
    return endpoint


def test_aiperf_inter_token_latency_is_our_tpot_and_its_chunk_gaps_our_itl() -> None:
    e = only(IMPORTERS["aiperf"](FIXTURES / "profile_export_aiperf.json"))
    assert e.latency.p50 == pytest.approx(0.88) and e.latency.p99 == pytest.approx(1.5)
    assert math.isnan(e.latency.p99_9) and e.latency.max == pytest.approx(1.7)
    assert e.token_latency["tpot"].p50 == pytest.approx(0.006)
    assert e.token_latency["itl"].p99 == pytest.approx(0.014)
    assert e.token_latency["ttft"].p90 == pytest.approx(0.18) and "ntpot" not in e.token_latency
    assert (e.samples, e.requests, e.errors["5xx"]) == (490, 500, 10)  # error_summary's code
    assert e.achieved_rps == pytest.approx(10.0) and e.target_rps == 10.0  # stated by AIPerf
    assert e.held_target_rate and e.output_tokens_per_s == pytest.approx(1254.4)
    assert "coordinated omission NOT corrected" in e.percentile_method


def test_genai_perf_has_no_duration_its_request_rate_gives_the_span() -> None:
    e = only(IMPORTERS["aiperf"](FIXTURES / "profile_export_genai_perf.json", target_rps=4.0))
    assert e.achieved_rps == pytest.approx(4.0) and e.held_target_rate
    assert e.token_latency["tpot"].p99 == pytest.approx(0.0165)


def test_guidellm_itl_is_our_tpot_and_its_tpot_our_ntpot() -> None:
    e = only(IMPORTERS["guidellm"](FIXTURES / "benchmarks.json"))
    assert e.latency.p50 == pytest.approx(2.0) and e.latency.p99_9 == pytest.approx(2.9)
    assert e.token_latency["tpot"].p90 == pytest.approx(0.0165)
    assert e.token_latency["ntpot"].p90 == pytest.approx(0.0177)
    assert e.token_latency["ttft"].max == pytest.approx(0.4)
    # 238 ok and 2 errored; the 2 cut off by the end are neither.
    assert (e.samples, e.requests) == (238, 240) and e.target_rps == 4.0
    assert e.achieved_rps == pytest.approx(4.0)  # 240 over the measured 60 s
    assert e.output_tokens_per_s == pytest.approx(30464 / 60)


def test_vllm_bench_serve_maps_one_to_one() -> None:
    e = only(IMPORTERS["vllm-bench"](FIXTURES / "vllm_bench_serve.json"))
    assert e.latency.p95 == pytest.approx(1.68)
    assert e.token_latency["itl"].p99 == pytest.approx(0.04)
    assert e.token_latency["tpot"].p50 == pytest.approx(0.0108)
    assert (e.samples, e.requests, e.target_rps) == (297, 300, 5.0) and e.held_target_rate


def test_inference_perf_seconds_and_status_labels() -> None:
    e = only(IMPORTERS["inference-perf"](FIXTURES / "summary_lifecycle_metrics.json"))
    assert e.latency.p50 == pytest.approx(2.11) and e.latency.p99_9 == pytest.approx(8.9)
    assert e.token_latency["ntpot"].p99 == pytest.approx(0.06)
    assert e.token_latency["ttft"].p90 == pytest.approx(2.26)
    assert e.errors["5xx"] == 2 and e.errors["connection"] == 1  # labels as 0.7.0 writes them
    assert e.target_rps == 10.0 and e.achieved_rps == pytest.approx(10.03)


def test_metrics_and_result_json_carry_our_names() -> None:
    report = IMPORTERS["guidellm"](FIXTURES / "benchmarks.json")
    metrics = llm_metrics(report)
    assert metrics["tpot.all.p90_ms"] == pytest.approx(16.5)
    assert metrics["ntpot.all.p50_ms"] == pytest.approx(16.0)
    assert "itl.all.p50_ms" not in metrics
    llm = json.loads(json.dumps(report.to_dict()))["endpoints"][0]["llm"]
    assert llm["names"]["time_per_output_token_ms"] == "ntpot"
    assert llm["tpot"]["p99_ms"] == pytest.approx(19.0) and llm["tool"] == "guidellm"


def test_a_sweep_keeps_each_rate_apart(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "benchmarks.json").read_text())
    data["benchmarks"].append(data["benchmarks"][0])
    (tmp_path / "b.json").write_text(json.dumps(data))
    report = IMPORTERS["guidellm"](tmp_path / "b.json")
    assert [e.endpoint for e in report.endpoints] == ["b0", "b1"]


@pytest.mark.parametrize(("kind", "fixture", "edit", "message"), [
    ("aiperf", "profile_export_aiperf.json", lambda d: d["request_latency"].update(unit="min"),
     r":\d+:\d+: request_latency\.unit: must be one of ms, us, ns, s, sec, got 'min'$"),
    ("aiperf", "profile_export_aiperf.json", lambda d: d.pop("request_count"),
     r":1:1: request_count\.avg: required: the count of requests that succeeded$"),
    ("guidellm", "benchmarks.json",
     lambda d: d["benchmarks"][0]["metrics"]["request_totals"].update(successful="many"),
     r":\d+:\d+: benchmarks\[0\]\.metrics\.request_totals\.successful: must be a number >= 0, "
     r'got "many"$'),
    ("vllm-bench", "vllm_bench_serve.json",
     lambda d: [d.pop(k) for k in list(d) if "e2el" in k],
     r"no 'p<P>_e2el_ms' or 'median_e2el_ms': run with --percentile-metrics ttft,tpot,itl,e2el$"),
    ("inference-perf", "summary_lifecycle_metrics.json",
     lambda d: d["successes"]["latency"]["time_to_first_token"].update(p90=-1),
     r"successes\.latency\.time_to_first_token\.p90: must be a number >= 0, got -1$"),
])
def test_a_bad_file_is_one_line_naming_the_file_and_key(
        tmp_path: Path, kind: str, fixture: str, edit: object, message: str) -> None:
    data = json.loads((FIXTURES / fixture).read_text())
    edit(data)  # type: ignore[operator]
    path = tmp_path / fixture
    path.write_text(json.dumps(data, indent=1))
    with pytest.raises(InvalidInputError) as caught:
        IMPORTERS[kind](path)  # type: ignore[index]
    text = str(caught.value)
    assert text.startswith(str(path)) and "\n" not in text
    assert caught.value.exit_code == 2
    assert re.search(message, text), text


def test_not_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{\n  "a": 1,\n}\n')
    with pytest.raises(InvalidInputError, match=r"x\.json:3:1: invalid JSON"):
        IMPORTERS["vllm-bench"](path)
