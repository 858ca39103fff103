"""``--cache-proof --api ...`` judged against the loopback target, which knows the truth: what
its prefix cache skipped for every request, its own counters on /metrics, and which prompts
its toy semantic cache answered from which stored answer."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from examples.llm_target import Law, LlmTarget, normalised_words, similarity
from gatekeeper.cli import run
from gatekeeper.evaluate.interface import Status
from gatekeeper.evaluate.metric_threshold import MetricThreshold, evaluate
from gatekeeper.evidence.interface import LinkedRun
from gatekeeper.probe.llm.cache_proof import TOLERANCE, Tokens, judge_prefix
from gatekeeper.probe.llm.semantic import prove_semantic, read_pair
from tests.evaluate.conftest import COMMON, evidence

# One 60-word prompt, sent again and again: the first request prefills it all, every later
# one finds three 16-word blocks (48 tokens) in the prefix cache.
PROMPT = " ".join(f"word{i}" for i in range(60))
PAIRS = [  # with the toy semantic cache at 0.7 (Jaccard of normalised word sets)
    # same words after normalising: a correct hit
    {"first": "What is the capital of France?", "second": "what is the capital of FRANCE",
     "label": "same"},
    # 5 of 7 words shared (0.71): a hit serving the ocean's answer for the desert, a wrong one
    {"first": "Name the largest ocean on Earth", "second": "Name the largest desert on Earth",
     "label": "different"},
    # 5 of 10 (0.5): a paraphrase the cache misses
    {"first": "How do I bake bread at home", "second": "Tell me how to bake bread at home",
     "label": "same"},
    # nothing shared: a correct miss
    {"first": "Best hiking trails in Norway", "second": "Quantum computing explained simply",
     "label": "different"},
]


def write_mix(tmp_path: Path, prompt: str = PROMPT) -> Path:
    mix = tmp_path / "prompts.jsonl"
    mix.write_text(json.dumps({"endpoint": "chat", "prompt": prompt, "max_tokens": 4,
                               "ignore_eos": True, "model": "law-1"}) + "\n")
    return mix


def write_pairs(tmp_path: Path, pairs: list[dict[str, Any]] = PAIRS) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return path


def cache_proof(url: str, out: Path, mix: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = run(["probe", url, "--api", "openai-chat", "--mix", str(mix), "--cache-proof",
                "--rate", "20", "--duration", "2s", "--warmup", "0.5s", "--min-samples", "5",
                "--out", str(out), *extra])
    return code, json.loads((out / "result.json").read_text())


def test_prefix_hit_ratio_from_usage_and_server_counters_agree_with_the_truth(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = LlmTarget(Law(prefill_s_per_token=0.0001, decode_s=0.002))
    with target as url:
        code, result = cache_proof(url, tmp_path / "out", write_mix(tmp_path),
                                   "--server-metrics", f"{url}/metrics")
    served = target.served
    truth_all = sum(s.cached_tokens for s in served) / sum(s.prompt_tokens for s in served)
    assert served[0].cached_tokens == 0 and served[1].cached_tokens == 48  # the law
    prefix = result["llm_cache_proof"]["prefix"]
    assert prefix["status"] == "agree"
    assert prefix["all"]["prompt_tokens"] == sum(s.prompt_tokens for s in served)
    assert prefix["all"]["hit_ratio"] == pytest.approx(truth_all)
    assert prefix["server_hit_ratio"] == pytest.approx(target.counters.cache_hits
                                                       / target.counters.cache_queries)
    metrics = result["metrics"]
    # Warm-up excluded: only the first request missed, so the measured ratio is 48/60.
    assert metrics["cache.prefix.hit_ratio"] == pytest.approx(0.8)
    assert metrics["cache.prefix.server_hit_ratio"] == pytest.approx(truth_all)
    assert metrics["cache.prefix.difference"] <= TOLERANCE
    assert metrics["cache.prefix.agree"] == 1.0
    assert code == 0, result["problems"]
    assert "prefix cache: hit ratio 0.800 by usage, server" in capsys.readouterr().out


def test_an_all_zero_prefix_reading_is_an_error_and_logs_no_ratio_to_gate_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with LlmTarget(Law(decode_s=0.002, cache_block=1000)) as url:  # blocks longer than prompts
        code, result = cache_proof(url, tmp_path / "out", write_mix(tmp_path),
                                   "--server-metrics", f"{url}/metrics")
    assert code == 1
    assert result["llm_cache_proof"]["prefix"]["status"] == "error"
    assert "cache.prefix.hit_ratio" not in result["metrics"]
    assert result["metrics"]["cache.prefix.agree"] == 0.0
    assert any(p.startswith("prefix cache: error: no cached prompt tokens")
               for p in result["problems"])
    assert "ERROR" in capsys.readouterr().out


@pytest.mark.parametrize(("client", "server", "status"), [
    (Tokens(100, 50), {"server.prefix_cache.hit_ratio": 0.5,
                       "server.prefix_cache_hits.delta": 50.0}, "agree"),
    (Tokens(100, 50), {"server.prefix_cache.hit_ratio": 0.54,
                       "server.prefix_cache_hits.delta": 54.0}, "agree"),  # within
    (Tokens(100, 50), {"server.prefix_cache.hit_ratio": 0.6,
                       "server.prefix_cache_hits.delta": 60.0}, "disagree"),
    (Tokens(100, 50), {"server.prefix_cache.hit_ratio": 0.0,
                       "server.prefix_cache_hits.delta": 0.0}, "error"),
    (Tokens(100, 50), {"server.requests_ok.delta": 3.0}, "error"),  # no prefix counters
    (Tokens(100, 0), {"server.prefix_cache.hit_ratio": 0.5,
                      "server.prefix_cache_hits.delta": 50.0}, "error"),
    (Tokens(100, 50), None, "client-only"),
])
def test_the_prefix_verdict(client: Tokens, server: dict[str, float] | None, status: str
                            ) -> None:
    verdict = judge_prefix(client, client, server, TOLERANCE)
    assert verdict.status == status
    assert ("cache.prefix.hit_ratio" in verdict.metrics()) is (status != "error")


def expected(pairs: list[dict[str, Any]], threshold: float) -> tuple[int, int]:
    """(hits, correct hits) of the pairs by the toy cache's own rule, asked in order."""
    stored: list[tuple[frozenset[str], int]] = []  # words, index of the pair that stored it
    hits = correct = 0
    for index, pair in enumerate(pairs):
        for which in ("first", "second"):
            words = normalised_words(pair[which])
            scores = [(similarity(words, key), owner) for key, owner in stored]
            best = max((s for s in scores if s[0] >= threshold), default=None)
            if best is None:
                stored.append((words, index))
            elif which == "second":
                hits += 1
                correct += best[1] == index and pair["label"] == "same"
    return hits, correct


