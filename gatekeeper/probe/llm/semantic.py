"""The semantic-cache proof: hit rate and hit precision on a labelled set of paraphrase pairs.

A pairs file has one JSON object per line::

    {"first": "What is the capital of France?", "second": "capital of france?",
     "label": "same"}
    {"first": "Name the largest ocean", "second": "Name the largest desert",
     "label": "different"}

(optional per line: ``endpoint``, ``max_tokens``, ``model``). For each pair, in file order,
``first`` is asked (it fills the cache), then ``second``; both unstreamed, one at a time. An
answer is a **hit** when the server says so in ``X-Cache: HIT`` (a miss: ``MISS``; an answer
without the header counts as neither and is reported). A hit on ``second`` is **correct** when
the pair is labelled ``same`` and the answer is the one ``first`` got; any other hit (a pair
labelled ``different``, or another prompt's answer) is **wrong**: a wrong answer served.

- hit rate = hits on ``second`` / pairs
- hit precision = correct hits / hits (undefined without hits)
- same-pair hit rate = correct hits / pairs labelled ``same`` (recall)

No hit at all is an ``error`` reading, never a pass: a cache that never answers proves
nothing.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gatekeeper.errors import Problem, ValidationError
from gatekeeper.probe.llm.protocols import APIS, ApiName, Prompt, Usage, read_usage
from gatekeeper.probe.requests_mix import decode_lines

Label = Literal["same", "different"]
KEYS = ("endpoint", "first", "label", "max_tokens", "model", "second")
CACHE_HEADER = "X-Cache"
DEFAULT_MAX_TOKENS = 16
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Pair:
    """Two prompts and whether one should be answered with the other's answer."""

    first: str
    second: str
    label: Label
    endpoint: str = "semantic"
    max_tokens: int = DEFAULT_MAX_TOKENS
    model: str | None = None


