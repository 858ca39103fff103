"""`gatekeeper probe --api openai-chat` end to end: the LLM target with half its requests
stalled past the TTFT SLO, the token metrics and the workload's fingerprint logged to a real
SQLite MLflow registry, and `gatekeeper check` gating on TTFT, TPOT and goodput."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.llm_target import Law, LlmTarget
from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from tests.probe.llm.chatbot import chatbot_playbook, check
from tests.support.registry import seed_version

MIX = json.dumps({"endpoint": "chat", "prompt_tokens": 30, "max_tokens": 12,
                  "sampling": {"temperature": 0}, "ignore_eos": True, "model": "law-1"}) + "\n"
SERIES = ("ttft", "tpot", "itl", "ntpot", "latency")
KEYS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")


PASSING = """\
      - {id: ttft, kind: latency, category: latency, owner: platform, endpoint: chat,
         source: probe, metric: ttft, p99_ms: 5000}
      - {id: tpot, kind: latency, category: latency, owner: platform, endpoint: chat,
         source: probe, metric: tpot, p99_ms: 100}
      - {id: goodput, kind: latency, category: latency, owner: platform, endpoint: chat,
         source: probe, min_goodput_rps: 4}
"""
# Half the requests wait 500 ms before their first token: TTFT p95 is far above 100 ms, and
# only half of the ~20/s meet the 300 ms TTFT SLO.
BLOCKING = """\
      - {id: ttft, kind: latency, category: latency, owner: platform, endpoint: chat,
         source: probe, metric: ttft, p95_ms: 100}
      - {id: goodput, kind: latency, category: latency, owner: platform, endpoint: chat,
         source: probe, min_goodput_rps: 15}
"""


def test_probe_logs_token_metrics_and_the_gate_reads_them(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "chatbot", metrics={"accuracy": 0.9})
    mix = tmp_path / "mix.jsonl"
    mix.write_text(MIX)
    out = tmp_path / "probe"
    target = LlmTarget(Law(prefill_s_per_token=0.0002, decode_s=0.002, stall_every=2,
                           stall_s=0.5))
    with target as url:
        code = run(["probe", url, "--api", "openai-chat", "--mix", str(mix), "--rate", "20",
                    "--duration", "3s", "--warmup", "0.5s", "--min-samples", "20",
                    "--slo-ttft-ms", "300", "--model", "chatbot", "--version", version,
                    "--tracking-uri", tracking_uri, "--out", str(out)])
    printed = capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    assert code == (0 if result["usable"] else 1), result["problems"]
    [chat] = result["llm"]["endpoints"]
    assert f"goodput {result['metrics']['goodput.chat_rps']:,.2f}/s ({chat['goodput']['good']} " \
        f"of {chat['requests']} met TTFT <= 300 ms)" in printed
    # The stall hits every second request the server saw: goodput is half of them, to one
    # request (the warm-up boundary may split a pair).
    assert abs(chat["goodput"]["good"] - chat["requests"] / 2) <= 1
    workload = result["workload"]
    assert workload["api"] == "openai-chat" and workload["models_reported"] == ["law-1"]
    assert workload["max_tokens"]["p50"] == 12 and workload["sampling"] == ['{"temperature": 0}']

    client = mlflow_client(tracking_uri)
    logged = client.get_run(result["mlflow"]["run_id"])
    metrics, params = logged.data.metrics, logged.data.params
    for series in SERIES:
        for key in KEYS:
            assert f"{series}.chat.{key}" in metrics, (series, key)
    assert metrics["tokens.chat.output_per_s"] == pytest.approx(
        result["metrics"]["tokens.chat.output_per_s"])
    assert metrics["goodput.chat_rps"] == pytest.approx(result["metrics"]["goodput.chat_rps"])
    assert metrics["ttft.chat.p99_ms"] >= 500  # the stalled half
    assert params["probe.workload.api"] == "openai-chat"
    assert params["probe.workload.digest"] == workload["digest"]
    if not result["usable"]:  # an unusable run is never linked, so never judged
        return

    passing = chatbot_playbook(tmp_path, "pass", PASSING)
    assert check(passing, tracking_uri, version, "poc", tmp_path)["decision"] == "pass"
    passed = check(passing, tracking_uri, version, "serve", tmp_path)
    assert passed["decision"] == "pass", passed["checks"]
    ttft = next(c for c in passed["checks"] if c["id"] == "ttft")
    assert ttft["evidence"]["p99_ms"].endswith("/metrics/ttft.chat.p99_ms")
    assert ttft["message"].startswith("chat: TTFT p99 = ")
    goodput = next(c for c in passed["checks"] if c["id"] == "goodput")
    assert goodput["observed"]["goodput_rps"] == pytest.approx(metrics["goodput.chat_rps"])

    blocked = check(chatbot_playbook(tmp_path, "block", BLOCKING), tracking_uri, version,
                    "serve", tmp_path)
    assert blocked["decision"] == "block"
    by_id = {c["id"]: c for c in blocked["checks"]}
    assert by_id["ttft"]["status"] == "fail", by_id["ttft"]
    assert by_id["ttft"]["message"].startswith("chat: TTFT p95 = ")
    assert by_id["goodput"]["status"] == "fail", by_id["goodput"]
    assert "goodput" in by_id["goodput"]["message"] and "< 15/s" in by_id["goodput"]["message"]