def test_semantic_hit_rate_and_precision_count_a_wrong_hit_against_precision() -> None:
    assert expected(PAIRS, 0.7) == (2, 1)  # the test's own reading of the cache's rule
    target = LlmTarget(Law(decode_s=0.001, semantic_threshold=0.7))
    pairs = [read_pair({**p, "model": "law-1"}) for p in PAIRS]
    with target as url:
        proof = prove_semantic(url, "openai-chat", pairs)
    assert target.semantic is not None and target.semantic.hits == 2  # the server's count
    assert (proof.hits, proof.correct, proof.wrong) == (2, 1, 1)
    assert proof.hit_rate == 0.5 and proof.precision == 0.5 and proof.same_hit_rate == 0.5
    assert proof.status == "measured" and proof.unlabelled_answers == 0
    [wrong] = proof.to_dict()["wrong"]
    assert wrong["second"] == "Name the largest desert on Earth"
    # The wrong hit served the ocean's answer: the answers name the request that made them.
    assert proof.outcomes[1].second.text == proof.outcomes[1].first.text
    assert len(target.served) == 6  # 8 prompts, 2 answered by the cache: never served


def test_semantic_proof_through_the_cli_logs_and_gates(tmp_path: Path) -> None:
    with LlmTarget(Law(decode_s=0.001, semantic_threshold=0.7)) as url:
        code, result = cache_proof(url, tmp_path / "out", write_mix(tmp_path),
                                   "--semantic-pairs", str(write_pairs(tmp_path)))
    semantic = result["llm_cache_proof"]["semantic"]
    assert (semantic["hits"], semantic["wrong_hits"], semantic["pairs"]) == (2, 1, 4)
    metrics = result["metrics"]
    assert metrics["cache.semantic.hit_rate"] == 0.5
    assert metrics["cache.semantic.hit_precision"] == 0.5
    assert code == 0, result["problems"]

    def gate(key: str, minimum: float, found: dict[str, float]) -> Status:
        check = MetricThreshold(**{**COMMON, "category": "latency",
                                   "kind": "metric_threshold", "source": "probe",
                                   "profile": "cache-proof", "key": key, "min": minimum})
        probe = {"probe.held_target_rate": 1.0, **found}
        return evaluate(check, evidence(
            {}, probe_runs={"cache-proof": LinkedRun("p1", probe)})).status

    assert gate("cache.semantic.hit_precision", 0.9, metrics) is Status.FAIL
    assert gate("cache.semantic.hit_rate", 0.4, metrics) is Status.PASS
    assert gate("cache.prefix.hit_ratio", 0.5, metrics) is Status.PASS
    without = {k: v for k, v in metrics.items() if k != "cache.prefix.hit_ratio"}
    assert gate("cache.prefix.hit_ratio", 0.5, without) is Status.ERROR


