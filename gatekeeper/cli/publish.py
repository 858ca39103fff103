"""``gatekeeper publish`` posts a stored result to a pull request, and the publishing flags
``check`` shares with it (``--github-status``, ``--github-check``, ``--gitlab-status``,
``--sha``, ``--publish-timeout``; ``check`` adds ``--require-publish``).

``check`` publishes around its verdict: ``pending`` before evaluating, the verdict after the
result files and the audit record are written, ``error`` when no verdict was reached. A
publishing failure is a warning there (the verdict's exit code stands) unless
``--require-publish`` makes it exit 4; ``publish`` exits 4 whenever a target failed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gatekeeper.act.publish.interface import HttpSettings, PublishContext
from gatekeeper.cli.errors import report, show_hint
from gatekeeper.cli.options import apply, option
from gatekeeper.common.redact import redact_secrets
from gatekeeper.errors import ExitCode, GatekeeperError, InvalidInputError

if TYPE_CHECKING:  # the publishers are imported only when a command publishes
    from gatekeeper.act.publish.session import Outcome, Publishing
    from gatekeeper.decide.result import Result

F = TypeVar("F", bound=Callable[..., Any])
WARNING = "gatekeeper: warning: "
TARGET_FLAGS = ("github-status", "github-check", "gitlab-status")


@dataclass(frozen=True)
class PublishFlags:
    """The publishing flags of one command line."""

    targets: tuple[str, ...]
    sha: str | None
    timeout_s: float
    require: bool = False

    def open(self, context: PublishContext) -> Publishing | None:
        """The configured targets, or None when none was asked for; raises exit 2 when a
        target lacks its token, repository or commit (before anything is evaluated)."""
        from gatekeeper.act.publish.session import open_publishing

        if not self.targets:
            if self.require:
                raise InvalidInputError("--require-publish: no target to publish to (give "
                                        "--github-status, --github-check or --gitlab-status)")
            return None
        settings = HttpSettings(timeout_s=self.timeout_s)
        return open_publishing(self.targets, os.environ, self.sha, settings, context)


def publish_options(*, require: bool) -> Callable[[F], F]:
    """The publishing flags, handed to the command as one ``publish: PublishFlags``."""
    flags = [
        option("--github-status", is_flag=True,
               help="Post a commit status (pending, then success/failure) to GitHub."),
        option("--github-check", is_flag=True,
               help="Post a check run with annotations at the playbook's lines to GitHub."),
        option("--gitlab-status", is_flag=True, help="Post a commit status to GitLab."),
        option("--sha", metavar="SHA",
               help="Commit to publish to [default: the pull request's head from "
                    "GITHUB_EVENT_PATH, else GITHUB_SHA; CI_COMMIT_SHA on GitLab]"),
        option("--publish-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
               show_default=True, metavar="SECONDS",
               help="Connect and read timeout of each publishing request."),
    ]
    if require:
        flags.append(option("--require-publish", is_flag=True,
                            help="Exit 4 when the verdict could not be published."))

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def bundled(*args: Any, github_status: bool, github_check: bool, gitlab_status: bool,
                    sha: str | None, publish_timeout: float, require_publish: bool = False,
                    **kwargs: Any) -> Any:
            chosen = dict(zip(TARGET_FLAGS, (github_status, github_check, gitlab_status),
                              strict=True))
            flags_ = PublishFlags(tuple(n for n, on in chosen.items() if on), sha,
                                  publish_timeout, require_publish)
            return func(*args, publish=flags_, **kwargs)
        return apply(*flags)(bundled)  # type: ignore[return-value]
    return decorate


@contextmanager
def announced(publishing: Publishing | None) -> Iterator[None]:
    """Post ``pending`` before the body evaluates; when it fails with no verdict, post
    ``error`` (best effort, so nothing stays pending) and let the error through."""
    if publishing is None:
        yield
        return
    show(publishing.start(), stage="the gate goes on")
    try:
        yield
    except GatekeeperError as exc:
        show(publishing.abort(redact_secrets(str(exc).splitlines()[0])), stage="no verdict")
        raise
    except KeyboardInterrupt:
        show(publishing.abort("interrupted"), stage="no verdict")
        raise


def published(publishing: Publishing | None, result: Result, code: int, require: bool) -> int:
    """Post the verdict (after its files and audit record are written); the exit code is the
    verdict's, or 4 when a target failed and ``require`` is set."""
    if publishing is None:
        return code
    outcomes = publishing.publish(result)
    show(outcomes, stage="the verdict stands and is recorded")
    if require and not all(o.ok for o in outcomes):
        return int(ExitCode.PUBLISH_FAILED)
    return code


def show(outcomes: Sequence[Outcome], stage: str) -> None:
    """One line on stderr per target (stdout may carry a rendering): done, or a warning."""
    for outcome in outcomes:
        if outcome.ok:
            click.echo(f"gatekeeper: {redact_secrets(outcome.message)}", err=True)
        else:
            click.echo(f"{WARNING}{redact_secrets(outcome.message)} ({stage})", err=True)
            show_hint(outcome.hint)


@click.command("publish")
@option("--from", "source", required=True, metavar="RESULT.json",
        type=click.Path(path_type=Path, dir_okay=False),
        help="A result written by `gatekeeper check -o json=PATH`.")
@publish_options(require=False)
def publish_command(source: Path, publish: PublishFlags) -> int:
    """Post a stored result to a pull request (exit 0 posted, 4 a target failed)."""
    if not publish.targets:
        raise InvalidInputError("give at least one of --github-status, --github-check, "
                                "--gitlab-status")
    from gatekeeper.cli.stored import read_result

    result = read_result(source)
    publishing = publish.open(PublishContext(result.model.name, result.milestone.id))
    assert publishing is not None
    outcomes = publishing.publish(result)
    for outcome in outcomes:
        if outcome.ok:
            click.echo(redact_secrets(outcome.message))
        else:
            report(outcome.message, outcome.hint)
    return int(ExitCode.PASSED if all(o.ok for o in outcomes) else ExitCode.PUBLISH_FAILED)
