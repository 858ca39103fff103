"""``gatekeeper approve`` (sign an approval of a milestone's latest decision) and
``gatekeeper keys generate`` (make the Ed25519 key pair to sign with); docs/approvals.md."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gatekeeper.cli.check import PLAYBOOK, version_or_alias
from gatekeeper.cli.options import (
    audit_log_option,
    option,
    policies_option,
    tracking_uri_option,
    version_options,
)
from gatekeeper.cli.publish import WARNING
from gatekeeper.common.redact import redact_secrets
from gatekeeper.errors import ExitCode, InvalidInputError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = click.Path(path_type=Path, dir_okay=False)


@click.command("approve")
@click.argument("playbook", type=PLAYBOOK)
@version_options
@option("--role", required=True, help="The approval role you approve in (from the policy).")
@option("--key", required=True, type=KEY_FILE, metavar="FILE",
        help="Your Ed25519 private key (PEM or OpenSSH); its public key must be yours in the "
             "policy.")
@option("--expires-in", metavar="DURATION",
        help="How long the approval counts, e.g. 72h, 7d [default: the policies' max_days, "
             "else 7d; never longer than max_days]")
@option("--now", metavar="ISO8601", help="Issue the approval at this instant (tests, replays).")
@policies_option
@tracking_uri_option
@audit_log_option
def approve_command(playbook: Path, model: str, version: str | None, alias: str | None,
                    milestone: str, role: str, key: Path, expires_in: str | None,
                    now: str | None, policies: Path | None, tracking_uri: str | None,
                    audit_log: str) -> int:
    """Sign an approval of the latest decision for a model version's milestone."""
    from gatekeeper.act.approve import mlflow_tagger, run_approve
    from gatekeeper.adapters import mlflow_adapters
    from gatekeeper.common.durations import parse_duration, parse_instant
    from gatekeeper.evidence.mlflow_env import default_tracking_uri
    from gatekeeper.pipeline import GateRequest

    request = GateRequest(playbook, model, *version_or_alias(version, alias), milestone,
                          policies=policies)
    uri = tracking_uri or default_tracking_uri()
    outcome = run_approve(request, role, private_key(key),
                          parse_duration(expires_in, "--expires-in") if expires_in else None,
                          mlflow_adapters(uri, audit_log), mlflow_tagger(uri),
                          parse_instant(now, "--now"))
    if outcome.warning:
        click.echo(WARNING + redact_secrets(outcome.warning), err=True)
    click.echo(redact_secrets(outcome.describe()))
    return int(ExitCode.PASSED)


def private_key(path: Path) -> Ed25519PrivateKey:
    """The signing key in ``path``; a bad file is exit 2 naming --key (never its content)."""
    from gatekeeper.record.approval import BadKeyError, read_private_key

    try:
        return read_private_key(path)
    except BadKeyError as exc:
        raise InvalidInputError(f"--key: {exc}") from None


@click.group("keys")
def keys_group() -> None:
    """Key pairs for signed approvals."""


@keys_group.command("generate")
@option("--out", "out", required=True, type=KEY_FILE, metavar="FILE",
        help="Where to write the new private key (PEM, readable by you only).")
def generate_command(out: Path) -> int:
    """Write a new Ed25519 private key to FILE; print the public key for the policy."""
    from gatekeeper.record.approval import key_id, new_private_key_pem, public_key_text

    pem, public = new_private_key_pem()
    try:
        # O_EXCL: never overwrite a key (someone's approvals may depend on it); 0600 from
        # the first byte, not chmod-ed afterwards.
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInputError(f"--out: {out} exists; gatekeeper never overwrites a key") from None
    except OSError as exc:
        raise InvalidInputError(f"--out: {out}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    click.echo(f"wrote {out} (private: keep it to yourself; key id {key_id(public)})")
    click.echo(f"public_key: {public_key_text(public)}")
    return int(ExitCode.PASSED)
