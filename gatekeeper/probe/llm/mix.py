"""An LLM request mix: JSONL lines of prompts, read for one API (``--api``).

Each line is one entry::

    {"endpoint": "chat", "messages": [{"role": "user", "content": "Hello"}],
     "max_tokens": 128, "sampling": {"temperature": 0}, "ignore_eos": true,
     "model": "meta-llama/Llama-3.1-8B-Instruct", "weight": 3}

``prompt`` (text) or ``messages`` (``openai-chat`` only) says what to ask; a trace may give
``prompt_tokens`` instead, and a prompt of that many distinct words is made up. ``max_tokens``
is required; ``sampling`` is sent as it is (top level of an OpenAI body, ``parameters`` of a
KServe one); ``model`` is required with ``kserve-v2`` (it is part of the path). ``weight`` or
``timestamp`` (replay) as in a plain mix; ``path`` overrides the API's own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.errors import Problem, ValidationError
from gatekeeper.probe.llm.protocols import APIS, ApiName, Prompt
from gatekeeper.probe.requests_mix import (
    CONTROL,
    MixRequest,
    ReportProblem,
    RequestMix,
    decode_lines,
    has_control,
    number_at,
    parse_lines,
)

KEYS = ("endpoint", "ignore_eos", "max_tokens", "messages", "model", "path", "prompt",
        "prompt_tokens", "sampling", "timestamp", "weight")


@dataclass(frozen=True)
class LlmMixRequest(MixRequest):
    """A mix request that is an LLM prompt: the body built for its API, and the prompt."""

    prompt: Prompt | None = None


def load_llm_mix(path: Path, api: ApiName) -> RequestMix:
    """Read and validate an LLM mix for ``api``; every problem at once, as ``file:line``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError([Problem(str(path), 1, 1, "", f"cannot read: {exc}")]) from exc
    return parse_llm_mix(decode_lines(data, str(path)), str(path), api)


def parse_llm_mix(lines: Sequence[str], source: str, api: ApiName) -> RequestMix:
    """Validate the lines of an LLM mix for ``api`` (blank lines skipped); every problem at
    once."""
    return parse_lines(lines, source,
                       lambda data, number, problem: build_entry(data, api, number, problem))


def build_entry(data: dict[str, Any], api: ApiName, number: int, problem: ReportProblem
                ) -> LlmMixRequest | None:
    """One decoded line as a request for ``api``, or None after reporting its problems."""
    for key in sorted(set(data) - set(KEYS)):
        problem(key, f"unknown key (expected one of: {', '.join(KEYS)})")
    prompt = read_prompt(data, api, number, problem)
    if prompt is None:
        return None
    return build(data, prompt, api, problem)


def read_prompt(data: Mapping[str, Any], api: ApiName, number: int, problem: ReportProblem
                ) -> Prompt | None:
    endpoint = data.get("endpoint")
    ok = True
    if not isinstance(endpoint, str) or not endpoint or has_control(endpoint):
        problem("endpoint", "required, a non-empty string without control characters")
        ok = False
    max_tokens = data.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        problem("max_tokens", "required, a whole number >= 1")
        ok = False
    text, messages = read_text(data, api, number, problem)
    sampling = data.get("sampling", {})
    if not isinstance(sampling, dict):
        problem("sampling", "must be an object of sampling parameters")
        ok = False
    ignore_eos = data.get("ignore_eos")
    if ignore_eos is not None and not isinstance(ignore_eos, bool):
        problem("ignore_eos", "must be true or false")
        ok = False
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not model or has_control(model)):
        problem("model", "must be a non-empty string")
        ok = False
    if api == "kserve-v2" and model is None:
        problem("model", "required with --api kserve-v2 (the path names the model)")
        ok = False
    if not ok or not isinstance(max_tokens, int) or (text is None and not messages):
        return None
    return Prompt(str(endpoint), max_tokens, text, messages, dict(sampling), ignore_eos,
                  model)


def read_text(data: Mapping[str, Any], api: ApiName, number: int, problem: ReportProblem
              ) -> tuple[str | None, tuple[Mapping[str, Any], ...]]:
    """The prompt text or the chat messages (exactly one of prompt, messages, prompt_tokens)."""
    given = [k for k in ("prompt", "messages", "prompt_tokens") if k in data]
    if len(given) != 1:
        problem("prompt", "give exactly one of prompt, messages or prompt_tokens")
        return None, ()
    if "prompt_tokens" in data:
        count = data["prompt_tokens"]
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            problem("prompt_tokens", "must be a whole number >= 1")
            return None, ()
        text = made_up_prompt(number, count)
        return (None, ({"role": "user", "content": text},)) if api == "openai-chat" else (
            text, ())
    if "prompt" in data:
        text = data["prompt"]
        if not isinstance(text, str) or not text:
            problem("prompt", "must be a non-empty string")
            return None, ()
        return (None, ({"role": "user", "content": text},)) if api == "openai-chat" else (
            text, ())
    messages = data["messages"]
    if api != "openai-chat":
        problem("messages", f"only --api openai-chat takes messages; give prompt with {api}")
        return None, ()
    if (not isinstance(messages, list) or not messages
            or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)):
        problem("messages", "must be a non-empty list of {role, content} objects")
        return None, ()
    return None, tuple(messages)


def made_up_prompt(number: int, count: int) -> str:
    """``count`` words that no other line's made-up prompt shares (no accidental cache hits)."""
    return " ".join(f"l{number}w{i}" for i in range(count))


def build(data: Mapping[str, Any], prompt: Prompt, api: ApiName, problem: ReportProblem
          ) -> LlmMixRequest | None:
    weight = number_at(dict(data), "weight", 1.0, problem)
    timestamp = number_at(dict(data), "timestamp", None, problem)
    if weight is not None and weight <= 0:
        problem("weight", "must be > 0")
    path = data.get("path", APIS[api].path(prompt))
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        problem("path", "a path starting with a single '/' (relative to the URL)")
        return None
    if has_control(path):
        problem("path", CONTROL)
        return None
    try:
        body = json.dumps(APIS[api].body(prompt), allow_nan=False).encode()
    except ValueError:
        problem("sampling", "must be strict JSON: NaN and Infinity have no JSON form")
        return None
    return LlmMixRequest(prompt.endpoint, "POST", path, body, weight or 1.0, timestamp,
                         prompt=prompt)
