"""``json``: the contract's result object (``gatekeeper.result/v1``)."""

from __future__ import annotations

import json

from gatekeeper.decide.result import Result


def render(result: Result) -> str:
    return json.dumps(result.to_dict(), indent=2, sort_keys=False, default=str) + "\n"
