"""``gatekeeper check`` and ``gatekeeper promote``: the gate and the promotion on a recorded
pass. Each parses its options, calls one pipeline function, renders, returns the exit code."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gatekeeper.cli.options import (
    audit_log_option,
    option,
    output_option,
    policies_option,
    tracking_uri_option,
    version_options,
)
from gatekeeper.cli.publish import (
    WARNING,
    PublishFlags,
    announced,
    publish_options,
    published,
)
from gatekeeper.common.redact import redact_secrets
from gatekeeper.errors import ExitCode, InvalidInputError

if TYPE_CHECKING:
    from gatekeeper.evidence.github_reviews import ReviewSource

PLAYBOOK = click.Path(path_type=Path, dir_okay=False)
NOTE = "gatekeeper: note: "


@click.command("check")
@click.argument("playbook", type=PLAYBOOK)
@version_options
@option("--promote", is_flag=True, help="On a pass, set the milestone's MLflow alias.")
@policies_option
@option("--waivers", type=click.Path(path_type=Path), metavar="PATH",
        help="Waivers (a file or folder) that may turn failing checks into waived "
             "(docs/waivers.md).")
@option("--now", metavar="ISO8601",
        help="Judge waiver expiry at this instant instead of the clock (reproducible runs).")
@option("--github-pr", type=click.IntRange(min=1), metavar="N",
        help="Count approving reviews of this GitHub pull request (at its head commit, --sha) "
             "as approvals (docs/approvals.md).")
@tracking_uri_option
@audit_log_option
@output_option
@publish_options(require=True)
def check_command(playbook: Path, model: str, version: str | None, alias: str | None,
                  milestone: str, promote: bool, policies: Path | None,
                  waivers: Path | None, now: str | None, github_pr: int | None,
                  tracking_uri: str | None, audit_log: str, outputs: Sequence[str],
                  publish: PublishFlags) -> int:
    """Evaluate one milestone of PLAYBOOK for one model version; record and print the verdict."""
    from gatekeeper.act.attest import NO_KEY_NOTE
    from gatekeeper.act.publish.interface import PublishContext
    from gatekeeper.adapters import mlflow_adapters
    from gatekeeper.cli.outputs import parse_outputs, write_outputs
    from gatekeeper.common.durations import parse_instant
    from gatekeeper.decide.waivers import warnings
    from gatekeeper.load.policy import load_policies, trusted_keys
    from gatekeeper.pipeline import GateRequest, run_gate

    targets = parse_outputs(outputs)
    request = GateRequest(playbook, model, *version_or_alias(version, alias), milestone,
                          promote=promote, policies=policies, waivers=waivers,
                          now=parse_instant(now, "--now") if now else None,
                          reviews=pull_reviews(github_pr, publish))
    publishing = publish.open(PublishContext(model, milestone))
    with announced(publishing):  # pending now; error if no verdict is reached
        adapters = mlflow_adapters(tracking_uri, audit_log)
        result = run_gate(request, adapters)
    for line in warnings(result.waivers):
        click.echo(WARNING + redact_secrets(line), err=True)
    if adapters.attestor is None and trusted_keys(load_policies(policies)):
        # Only where the organisation counts attestations: elsewhere there is nothing to miss.
        click.echo(NOTE + NO_KEY_NOTE, err=True)
    store_notes(adapters.audit)
    write_outputs(result, targets)  # the verdict's files first: publishing never delays them
    return published(publishing, result, int(result.exit_code), publish.require)


@click.command("promote")
@click.argument("playbook", type=PLAYBOOK)
@version_options
@option("--max-age", default="24h", show_default=True,
        help="Oldest passing decision accepted, e.g. 90m, 24h, 7d.")
@option("--now", metavar="ISO8601",
        help="Evaluate expiry at this instant instead of the clock (reproducible runs).")
@policies_option
@tracking_uri_option
@audit_log_option
def promote_command(playbook: Path, model: str, version: str | None, alias: str | None,
                    milestone: str, max_age: str, now: str | None, policies: Path | None,
                    tracking_uri: str | None, audit_log: str) -> int:
    """Set the milestone's alias on a recorded pass (refuses without one)."""
    from gatekeeper.adapters import mlflow_adapters
    from gatekeeper.common.durations import parse_duration, parse_instant
    from gatekeeper.pipeline import GateRequest, run_promote

    request = GateRequest(playbook, model, *version_or_alias(version, alias), milestone,
                          policies=policies)
    adapters = mlflow_adapters(tracking_uri, audit_log)
    outcome = run_promote(request, adapters, max_age=parse_duration(max_age, "--max-age"),
                          now=parse_instant(now, "--now"))
    click.echo(redact_secrets(outcome.describe()))
    store_notes(adapters.audit)
    return int(ExitCode.PASSED if outcome.promoted else ExitCode.BLOCKED)


def store_notes(store: object) -> None:
    """What the audit store noticed while writing (signing turned on for a log whose earlier
    records are unsigned), one note line each on stderr."""
    for notice in getattr(store, "notices", ()):
        click.echo(NOTE + redact_secrets(notice), err=True)


def pull_reviews(pull: int | None, publish: PublishFlags) -> ReviewSource | None:
    """The pull request's reviews as approvals (``--github-pr``); exit 2 when GITHUB_TOKEN,
    GITHUB_REPOSITORY or the head commit is missing."""
    if pull is None:
        return None
    from gatekeeper.act.publish.interface import HttpSettings
    from gatekeeper.evidence.github_reviews import github_reviews

    return github_reviews(os.environ, pull, publish.sha, HttpSettings(publish.timeout_s))


def version_or_alias(version: str | None, alias: str | None) -> tuple[str | None, str | None]:
    if (version is None) == (alias is None):
        raise InvalidInputError("give exactly one of --version or --alias")
    return version, alias
