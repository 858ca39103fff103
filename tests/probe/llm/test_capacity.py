"""`gatekeeper probe --api openai-chat --find-capacity` against the LLM target with a known
knee: four slots, each request holding one for its prefill and decode, so above
slots / service time requests queue and TTFT grows without bound. The search must find the
knee, log the capacity and the cost per 1,000,000 tokens there to a real SQLite MLflow
registry, and `gatekeeper check` must gate on that cost (`cost` with per: 1m_output_tokens)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.llm_target import Law, LlmTarget
from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from tests.probe.llm.chatbot import chatbot_playbook, check, check_result
from tests.support.registry import seed_version

PROMPT_WORDS, MAX_TOKENS = 20, 8
LAW = Law(prefill_s_per_token=0.0002, decode_s=0.01, decode_growth=0.0, slots=4)
MIX = json.dumps({"endpoint": "chat", "prompt_tokens": PROMPT_WORDS, "max_tokens": MAX_TOKENS,
                  "ignore_eos": True, "model": "law-1"}) + "\n"
# One repeated prompt: after the first request its first 16-word block is a prefix-cache hit,
# so only the rest is prefilled.
CACHED = PROMPT_WORDS // LAW.cache_block * LAW.cache_block
SERVICE_S = LAW.prefill_s_per_token * (PROMPT_WORDS - CACHED) + MAX_TOKENS * LAW.decode_s
KNEE_RPS = LAW.slots / SERVICE_S  # ~49.5/s: beyond it the queue grows every second
HOURLY, INPUT_SHARE = 3.6, 0.25


def playbook(folder: Path, budget: float) -> Path:
    """The serve milestone gates on the cost of 1M output tokens against ``budget``."""
    return chatbot_playbook(
        folder, f"cost-{budget:g}",
        "      - {id: tokens, kind: cost, category: cost, owner: platform, "
        f"per: 1m_output_tokens, budget_per_1m_tokens: {budget}}}\n",
        head=f"cost_model: {{currency: EUR, hardware_per_hour: {HOURLY}, "
             f"input_token_cost_share: {INPUT_SHARE}}}\n")


def test_capacity_is_found_at_the_knee_and_its_tokens_are_priced(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "chatbot", metrics={"accuracy": 0.9})
    mix = tmp_path / "mix.jsonl"
    mix.write_text(MIX)
    prices = tmp_path / "cost.yaml"
    prices.write_text(f"currency: EUR\nhardware_per_hour: {HOURLY}\n"
                      f"input_token_cost_share: {INPUT_SHARE}\n")
    out = tmp_path / "probe"
    with LlmTarget(LAW) as url:
        code = run(["probe", url, "--api", "openai-chat", "--mix", str(mix), "--find-capacity",
                    "--rate", "10", "--duration", "2s", "--warmup", "0.5s", "--min-samples", "10",
                    "--max-steps",
                    "6", "--slo-ttft-ms", "250", "--cost-model", str(prices), "--model",
                    "chatbot", "--version", version, "--tracking-uri", tracking_uri,
                    "--out", str(out)])
    printed = capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    metrics = result["metrics"]
    capacity = metrics["capacity.rps"]
    # Below the knee no request queues; above it every second adds (rate - knee) waiting
    # requests, so TTFT soon passes 250 ms (a loaded machine serves slower, never faster; the
    # SLO leaves room for its pauses below the knee).
    assert 0.4 * KNEE_RPS <= capacity <= 1.3 * KNEE_RPS, (capacity, KNEE_RPS, printed)
    steps = result["capacity"]["steps"]
    assert any(not s["passed"] and s["rate"] > capacity for s in steps), steps
    assert all(s["goodput_share"] < 0.99 for s in steps if not s["passed"])
    assert result["capacity"]["min_goodput_share"] == 0.99
    assert f"capacity at goodput share >= 0.99 (TTFT <= 250 ms): {capacity:,.1f}/s" in printed
    assert code == 0, result["problems"]

    # Cost per 1M output tokens: the hour's price, less the input share, over an hour of
    # output tokens at the capacity (every request answers MAX_TOKENS tokens).
    assert metrics["capacity.output_tokens_per_request"] == MAX_TOKENS
    per_1m_output = HOURLY * (1 - INPUT_SHARE) / (capacity * MAX_TOKENS * 3600) * 1e6
    per_1m_input = HOURLY * INPUT_SHARE / (capacity * PROMPT_WORDS * 3600) * 1e6
    assert metrics["cost.per_1m_output_tokens"] == pytest.approx(per_1m_output)
    assert metrics["cost.chat.per_1m_output_tokens"] == pytest.approx(per_1m_output)
    assert metrics["cost.per_1m_input_tokens"] == pytest.approx(per_1m_input)
    assert "per 1,000,000 output tokens" in printed

    logged = mlflow_client(tracking_uri).get_run(result["mlflow"]["run_id"])
    assert logged.data.tags.get("gatekeeper.probe.profile", "capacity") == "capacity"
    assert logged.data.metrics["capacity.rps"] == capacity
    assert logged.data.metrics["cost.chat.per_1m_output_tokens"] == pytest.approx(per_1m_output)
    assert logged.data.params["probe.workload.api"] == "openai-chat"

    book = playbook(tmp_path, round(per_1m_output * 1.5, 4))
    assert check(book, tracking_uri, version, "poc", tmp_path)["decision"] == "pass"
    passed = check_result(check(book, tracking_uri, version, "serve", tmp_path), "tokens")
    assert passed["status"] == "pass", passed
    assert passed["observed"]["per_1m_tokens"] == pytest.approx(per_1m_output)
    assert passed["evidence"]["tokens_per_request"].endswith(
        "/metrics/capacity.output_tokens_per_request")
    blocked = check_result(check(playbook(tmp_path, round(per_1m_output * 0.5, 4)),
                                 tracking_uri, version, "serve", tmp_path), "tokens")
    assert blocked["status"] == "fail" and "per 1M output tokens > budget" in blocked["message"]


def test_an_llm_search_refuses_a_p99_slo_and_the_share_needs_a_search(tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    mix = tmp_path / "mix.jsonl"
    mix.write_text(MIX)
    base = ["probe", "http://127.0.0.1:9", "--api", "openai-chat", "--mix", str(mix)]
    assert run([*base, "--find-capacity", "--slo-p99-ms", "100"]) == 2
    assert "--slo-p99-ms" in capsys.readouterr().err
    assert run([*base, "--min-goodput-share", "0.9"]) == 2
    assert "--min-goodput-share: needs --find-capacity" in capsys.readouterr().err
    assert run([*base, "--find-capacity", "--min-goodput-share", "1.5"]) == 2
    assert "--min-goodput-share: must be above 0" in capsys.readouterr().err