def test_a_cache_that_never_hits_is_an_error(tmp_path: Path) -> None:
    with LlmTarget(Law(decode_s=0.001, semantic_threshold=0.99)) as url:
        code, result = cache_proof(url, tmp_path / "out", write_mix(tmp_path),
                                   "--semantic-pairs",
                                   str(write_pairs(tmp_path, PAIRS[1:])))
    assert result["llm_cache_proof"]["semantic"]["status"] == "error"
    assert "cache.semantic.hit_rate" not in result["metrics"]
    assert "cache.semantic.hit_precision" not in result["metrics"]
    assert code == 1
    assert math.isnan(prove_semantic("http://127.0.0.1:9", "openai-chat", ()).precision)


@pytest.mark.parametrize(("lines", "message"), [
    ('{"first": "a", "second": "b", "label": "maybe"}\n',
     "PAIRS:1:1: label: required, 'same' or 'different'"),
    ('{"first": "a", "label": "same"}\nnot json\n', "PAIRS:1:1: second: required, a non-empty "
     "string"),
])
def test_bad_pairs_are_one_line_naming_file_and_line(
        tmp_path: Path, lines: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(lines)
    assert run(["probe", "http://127.0.0.1:9", "--api", "openai-chat", "--mix",
                str(write_mix(tmp_path)), "--rate", "1", "--cache-proof",
                "--semantic-pairs", str(pairs)]) == 2
    err = capsys.readouterr().err
    assert message.replace("PAIRS", str(pairs)) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--semantic-pairs", "PAIRS"], "gatekeeper: error: --semantic-pairs: needs --cache-proof"),
    (["--cache-proof", "--redis-url", "redis://x"], "gatekeeper: error: --redis-url: "
     "--cache-proof of an LLM api runs no search and reads no Redis (docs/llm.md)"),
])
def test_llm_cache_proof_flags_refused_in_one_line(
        tmp_path: Path, args: list[str], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    pairs = write_pairs(tmp_path)
    args = [str(pairs) if a == "PAIRS" else a for a in args]
    assert run(["probe", "http://127.0.0.1:9", "--api", "openai-chat", "--mix",
                str(write_mix(tmp_path)), "--rate", "1", *args]) == 2
    assert capsys.readouterr().err.splitlines()[0] == message
