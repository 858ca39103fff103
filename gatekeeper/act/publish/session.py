"""Several publishing targets driven together through one gate run: ``start`` before
evaluation, then ``publish`` (a verdict) or ``abort`` (no verdict). A target that fails never
stops the others; every step returns what each target did, for the CLI to report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gatekeeper.act.publish import PUBLISHERS
from gatekeeper.act.publish.interface import HttpSettings, PublishContext, Publisher
from gatekeeper.decide.result import Result
from gatekeeper.errors import PublishError


@dataclass(frozen=True)
class Outcome:
    """What one step did at one target: the line to show, and whether it failed."""

    target: str
    ok: bool
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class Publishing:
    publishers: tuple[Publisher, ...]
    context: PublishContext

    def start(self) -> list[Outcome]:
        return self._each(lambda p: p.start(self.context))

    def publish(self, result: Result) -> list[Outcome]:
        return self._each(lambda p: p.publish(result, self.context))

    def abort(self, reason: str) -> list[Outcome]:
        return self._each(lambda p: p.abort(self.context, reason))

    def _each(self, step: Callable[[Publisher], str]) -> list[Outcome]:
        outcomes = []
        for publisher in self.publishers:
            try:
                outcomes.append(Outcome(publisher.name, True, step(publisher)))
            except PublishError as exc:
                outcomes.append(Outcome(publisher.name, False, f"{publisher.name}: {exc}",
                                        exc.hint))
        return outcomes


def open_publishing(names: Sequence[str], env: Mapping[str, str], sha: str | None,
                    settings: HttpSettings, context: PublishContext) -> Publishing:
    """The targets ``names`` (keys of PUBLISHERS) configured from ``env``; raises
    PublishConfigError (exit 2) for the first one that lacks its configuration."""
    return Publishing(tuple(PUBLISHERS[name](env, sha, settings) for name in names), context)
