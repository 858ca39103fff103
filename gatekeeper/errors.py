"""One error hierarchy; each error knows the exit code it maps to (see docs/CONTRACT.md)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    """Process exit codes. Their meaning never changes with flags."""

    PASSED = 0
    BLOCKED = 1
    INVALID_INPUT = 2
    NO_VERDICT = 3
    PUBLISH_FAILED = 4


class GatekeeperError(Exception):
    """Base of every error gatekeeper raises on purpose; never shown as a traceback."""

    exit_code: ExitCode = ExitCode.NO_VERDICT
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class InvalidInputError(GatekeeperError):
    """Bad playbook, policy, waiver file, flag, or an unknown model/version/alias (exit 2)."""

    exit_code = ExitCode.INVALID_INPUT


class InfrastructureError(GatekeeperError):
    """Tracking server unreachable, audit log unwritable, ... (exit 3, no verdict)."""

    exit_code = ExitCode.NO_VERDICT


class PublishError(GatekeeperError):
    """Publishing a recorded verdict failed (exit 4; reserved until publishing lands)."""

    exit_code = ExitCode.PUBLISH_FAILED


@dataclass(frozen=True)
class Problem:
    """One validation problem, located in a file down to the key."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ValidationError(InvalidInputError):
    """Every problem found in one or more input files, reported at once."""

    hint = "fix the problems above; `gatekeeper schema` prints the playbook format"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