def load_pairs(path: Path) -> tuple[Pair, ...]:
    """The pairs of ``path``; every problem at once as ``file:line``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError([Problem(str(path), 1, 1, "", f"cannot read: {exc}")]) from exc
    return parse_pairs(decode_lines(data, str(path)), str(path))


def parse_pairs(lines: Sequence[str], source: str) -> tuple[Pair, ...]:
    pairs: list[Pair] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        found = pair_problems(line)
        problems.extend(Problem(source, number, 1, key, text) for key, text in found)
        if not found:
            pairs.append(read_pair(json.loads(line)))
    if not pairs and not problems:
        problems.append(Problem(source, 1, 1, "", "no pairs: one JSON object per line"))
    if problems:
        raise ValidationError(problems)
    return tuple(pairs)


def pair_problems(line: str) -> list[tuple[str, str]]:
    """(key, problem) of one line; empty when it is a valid pair."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return [("", "invalid JSON")]
    if not isinstance(data, dict):
        return [("", "each line must be a JSON object")]
    found = [(k, f"unknown key (expected one of: {', '.join(KEYS)})")
             for k in sorted(set(data) - set(KEYS))]
    for key in ("first", "second"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            found.append((key, "required, a non-empty string"))
    if data.get("label") not in ("same", "different"):
        found.append(("label", "required, 'same' or 'different'"))
    tokens = data.get("max_tokens", DEFAULT_MAX_TOKENS)
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        found.append(("max_tokens", "must be a whole number >= 1"))
    for key in ("endpoint", "model"):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            found.append((key, "must be a non-empty string"))
    return found


def read_pair(data: Mapping[str, Any]) -> Pair:
    return Pair(data["first"], data["second"], data["label"], data.get("endpoint", "semantic"),
                data.get("max_tokens", DEFAULT_MAX_TOKENS), data.get("model"))


@dataclass(frozen=True)
class Answer:
    """One unstreamed answer: the cache's word on it, its text and its usage."""

    cache: str  # "HIT", "MISS" or "" (no header)
    text: str | None
    usage: Usage | None
    error: str | None = None

    @property
    def hit(self) -> bool:
        return self.cache == "HIT"


@dataclass(frozen=True)
class PairOutcome:
    pair: Pair
    first: Answer
    second: Answer

    @property
    def correct(self) -> bool:
        """A hit serving ``first``'s answer for a pair labelled ``same``."""
        return (self.second.hit and self.pair.label == "same"
                and self.second.text is not None and self.second.text == self.first.text)


@dataclass(frozen=True)
class SemanticProof:
    """The pairs' outcomes and what they add up to."""

    outcomes: tuple[PairOutcome, ...]

    @property
    def hits(self) -> int:
        return sum(o.second.hit for o in self.outcomes)

    @property
    def correct(self) -> int:
        return sum(o.correct for o in self.outcomes)

    @property
    def wrong(self) -> int:
        return self.hits - self.correct

    @property
    def same_pairs(self) -> int:
        return sum(o.pair.label == "same" for o in self.outcomes)

    @property
    def unlabelled_answers(self) -> int:
        """Answers (first or second) that carried no X-Cache header, or failed."""
        return sum(a.cache == "" for o in self.outcomes for a in (o.first, o.second))

    @property
    def hit_rate(self) -> float:
        return self.hits / len(self.outcomes) if self.outcomes else math.nan

    @property
    def precision(self) -> float:
        return self.correct / self.hits if self.hits else math.nan

    @property
    def same_hit_rate(self) -> float:
        return self.correct / self.same_pairs if self.same_pairs else math.nan

    @property
    def status(self) -> str:
        """``error`` when no answer was a hit (an all-zero reading), else ``measured``."""
        return "error" if self.hits == 0 else "measured"

    def engine_usage(self) -> list[Usage]:
        """The usage of every answer the engine gave (cache hits never reached it)."""
        return [a.usage for o in self.outcomes for a in (o.first, o.second)
                if not a.hit and a.usage is not None]

    def metrics(self) -> dict[str, float]:
        found = {"cache.semantic.pairs": float(len(self.outcomes)),
                 "cache.semantic.hits": float(self.hits),
                 "cache.semantic.wrong_hits": float(self.wrong),
                 "cache.semantic.hit_rate": self.hit_rate,
                 "cache.semantic.hit_precision": self.precision,
                 "cache.semantic.same_hit_rate": self.same_hit_rate}
        if self.status == "error":  # nothing to gate on: a check on it reports it missing
            found = {k: v for k, v in found.items()
                     if k not in ("cache.semantic.hit_rate", "cache.semantic.hit_precision",
                                  "cache.semantic.same_hit_rate")}
        return {k: v for k, v in found.items() if math.isfinite(v)}

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "pairs": len(self.outcomes), "hits": self.hits,
                "correct_hits": self.correct, "wrong_hits": self.wrong,
                "same_pairs": self.same_pairs, "unlabelled_answers": self.unlabelled_answers,
                "hit_rate": finite(self.hit_rate), "hit_precision": finite(self.precision),
                "same_hit_rate": finite(self.same_hit_rate),
                "definitions": "docs/llm.md#the-llm-cache-proof",
                "wrong": [{"first": o.pair.first, "second": o.pair.second,
                           "label": o.pair.label} for o in self.outcomes
                          if o.second.hit and not o.correct][:20]}

    def line(self) -> str:
        if self.status == "error":
            return (f"semantic cache: ERROR, no hit on {len(self.outcomes)} pairs (an "
                    "all-zero reading proves nothing)")
        return (f"semantic cache: hit rate {self.hit_rate:.3f} ({self.hits} of "
                f"{len(self.outcomes)} pairs), hit precision {self.precision:.3f} "
                f"({self.wrong} wrong hits), same-pair hit rate {self.same_hit_rate:.3f}")


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def prove_semantic(url: str, api: ApiName, pairs: Sequence[Pair]) -> SemanticProof:
    """Ask every pair's ``first`` then ``second`` of the server at ``url``."""
    outcomes = []
    for pair in pairs:
        first = ask(url, api, pair, pair.first)
        outcomes.append(PairOutcome(pair, first, ask(url, api, pair, pair.second)))
    return SemanticProof(tuple(outcomes))


def ask(url: str, api: ApiName, pair: Pair, text: str) -> Answer:
    """One unstreamed request of ``text`` in ``api``."""
    prompt = (Prompt(pair.endpoint, pair.max_tokens, messages=({"role": "user",
                                                                "content": text},),
                     model=pair.model) if api == "openai-chat" else
              Prompt(pair.endpoint, pair.max_tokens, prompt=text, model=pair.model))
    body = APIS[api].body(prompt)
    body.pop("stream_options", None)
    if api == "kserve-v2":
        body["parameters"]["stream"] = False
        path = f"/v2/models/{pair.model}/generate"
    else:
        body["stream"] = False
        path = APIS[api].path(prompt)
    request = urllib.request.Request(url.rstrip("/") + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"},
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            cache = (response.headers.get(CACHE_HEADER) or "").strip().upper()
            data = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Answer("", None, None, str(exc))
    if not isinstance(data, dict):
        return Answer(cache, None, None, "an answer that is not a JSON object")
    return Answer(cache, answer_text(data), read_usage(data))


def answer_text(data: Mapping[str, Any]) -> str | None:
    """The text of an unstreamed answer: chat ``message.content``, completions ``text``,
    KServe ``text_output``."""
    if isinstance(data.get("text_output"), str):
        return str(data["text_output"])
    found = data.get("choices")
    if not isinstance(found, list) or not found or not isinstance(found[0], dict):
        return None
    choice = found[0]
    message = choice.get("message")
    if isinstance(message, dict) and isinstance(message.get("content"), str):
        return str(message["content"])
    return str(choice["text"]) if isinstance(choice.get("text"), str) else None
