"""`baseline_comparison` with `same_workload: true` end to end: two LLM probe runs logged to a
real SQLite MLflow registry, their fingerprints read back from the probe runs' params, and
`gatekeeper check` refusing to compare runs of different workloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from examples.llm_target import Law, LlmTarget
from gatekeeper.cli import run
from tests.probe.llm.chatbot import ACCURACY, chatbot_playbook, check, check_result
from tests.support.registry import seed_version

LAW = Law(prefill_s_per_token=0.0002, decode_s=0.002)
TTFT_AGAINST_CHAMPION = """\
      - {id: ttft, kind: baseline_comparison, category: latency, owner: platform,
         baseline: champion, metric: ttft.chat.p99_ms, greater_is_better: false,
         max_regression: 100000, same_workload: true}
"""


def probe(url: str, folder: Path, tracking_uri: str, version: str, max_tokens: int) -> None:
    mix = folder / f"mix-{version}.jsonl"
    mix.write_text(json.dumps({"endpoint": "chat", "prompt_tokens": 30, "max_tokens": max_tokens,
                               "ignore_eos": True, "model": "law-1"}) + "\n")
    code = run(["probe", url, "--api", "openai-chat", "--mix", str(mix), "--rate", "10",
                "--duration", "1.5s", "--warmup", "0.3s", "--min-samples", "5", "--model",
                "chatbot", "--version", version, "--tracking-uri", tracking_uri, "--out",
                str(folder / version)])
    assert code == 0


def ttft_check(book: Path, tracking_uri: str, version: str, folder: Path) -> dict[str, Any]:
    return check_result(check(book, tracking_uri, version, "poc", folder), "ttft")


def test_runs_of_different_workloads_are_refused_and_like_runs_compared(
        tracking_uri: str, tmp_path: Path) -> None:
    champion = seed_version(tracking_uri, "chatbot", metrics={"accuracy": 0.9},
                            aliases=["champion"])
    same = seed_version(tracking_uri, "chatbot", metrics={"accuracy": 0.9})
    other = seed_version(tracking_uri, "chatbot", metrics={"accuracy": 0.9})
    with LlmTarget(LAW) as url:
        probe(url, tmp_path, tracking_uri, champion, 8)
        probe(url, tmp_path, tracking_uri, same, 8)
        probe(url, tmp_path, tracking_uri, other, 16)
    book = chatbot_playbook(tmp_path, "book", ACCURACY, poc_checks=TTFT_AGAINST_CHAMPION)

    compared = ttft_check(book, tracking_uri, same, tmp_path)
    assert compared["status"] == "pass", compared
    assert compared["message"].endswith("(probe runs, same workload)")

    refused = ttft_check(book, tracking_uri, other, tmp_path)
    assert refused["status"] == "error", refused
    assert refused["message"].startswith(f"different workloads, not compared: candidate v{other}")
    assert "max_tokens: " in refused["message"] and '"max": 16' in refused["message"]
    assert '"max": 8' in refused["message"]
