"""What one streamed event carries, per API, and how a stream's chunks are tallied."""

from __future__ import annotations

import json

from gatekeeper.probe.llm.protocols import APIS, DONE, Usage
from gatekeeper.probe.llm.stream import Chunks, parse_line

CHAT = APIS["openai-chat"]


def chat_line(delta: dict[str, object], usage: object = None) -> bytes:
    data = {"id": "c", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}], "usage": usage}
    return b"data: " + json.dumps(data).encode() + b"\n"


def test_a_role_only_first_chunk_carries_no_token() -> None:
    delta = parse_line(chat_line({"role": "assistant", "content": ""}), CHAT)
    assert delta is not None and not delta.token
    assert delta.model == "m"


def test_content_reasoning_and_tool_calls_each_carry_a_token() -> None:
    content = parse_line(chat_line({"content": "Hi"}), CHAT)
    reasoning = parse_line(chat_line({"reasoning_content": "hmm"}), CHAT)
    renamed = parse_line(chat_line({"reasoning": "hmm"}), CHAT)  # vLLM's newer field
    tool = parse_line(chat_line({"tool_calls": [{"index": 0, "id": "t"}]}), CHAT)
    assert content and content.content and content.token
    assert reasoning and reasoning.reasoning and not reasoning.content
    assert renamed and renamed.reasoning
    assert tool and tool.tool_call and tool.token


def test_the_usage_chunk_has_empty_choices_and_the_counts() -> None:
    line = (b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,'
            b'"total_tokens":10,"prompt_tokens_details":{"cached_tokens":4}}}\n')
    delta = parse_line(line, CHAT)
    assert delta is not None and not delta.token
    assert delta.usage == Usage(7, 3, 4)


def test_done_blank_and_comment_lines() -> None:
    assert parse_line(b"data: [DONE]\n", CHAT) is DONE
    assert parse_line(b"\n", CHAT) is None
    assert parse_line(b": keep-alive\n", CHAT) is None
    broken = parse_line(b"data: {not json\n", CHAT)
    assert broken is not None and broken.error is not None and broken.error.startswith("not JSON")


def test_completions_and_kserve_events() -> None:
    text = parse_line(b'data: {"choices":[{"index":0,"text":" w1"}],"model":"m"}\n',
                      APIS["openai-completions"])
    empty = parse_line(b'data: {"choices":[{"index":0,"text":""}]}\n', APIS["openai-completions"])
    kserve = parse_line(b'data: {"model_name":"law","model_version":"1","text_output":"w"}\n',
                        APIS["kserve-v2"])
    error = parse_line(b'data: {"error":"boom"}\n', APIS["kserve-v2"])
    assert text and text.content and empty and not empty.token
    assert kserve and kserve.content and kserve.model == "law"
    assert error and error.error == "boom" and not error.token


def test_chunks_time_only_tokens_and_see_reasoning_first() -> None:
    chunks = Chunks()
    for at, line in ((1.0, chat_line({"role": "assistant", "content": ""})),
                     (2.0, chat_line({"reasoning_content": "r"})),
                     (3.0, chat_line({"content": "a"})), (4.0, chat_line({"content": "b"}))):
        delta = parse_line(line, CHAT)
        assert delta is not None
        chunks.add(at, delta)
    assert chunks.token_s == [2.0, 3.0, 4.0]
    assert chunks.first_output_s == 3.0
    assert chunks.reasoning_first and chunks.empty == 1


def test_bodies_ask_for_a_stream_with_usage() -> None:
    from gatekeeper.probe.llm.protocols import Prompt

    prompt = Prompt("chat", 8, "hello there", sampling={"temperature": 0.5}, ignore_eos=True,
                    model="m")
    chat = APIS["openai-chat"].body(Prompt("chat", 8, None, ({"role": "user", "content": "x"},),
                                           model="m"))
    completions = APIS["openai-completions"].body(prompt)
    kserve = APIS["kserve-v2"].body(prompt)
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert chat["messages"] == [{"role": "user", "content": "x"}] and "ignore_eos" not in chat
    assert completions == {"temperature": 0.5, "max_tokens": 8, "stream": True,
                           "stream_options": {"include_usage": True}, "model": "m",
                           "ignore_eos": True, "prompt": "hello there"}
    assert kserve == {"text_input": "hello there", "parameters": {
        "temperature": 0.5, "max_tokens": 8, "stream": True, "ignore_eos": True}}
    assert APIS["kserve-v2"].path(prompt) == "/v2/models/m/generate_stream"
