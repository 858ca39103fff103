"""A strict parser of the Prometheus text exposition format (version 0.0.4).

Why our own and not ``prometheus_client.parser``: prometheus_client is only a dev/serve extra,
the part we need is small (``# TYPE`` lines and samples; ``# HELP`` and other comments are
skipped), and a scrape that cannot be read must fail as one line naming the URL and the line,
which its parser does not give. The tests read prometheus_client's own output with both
parsers and compare.

A sample line is ``name{label="value",...} value [timestamp]``; label values escape ``\\``,
``"`` and newlines; values may be ``NaN``, ``+Inf`` or ``-Inf``. Metric names may hold ``:``
(vLLM's ``vllm:`` prefix).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPE_LINE = re.compile(r"^#\s*TYPE\s+(\S+)\s+(counter|gauge|histogram|summary|untyped)\s*$")
ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable, order-free


class ExpositionError(ValueError):
    """A line that is not in the text exposition format; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Sample:
    """One sample: a series (name and labels) and its value."""

    name: str
    labels: Labels
    value: float

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)


@dataclass(frozen=True)
class Scrape:
    """One reading of a ``/metrics`` page, taken at ``taken_at`` (monotonic seconds)."""

    samples: tuple[Sample, ...]
    types: Mapping[str, str] = field(default_factory=dict)
    taken_at: float = 0.0

    def named(self, name: str) -> list[Sample]:
        """The samples whose name is exactly ``name``."""
        return [s for s in self.samples if s.name == name]

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.samples)


def parse_exposition(text: str, taken_at: float = 0.0) -> Scrape:
    """Every sample of ``text``; raises :class:`ExpositionError` at the first bad line."""
    types: dict[str, str] = {}
    samples = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if match := TYPE_LINE.match(stripped):
                types[match[1]] = match[2]
            continue
        samples.append(parse_sample(stripped, number))
    return Scrape(tuple(samples), types, taken_at)


def parse_sample(line: str, number: int) -> Sample:
    """``name{labels} value [timestamp]``."""
    match = NAME.match(line)
    if not match:
        raise ExpositionError(number, f"expected a metric name, got {line[:40]!r}")
    name, rest = match[0], line[match.end():]
    labels: Labels = ()
    if rest.startswith("{"):
        labels, rest = parse_labels(rest, number, len(name))
    parts = rest.split()
    if not parts or len(parts) > 2 or not rest[:1].isspace():
        raise ExpositionError(number, f"{name}: expected a value (and an optional timestamp)")
    return Sample(name, labels, parse_value(parts[0], name, number))


def parse_value(text: str, name: str, number: int) -> float:
    try:
        return float(text)  # float() reads NaN, +Inf, -Inf and exponents
    except ValueError:
        raise ExpositionError(number, f"{name}: {text!r} is not a number") from None


def parse_labels(text: str, number: int, offset: int = 0) -> tuple[Labels, str]:
    """The ``{...}`` block at the start of ``text`` and what follows it; ``offset``: the
    block's index in its line, for the columns of messages."""
    pairs: dict[str, str] = {}
    position = 1
    while True:
        position = skip_spaces(text, position)
        if text[position:position + 1] == "}":
            return tuple(sorted(pairs.items())), text[position + 1:]
        match = LABEL_NAME.match(text, position)
        if not match or text[match.end():match.end() + 2] != '="':
            raise ExpositionError(number, f"bad label at column {offset + position + 1}")
        value, position = read_quoted(text, match.end() + 2, number)
        if match[0] in pairs:
            raise ExpositionError(number, f"label {match[0]!r} given twice")
        pairs[match[0]] = value
        position = skip_spaces(text, position)
        if text[position:position + 1] == ",":
            position += 1
        elif text[position:position + 1] != "}":
            raise ExpositionError(number, f"expected ',' or '}}' at column {offset + position + 1}")


def read_quoted(text: str, position: int, number: int) -> tuple[str, int]:
    """A label value from just after its opening quote; returns it and the index after it."""
    chars: list[str] = []
    while position < len(text):
        char = text[position]
        if char == '"':
            return "".join(chars), position + 1
        if char == "\\":
            escaped = text[position + 1:position + 2]
            if escaped not in ESCAPES:
                raise ExpositionError(number, f"bad escape '\\{escaped}' in a label value")
            chars.append(ESCAPES[escaped])
            position += 2
            continue
        chars.append(char)
        position += 1
    raise ExpositionError(number, "unterminated label value")


def skip_spaces(text: str, position: int) -> int:
    while text[position:position + 1] in (" ", "\t"):
        position += 1
    return position


def without(labels: Labels, *names: str) -> Labels:
    """``labels`` less ``names`` (``le`` when buckets are grouped into one histogram)."""
    return tuple((k, v) for k, v in labels if k not in names)
