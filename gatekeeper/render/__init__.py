"""Output formats: pure renderers from a Result to a string, in one registry."""

from __future__ import annotations

from collections.abc import Callable

from gatekeeper.decide.result import Result
from gatekeeper.render import json_format, text

Renderer = Callable[[Result], str]

FORMATS: dict[str, Renderer] = {
    "json": json_format.render,
    "text": text.render,
}
