"""The LLM APIs the probe speaks, one object per ``--api`` value, in one registry (``APIS``).

Each API knows where a mix entry goes (its path), what body asks for a stream of it, and what
one streamed event carries (:class:`Delta`):

- ``openai-chat``: ``POST /v1/chat/completions`` with ``stream: true`` and ``stream_options:
  {include_usage: true}``; events are ``data: {chunk}`` lines ending with ``data: [DONE]``.
  A chunk's ``choices[].delta`` carries ``content``, ``reasoning_content`` (vLLM's newer name:
  ``reasoning``) or ``tool_calls``; the first chunk often carries only ``role``. With usage on,
  one more chunk before ``[DONE]`` has empty ``choices`` and the request's ``usage``.
- ``openai-completions``: ``POST /v1/completions``, the same events with ``choices[].text``.
- ``kserve-v2``: the generate extension of the Open Inference Protocol (Triton, KServe):
  ``POST /v2/models/MODEL/generate_stream`` with ``{"text_input": ..., "parameters": {...}}``;
  each event is ``data: {"model_name", "model_version", "text_output"}``, and the stream ends
  when the server closes it (no ``[DONE]``, no usage: tokens are counted by chunks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeGuard

ApiName = Literal["openai-chat", "openai-completions", "kserve-v2"]
API_NAMES: tuple[ApiName, ...] = ("openai-chat", "openai-completions", "kserve-v2")


@dataclass(frozen=True)
class Prompt:
    """The LLM part of one mix entry: what to ask, how much to generate, how to sample."""

    endpoint: str
    max_tokens: int
    prompt: str | None = None
    messages: tuple[Mapping[str, Any], ...] = ()
    sampling: Mapping[str, Any] = field(default_factory=dict)
    ignore_eos: bool | None = None
    model: str | None = None

    @property
    def text(self) -> str:
        """The prompt's text: the prompt, or the messages' contents joined."""
        if self.prompt is not None:
            return self.prompt
        return " ".join(str(m.get("content", "")) for m in self.messages)

    @property
    def words(self) -> int:
        """The prompt's length in whitespace-separated words (the client's estimate of its
        tokens, before the server's ``usage`` says)."""
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class Usage:
    """The server's own token counts for one request."""

    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None


@dataclass(frozen=True, slots=True)
class Delta:
    """What one streamed event carried: whether it had answer content, reasoning or a tool
    call (a chunk with only a role or empty text has none of them), the usage, the model name,
    an error, and whether it ended the stream."""

    content: bool = False
    reasoning: bool = False
    tool_call: bool = False
    usage: Usage | None = None
    model: str | None = None
    error: str | None = None
    done: bool = False

    @property
    def token(self) -> bool:
        """Whether this chunk carries a token of any kind (what TTFT waits for)."""
        return self.content or self.reasoning or self.tool_call


DONE = Delta(done=True)
# The deltas of plain token chunks (no usage, no error), made once: building a frozen
# dataclass for each of tens of thousands of chunks a second is a measurable part of the cost.
_PLAIN: dict[tuple[bool, bool, bool, str | None], Delta] = {}


def make_delta(content: bool = False, reasoning: bool = False, tool_call: bool = False,
          usage: Usage | None = None, model: str | None = None, error: str | None = None
          ) -> Delta:
    """The :class:`Delta` of one event; a shared one for a plain token chunk."""
    if usage is not None or error is not None:
        return Delta(content, reasoning, tool_call, usage, model, error)
    key = (content, reasoning, tool_call, model)
    found = _PLAIN.get(key)
    if found is None:
        found = _PLAIN[key] = Delta(content, reasoning, tool_call, None, model)
        if len(_PLAIN) > 64:  # a server naming a new model in every chunk: stop keeping them
            _PLAIN.clear()
    return found


class Api(Protocol):
    """One LLM API: its name, the path and body of a streamed request, and its events."""

    name: ApiName

    def path(self, prompt: Prompt) -> str: ...

    def body(self, prompt: Prompt) -> dict[str, Any]: ...

    def parse(self, data: Mapping[str, Any]) -> Delta: ...


