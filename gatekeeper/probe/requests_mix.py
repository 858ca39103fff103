"""A realistic request mix read from JSONL, and a plan that pairs schedule offsets with requests.

Each line is one request::

    {"endpoint": "predict", "method": "POST", "path": "/invocations",
     "payload": {"inputs": [[1, 2]]}, "weight": 3}

``weight`` (relative frequency, default 1) or ``timestamp`` (seconds, for replay) — every line
uses the same one. Paths are relative to the probe's URL: the probe never sends anywhere else.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.errors import Problem, ValidationError

METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")
KEYS = ("endpoint", "method", "path", "payload", "timestamp", "weight")
# Collects one problem of the line being read: (key, message).
ReportProblem = Callable[[str, str], None]


@dataclass(frozen=True)
class MixRequest:
    """One request of the mix; ``body`` is the payload serialised once, up front."""

    endpoint: str
    method: str
    path: str
    body: bytes | None
    weight: float = 1.0
    timestamp: float | None = None


@dataclass(frozen=True)
class Planned:
    """A request and the offset (seconds from the start) at which it is meant to be sent."""

    offset_s: float
    request: MixRequest


@dataclass(frozen=True)
class RequestMix:
    """The requests of a mix, in file order."""

    requests: tuple[MixRequest, ...]

    @property
    def is_replay(self) -> bool:
        """True when the lines carry timestamps (replay) rather than weights."""
        return self.requests[0].timestamp is not None

    def plan(self, offsets: Iterable[float], seed: int) -> Iterator[Planned]:
        """Pair each offset with a request chosen by weight; same seed, same choices."""
        rng = random.Random(seed)
        weights = [r.weight for r in self.requests]
        for offset in offsets:
            yield Planned(offset, rng.choices(self.requests, weights)[0])

    def replay_plan(self) -> Iterator[Planned]:
        """Every request at its recorded timestamp, shifted so the first is at 0."""
        stamped = sorted(self.requests, key=lambda r: r.timestamp or 0.0)
        first = stamped[0].timestamp or 0.0
        for request in stamped:
            yield Planned((request.timestamp or 0.0) - first, request)


def load_mix(path: Path) -> RequestMix:
    """Read and validate a JSONL mix; every problem is reported at once as ``file:line``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValidationError([Problem(str(path), 1, 1, "", f"cannot read: {exc}")]) from exc
    return parse_mix(lines, str(path))


def parse_mix(lines: Sequence[str], source: str) -> RequestMix:
    """Validate the lines of a mix (blank lines skipped) into a ``RequestMix``."""
    requests: list[MixRequest] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            request = parse_line(line, source, number, problems)
            if request is not None:
                requests.append(request)
    problems.extend(check_mix_kinds(requests, source))
    if problems:
        raise ValidationError(problems)
    return RequestMix(tuple(requests))


def check_mix_kinds(requests: Sequence[MixRequest], source: str) -> list[Problem]:
    """A mix must be non-empty and all-weights or all-timestamps (mixing them has no meaning)."""
    if not requests:
        return [Problem(source, 1, 1, "", "the mix has no requests")]
    stamped = {r.timestamp is not None for r in requests}
    if len(stamped) > 1:
        return [Problem(source, 1, 1, "", "some lines have a timestamp and some do not: "
                        "use timestamps on every line (replay) or on none (weights)")]
    return []


def parse_line(line: str, source: str, number: int, problems: list[Problem]
               ) -> MixRequest | None:
    """One line into a request, or None after appending its problems."""
    found: list[Problem] = []

    def problem(key: str, message: str) -> None:
        found.append(Problem(source, number, 1, key, message))

    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        problems.append(Problem(source, number, exc.colno, "", f"invalid JSON: {exc.msg}"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(source, number, 1, "", "each line must be a JSON object"))
        return None
    request = build_request(data, problem)
    problems.extend(found)
    return request if not found else None


def build_request(data: dict[str, Any], problem: ReportProblem) -> MixRequest | None:
    """Check the keys of one decoded line; ``problem(key, message)`` collects what is wrong."""
    for key in sorted(set(data) - set(KEYS)):
        problem(key, f"unknown key (expected one of: {', '.join(KEYS)})")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        problem("endpoint", "required, a non-empty string")
    method = data.get("method", "POST")
    if method not in METHODS:
        problem("method", f"must be one of: {', '.join(METHODS)}")
    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        problem("path", "required, a path starting with a single '/' (relative to the URL)")
    weight = number_at(data, "weight", 1.0, problem)
    timestamp = number_at(data, "timestamp", None, problem)
    if weight is not None and weight <= 0:
        problem("weight", "must be > 0")
    body = None if data.get("payload") is None else json.dumps(data["payload"]).encode()
    return MixRequest(str(endpoint), str(method), str(path), body, weight or 1.0, timestamp)


def number_at(data: dict[str, Any], key: str, default: float | None, problem: ReportProblem
              ) -> float | None:
    """The finite number at ``key``, ``default`` when absent, None after a problem."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problem(key, "must be a finite number")
        return None
    return float(value)
