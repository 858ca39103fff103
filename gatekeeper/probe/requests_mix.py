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
#: The methods whose requests carry a body (``--body``); the others send none.
BODY_METHODS = ("PATCH", "POST", "PUT")
JSON_TYPE = "application/json"
BYTES_TYPE = "application/octet-stream"
KEYS = ("endpoint", "method", "path", "payload", "timestamp", "weight")
#: Deeper JSON is refused before it is decoded (Python's decoder would overflow its stack).
MAX_DEPTH = 64
# Collects one problem of the line being read: (key, message).
ReportProblem = Callable[[str, str], None]
# Makes one decoded line (a JSON object; its line number) a request, or reports why not.
BuildRequest = Callable[[dict[str, Any], int, ReportProblem], "MixRequest | None"]


@dataclass(frozen=True)
class MixRequest:
    """One request of the mix; ``body`` is the payload serialised once, up front, and sent
    with ``content_type`` (a mix's payloads are JSON; ``--body`` may be any bytes)."""

    endpoint: str
    method: str
    path: str
    body: bytes | None
    weight: float = 1.0
    timestamp: float | None = None
    content_type: str = JSON_TYPE


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


def body_content_type(body: bytes) -> str:
    """``application/json`` for a body that is strict JSON in UTF-8 (no NaN or Infinity),
    else ``application/octet-stream``: the body is sent as it is either way."""
    try:
        json.loads(body.decode("utf-8"), parse_constant=refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return BYTES_TYPE
    return JSON_TYPE


def refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def load_mix(path: Path) -> RequestMix:
    """Read and validate a JSONL mix; every problem is reported at once as ``file:line``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError([Problem(str(path), 1, 1, "", f"cannot read: {exc}")]) from exc
    return parse_mix(decode_lines(data, str(path)), str(path))


def decode_lines(data: bytes, source: str) -> list[str]:
    """The file's lines as UTF-8 text; a line that is not UTF-8 is a problem naming it."""
    lines: list[str] = []
    problems: list[Problem] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problems.append(Problem(source, number, exc.start + 1, "",
                                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); a mix "
                                    "is JSON lines"))
    if problems:
        raise ValidationError(problems)
    return lines


def parse_mix(lines: Sequence[str], source: str) -> RequestMix:
    """Validate the lines of a mix (blank lines skipped) into a ``RequestMix``."""
    return parse_lines(lines, source, lambda data, _number, problem: build_request(data, problem))


def parse_lines(lines: Sequence[str], source: str, build: BuildRequest) -> RequestMix:
    """Validate the lines of a mix (blank lines skipped), each decoded as a JSON object and
    made a request by ``build``, into a ``RequestMix``; every problem at once."""
    requests: list[MixRequest] = []
    problems: list[Problem] = []
    numbers: list[int] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            request = parse_line(line, source, number, problems, build)
            if request is not None:
                requests.append(request)
                numbers.append(number)
    problems.extend(check_mix_kinds(requests, source))
    problems.extend(check_weight_total(requests, numbers, source))
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


def check_weight_total(requests: Sequence[MixRequest], numbers: Sequence[int], source: str
                       ) -> list[Problem]:
    """The weights must add up to a finite number, or choosing by weight is meaningless."""
    total = 0.0
    for request, number in zip(requests, numbers, strict=True):
        total += request.weight
        if not math.isfinite(total):
            return [Problem(source, number, 1, "weight", "the weights up to this line add up "
                            "to more than the largest number (about 1.8e308); use smaller "
                            "weights (only their ratios matter)")]
    return []


def too_deep(line: str, limit: int = MAX_DEPTH) -> str | None:
    """The top-level key under which ``line`` nests arrays or objects deeper than ``limit``
    (``""`` when that is outside any key), or None when it does not."""
    if line.count("[") + line.count("{") <= limit:
        return None  # cannot be that deep: skip the scan
    depth, key, in_string, escaped = 0, "", False, False
    text: list[str] = []
    for char in line:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if depth == 1:
                    key = "".join(text)
            else:
                text.append(char)
        elif char == '"':
            in_string, text = True, []
        elif char in "[{":
            depth += 1
            if depth > limit:
                return key
        elif char in "]}":
            depth -= 1
    return None


def parse_line(line: str, source: str, number: int, problems: list[Problem],
               build: BuildRequest) -> MixRequest | None:
    """One line into a request by ``build``, or None after appending its problems."""
    found: list[Problem] = []

    def problem(key: str, message: str) -> None:
        found.append(Problem(source, number, 1, key, message))

    deep = too_deep(line)
    if deep is not None:
        problems.append(Problem(source, number, 1, deep,
                                f"nested deeper than {MAX_DEPTH} levels"))
        return None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        problems.append(Problem(source, number, exc.colno, "", f"invalid JSON: {exc.msg}"))
        return None
    except (ValueError, RecursionError):  # an integer of over 4,300 digits, for one
        problems.append(Problem(source, number, 1, "", "invalid JSON: a number too long or "
                                "nesting too deep to read"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(source, number, 1, "", "each line must be a JSON object"))
        return None
    request = build(data, number, problem)
    problems.extend(found)
    return request if not found else None


def build_request(data: dict[str, Any], problem: ReportProblem) -> MixRequest | None:
    """Check the keys of one decoded line; ``problem(key, message)`` collects what is wrong."""
    for key in sorted(set(data) - set(KEYS)):
        problem(key, f"unknown key (expected one of: {', '.join(KEYS)})")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        problem("endpoint", "required, a non-empty string")
    elif has_control(endpoint):
        problem("endpoint", CONTROL)
    method = data.get("method", "POST")
    if method not in METHODS:
        problem("method", f"must be one of: {', '.join(METHODS)}")
    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        problem("path", "required, a path starting with a single '/' (relative to the URL)")
    elif has_control(path):
        problem("path", CONTROL)
    weight = number_at(data, "weight", 1.0, problem)
    timestamp = number_at(data, "timestamp", None, problem)
    if weight is not None and weight <= 0:
        problem("weight", "must be > 0")
    body = payload_body(data.get("payload"), problem)
    return MixRequest(str(endpoint), str(method), str(path), body, weight or 1.0, timestamp)


CONTROL = "must not contain control characters (NUL, tab, newline, ...)"


def has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def payload_body(payload: Any, problem: ReportProblem) -> bytes | None:
    """The payload as the request body; strict JSON only (no NaN or Infinity)."""
    if payload is None:
        return None
    try:
        return json.dumps(payload, allow_nan=False).encode()
    except ValueError:
        problem("payload", "must be strict JSON: NaN and Infinity have no JSON form")
        return None


def number_at(data: dict[str, Any], key: str, default: float | None, problem: ReportProblem
              ) -> float | None:
    """The finite number at ``key``, ``default`` when absent, None after a problem."""
    value = data.get(key)
    if value is None:
        return default
    try:
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):  # not a number, or an int past float range
        number = None
    if number is None or not isinstance(value, int | float) or not math.isfinite(number):
        problem(key, "must be a finite number")
        return None
    return number
