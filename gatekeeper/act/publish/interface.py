"""The publishing seam: a :class:`Publisher` posts one verdict to one place a pull request
shows (a GitHub commit status, a GitHub check run, a GitLab commit status).

A publisher is built from the environment (token, API address, repository, commit) by its
module's ``create`` function, listed in ``PUBLISHERS`` (``act/publish/__init__.py``). Missing
configuration is found then, before anything is evaluated (:class:`PublishConfigError`,
exit 2); a failure to post is a :class:`PublishError` (exit 4 when publishing is required).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gatekeeper.decide.result import CheckResult, Decision, Result
from gatekeeper.errors import InvalidInputError
from gatekeeper.render.readable import tally

#: GitHub rejects a commit status description longer than this.
DESCRIPTION_LIMIT = 140
ELLIPSIS = "…"


class PublishConfigError(InvalidInputError):
    """A publishing target lacks its token, repository or commit (exit 2, nothing posted)."""


@dataclass(frozen=True)
class PublishContext:
    """What every target labels a verdict with: the name it is shown under,
    ``gatekeeper/<model>/<milestone>``. Known before evaluation starts (from the flags), and
    from a stored result."""

    model: str
    milestone: str

    @property
    def name(self) -> str:
        return f"gatekeeper/{self.model}/{self.milestone}"


class Publisher(Protocol):
    """One target. ``start`` marks the gate as running (before evaluation); ``publish`` posts
    the verdict; ``abort`` marks a run that reached no verdict, so nothing hangs pending.
    Each raises :class:`gatekeeper.errors.PublishError` when the target could not be told."""

    #: The CLI flag's name without dashes (``github-status``), used in messages.
    name: str

    def start(self, context: PublishContext) -> str: ...

    def publish(self, result: Result, context: PublishContext) -> str: ...

    def abort(self, context: PublishContext, reason: str) -> str: ...


class PublisherFactory(Protocol):
    def __call__(self, env: Mapping[str, str], sha: str | None,
                 settings: HttpSettings) -> Publisher: ...


@dataclass(frozen=True)
class HttpSettings:
    """How patient publishing is. ``timeout_s`` bounds connecting and each read of every
    request; ``max_wait_s`` bounds the time slept between attempts, all retries together."""

    timeout_s: float = 10.0
    attempts: int = 4
    backoff_s: float = 0.5
    max_wait_s: float = 60.0


def cut(text: str, limit: int, note: str = "") -> str:
    """``text`` within ``limit`` characters; a cut one ends with ``…`` and ``note``."""
    if len(text) <= limit:
        return text
    tail = ELLIPSIS + note
    return text[: max(limit - len(tail), 0)] + tail[:limit]


def description(result: Result) -> str:
    """One line, at most 140 characters: the verdict and why."""
    return cut(verdict_line(result), DESCRIPTION_LIMIT)


def verdict_line(result: Result) -> str:
    """Counted as every other format counts: the playbook's checks, the prerequisite apart."""
    if result.decision is Decision.PASS:
        return f"passed ({tally(result)})"
    return f"blocked by {', '.join(blocker_ids(result.checks)) or 'no checks'} ({tally(result)})"


def blocker_ids(checks: tuple[CheckResult, ...]) -> list[str]:
    return [c.id for c in checks if c.blocks]


def require(env: Mapping[str, str], name: str, flag: str, why: str) -> str:
    """The non-empty value of ``env[name]``, or a one-line configuration error."""
    value = env.get(name, "").strip()
    if not value:
        raise PublishConfigError(f"{flag}: {name} is not set ({why})")
    return value
