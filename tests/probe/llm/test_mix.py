"""An LLM mix read for each API: bodies built once, every problem named by file and line."""

from __future__ import annotations

import json

import pytest

from gatekeeper.errors import ValidationError
from gatekeeper.probe.llm.mix import LlmMixRequest, parse_llm_mix


def test_an_entry_becomes_a_streamed_request_of_its_api() -> None:
    line = json.dumps({"endpoint": "chat", "prompt": "say hi", "max_tokens": 4,
                       "sampling": {"temperature": 0}, "model": "m", "weight": 2})
    [chat] = parse_llm_mix([line], "mix.jsonl", "openai-chat").requests
    [kserve] = parse_llm_mix([line], "mix.jsonl", "kserve-v2").requests
    assert isinstance(chat, LlmMixRequest) and chat.weight == 2
    assert chat.path == "/v1/chat/completions" and chat.method == "POST"
    assert json.loads(chat.body or b"")["messages"] == [{"role": "user", "content": "say hi"}]
    assert kserve.path == "/v2/models/m/generate_stream"
    assert json.loads(kserve.body or b"")["text_input"] == "say hi"


def test_prompt_tokens_make_up_a_prompt_of_that_length_per_line() -> None:
    lines = [json.dumps({"endpoint": "c", "prompt_tokens": 5, "max_tokens": 1}),
             json.dumps({"endpoint": "c", "prompt_tokens": 5, "max_tokens": 1})]
    first, second = parse_llm_mix(lines, "m", "openai-completions").requests
    assert isinstance(first, LlmMixRequest) and isinstance(second, LlmMixRequest)
    assert first.prompt and second.prompt
    assert first.prompt.words == 5 and first.prompt.text != second.prompt.text


def test_every_problem_is_reported_with_its_line() -> None:
    lines = ['{"endpoint": "c", "prompt": "x"}',
             '{"endpoint": "c", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1}',
             '{"endpoint": "c", "prompt": "x", "max_tokens": 1, "temprature": 1}',
             '{"endpoint": "c", "prompt": "x", "max_tokens": 1}']
    with pytest.raises(ValidationError) as caught:
        parse_llm_mix(lines, "mix.jsonl", "kserve-v2")
    found = {(p.line, p.path) for p in caught.value.problems}
    assert (1, "max_tokens") in found
    assert (2, "messages") in found
    assert (3, "temprature") in found
    assert (4, "model") in found  # kserve-v2 names the model in the path


def test_a_line_that_is_not_a_json_object_is_read_as_in_a_plain_mix() -> None:
    lines = ['{"endpoint": "c", "prompt": "x", "max_tokens": 1}', "{'endpoint': 'c'}", "[1]",
             "[" * 100 + "]" * 100]
    with pytest.raises(ValidationError) as caught:
        parse_llm_mix(lines, "mix.jsonl", "openai-chat")
    found = [(p.line, p.col, p.message) for p in caught.value.problems]
    assert found == [
        (2, 2, "invalid JSON: Expecting property name enclosed in double quotes"),
        (3, 1, "each line must be a JSON object"),
        (4, 1, "nested deeper than 64 levels")]
