"""The ``latency`` check's ``metric`` and ``min_goodput_rps`` on an LLM run's metrics, and the
LLM flags of `gatekeeper probe` refused in one line (exit 2) before anything is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from gatekeeper.cli import run
from gatekeeper.evaluate.interface import Status
from gatekeeper.evaluate.latency import Latency, evaluate
from tests.evaluate.conftest import COMMON, evidence

PROBE = {"probe.held_target_rate": 1.0}


def spec(**fields: Any) -> Latency:
    return Latency(**{**COMMON, "category": "latency", "kind": "latency", "endpoint": "chat",
                      "source": "probe", **fields})


def judged(check: Latency, metrics: dict[str, float]) -> tuple[Status, str]:
    outcome = evaluate(check, evidence({}, probe_run_id="p9",
                                       probe_metrics={**PROBE, **metrics}))
    return outcome.status, outcome.message


def test_metric_picks_the_series_the_percentiles_are_of() -> None:
    metrics = {"latency.chat.p99_ms": 900.0, "ttft.chat.p99_ms": 120.0,
               "tpot.chat.p99_ms": 30.0}
    assert judged(spec(metric="ttft", p99_ms=150), metrics) == (
        Status.PASS, "chat: TTFT p99 = 120 ms <= 150 ms (probe run p9)")
    assert judged(spec(metric="tpot", p99_ms=20), metrics) == (
        Status.FAIL, "chat: TPOT p99 = 30 ms > 20 ms (probe run p9)")
    assert judged(spec(p99_ms=150), metrics)[0] is Status.FAIL  # e2e: latency.chat.*
    assert judged(spec(metric="itl", p99_ms=150), metrics) == (
        Status.ERROR, "chat: metric 'itl.chat.p99_ms' not found on probe run p9")


def test_min_goodput_rps_fails_below_and_reads_the_run_goodput() -> None:
    check = spec(min_goodput_rps=10)
    assert judged(check, {"goodput.chat_rps": 12.5}) == (
        Status.PASS, "chat: goodput 12.5/s >= 10/s (probe run p9)")
    assert judged(check, {"goodput.chat_rps": 9.5}) == (
        Status.FAIL, "chat: goodput 9.5/s < 10/s (probe run p9)")
    assert judged(check, {})[0] is Status.ERROR
    both = spec(metric="ttft", p99_ms=100, min_goodput_rps=10)
    assert judged(both, {"ttft.chat.p99_ms": 50.0, "goodput.chat_rps": 5.0}) == (
        Status.FAIL, "chat: TTFT p99 = 50 ms <= 100 ms, goodput 5/s < 10/s (probe run p9)")


def test_unset_new_keys_leave_the_dump_and_so_the_digest_unchanged() -> None:
    dumped = spec(p99_ms=80).model_dump()
    assert "metric" not in dumped and "min_goodput_rps" not in dumped
    assert spec(metric="ttft", p99_ms=80).model_dump()["metric"] == "ttft"


def test_metric_and_metric_template_together_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="set 'metric' or 'metric_template'"):
        spec(metric="ttft", p99_ms=80, metric_template="x.{endpoint}.p{percentile}")


@pytest.fixture
def llm_mix(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"endpoint": "chat", "prompt": "hi", "max_tokens": 4}\n')
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["--api", "openai-chat", "--endpoint", "a", "--rate", "1"],
     "gatekeeper: error: --api openai-chat: give the prompts with --mix, not --endpoint or "
     "--body"),
    (["--endpoint", "a", "--rate", "1", "--slo-ttft-ms", "100"],
     "gatekeeper: error: --slo-ttft-ms: needs --api (an LLM api)"),
    (["--api", "openai-chat", "MIX", "--rate", "1", "--engine", "locust"],
     "gatekeeper: error: --api openai-chat: streams on the built-in engine only; drop --engine"),
    (["--api", "openai-chat", "MIX", "--rate", "1", "--slo-tpot-ms", "-1"],
     "gatekeeper: error: --slo-tpot-ms: must be a positive number, got -1"),
    (["--api", "openai-chat", "MIX", "--rate", "1", "--find-capacity", "--slo-p99-ms", "9"],
     "gatekeeper: error: --api openai-chat --find-capacity: judged by goodput; give "
     "--slo-ttft-ms, --slo-tpot-ms or --slo-e2e-ms, not --slo-p99-ms"),
])
def test_bad_llm_flags_are_one_line(args: list[str], message: str, llm_mix: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    args = [a for arg in args for a in (["--mix", str(llm_mix)] if arg == "MIX" else [arg])]
    assert run(["probe", "http://127.0.0.1:9", *args]) == 2
    assert capsys.readouterr().err.splitlines()[0] == message


def test_a_bad_llm_mix_names_file_line_and_key(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    mix = tmp_path / "prompts.jsonl"
    mix.write_text('{"endpoint": "chat", "prompt": "hi", "max_tokens": 4}\n'
                   '{"endpoint": "chat", "prompt": "hi"}\n')
    assert run(["probe", "http://127.0.0.1:9", "--api", "kserve-v2", "--mix", str(mix),
                "--rate", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{mix}:1:1: model: required with --api kserve-v2 (the path names the model)" in err
    assert f"{mix}:2:1: max_tokens: required, a whole number >= 1" in err
    assert "docs/llm.md describes the LLM mix format" in err
    assert "Traceback" not in err
