"""The verdict rule: block on any blocking ``fail`` or ``error``; an empty gate never passes."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gatekeeper.decide.result import CheckResult


class Decision(enum.StrEnum):
    PASS = "pass"
    BLOCK = "block"


def decide(checks: Sequence[CheckResult]) -> Decision:
    """Block on any blocking ``fail`` or ``error``; an empty gate never passes."""
    if not checks or any(c.blocks for c in checks):
        return Decision.BLOCK
    return Decision.PASS