def openai_body(prompt: Prompt) -> dict[str, Any]:
    """The keys both OpenAI APIs share; ``ignore_eos`` is vLLM's extension, sent only when
    the entry sets it."""
    body: dict[str, Any] = {**prompt.sampling, "max_tokens": prompt.max_tokens, "stream": True,
                            "stream_options": {"include_usage": True}}
    if prompt.model is not None:
        body["model"] = prompt.model
    if prompt.ignore_eos is not None:
        body["ignore_eos"] = prompt.ignore_eos
    return body


def read_usage(data: Mapping[str, Any]) -> Usage | None:
    """``usage`` of an OpenAI chunk (null on every chunk but the last)."""
    usage = data.get("usage")
    if usage is None or not is_mapping(usage):  # None on every chunk but one: checked first
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return Usage(whole(usage.get("prompt_tokens")), whole(usage.get("completion_tokens")),
                 whole(cached))


def whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def error_text(data: Mapping[str, Any]) -> str | None:
    """An error object sent inside the stream (vLLM, Triton), as text."""
    error = data.get("error")
    if error is None:
        return None
    if isinstance(error, Mapping):
        return str(error.get("message") or error)
    return str(error)


def choices(data: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    found = data.get("choices")
    return [c for c in found if is_mapping(c)] if isinstance(found, list) else []


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """Whether ``value`` is a mapping; parsed JSON's dicts answer without the slower check
    against the ``Mapping`` ABC (it runs for every chunk of every stream)."""
    return type(value) is dict or isinstance(value, Mapping)


def model_of(data: Mapping[str, Any], key: str) -> str | None:
    model = data.get(key)
    return model if isinstance(model, str) else None


class OpenAIChat:
    name: ApiName = "openai-chat"

    def path(self, prompt: Prompt) -> str:
        return "/v1/chat/completions"

    def body(self, prompt: Prompt) -> dict[str, Any]:
        return {**openai_body(prompt), "messages": [dict(m) for m in prompt.messages]}

    def parse(self, data: Mapping[str, Any]) -> Delta:
        content = reasoning = tool = False
        for choice in choices(data):
            delta = choice.get("delta")
            if is_mapping(delta):
                content |= bool(delta.get("content"))
                reasoning |= bool(delta.get("reasoning_content") or delta.get("reasoning"))
                tool |= bool(delta.get("tool_calls"))
        return make_delta(content, reasoning, tool, read_usage(data), model_of(data, "model"),
                     error_text(data))


class OpenAICompletions:
    name: ApiName = "openai-completions"

    def path(self, prompt: Prompt) -> str:
        return "/v1/completions"

    def body(self, prompt: Prompt) -> dict[str, Any]:
        return {**openai_body(prompt), "prompt": prompt.text}

    def parse(self, data: Mapping[str, Any]) -> Delta:
        content = any(bool(c.get("text")) for c in choices(data))
        return make_delta(content, usage=read_usage(data), model=model_of(data, "model"),
                     error=error_text(data))


class KServeV2:
    name: ApiName = "kserve-v2"

    def path(self, prompt: Prompt) -> str:
        return f"/v2/models/{prompt.model}/generate_stream"

    def body(self, prompt: Prompt) -> dict[str, Any]:
        parameters: dict[str, Any] = {**prompt.sampling, "max_tokens": prompt.max_tokens,
                                      "stream": True}
        if prompt.ignore_eos is not None:
            parameters["ignore_eos"] = prompt.ignore_eos
        return {"text_input": prompt.text, "parameters": parameters}

    def parse(self, data: Mapping[str, Any]) -> Delta:
        return make_delta(bool(data.get("text_output")), model=model_of(data, "model_name"),
                     error=error_text(data))


APIS: dict[ApiName, Api] = {
    "kserve-v2": KServeV2(),
    "openai-chat": OpenAIChat(),
    "openai-completions": OpenAICompletions(),
}
