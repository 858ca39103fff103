"""`gatekeeper audit verify` and `gatekeeper audit repair`: the audit trail's integrity.

Added to the `audit` group in cli/audit.py. Nothing here imports MLflow unless an
``--anchor mlflow:...`` is given. Exit codes (docs/CONTRACT.md): `verify` 0 intact, 1 tampered
or damaged, 2 unreadable input (the log, a key, an anchor); `repair` 0 repaired or nothing to
repair, 1 refused (findings other than a torn tail), 2 unreadable input.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import click

from gatekeeper.cli.options import audit_log_option, option, tracking_uri_option
from gatekeeper.errors import InvalidInputError
from gatekeeper.record import AuditReadError, current_identity, open_store
from gatekeeper.record.checkpoint import Anchor, AnchorError, parse_anchor
from gatekeeper.record.jsonl import AuditLog, RepairRefused
from gatekeeper.record.signing import BadKeyError, TrustedKeys
from gatekeeper.record.verify import Report
from gatekeeper.render.audit import verification_line
from gatekeeper.render.verification import refused_lines, report_lines

INTACT, TAMPERED = 0, 1


@click.command("verify")
@audit_log_option
@option("--public-key", "public_keys", multiple=True, metavar="KEY",
        help="A trusted Ed25519 public key: a file, or its base64 (repeatable). Without one, "
             "signatures are not checked, and verify says so.")
@option("--anchor", "anchors", multiple=True, metavar="git:PATH|mlflow:MODEL[/VERSION]",
        help="Compare the log with the checkpoints kept there (repeatable).")
@option("--audit-key", metavar="SECRET",
        help="The legacy HMAC key, to check records signed before Ed25519 replaced it.")
@tracking_uri_option
def verify_command(audit_log: Any, public_keys: tuple[str, ...], anchors: tuple[str, ...],
                   audit_key: str | None, tracking_uri: str | None) -> int:
    """Check the hash chain, the signatures (with --public-key) and the checkpoints (the
    one beside the log, and every --anchor); report every finding with its code.

    Exits 0 when intact, 1 when anything is wrong, 2 when an input cannot be read.
    """
    trusted = trusted_keys(public_keys)
    sources = [parse_anchor(spec, tracking_uri) for spec in anchors]
    with input_errors():
        store = open_store(audit_log)
        inspect = getattr(store, "inspect", None)  # the JSONL log, the PostgreSQL store
        if inspect is None:  # another store: its own verify, in brief
            verification = store.verify()
            click.echo(verification_line(store.location, verification))
            return INTACT if verification.ok else TAMPERED
        legacy = audit_key.encode("utf-8") if audit_key else None
        report: Report = inspect(trusted, legacy_key=legacy, anchors=sources)
    names = tuple(a.name for a in sources)
    where = str(store.path) if isinstance(store, AuditLog) else store.location
    click.echo("\n".join(report_lines(where, report, names)))
    return INTACT if report.ok else TAMPERED


@click.command("repair")
@audit_log_option
def repair_command(audit_log: Any) -> int:
    """Remove a torn last line (an append interrupted mid-write) and record the repair.
    Anything else is refused: exit 1 with verify's findings, the log unchanged."""
    with input_errors():
        store = open_store(audit_log)
        if not isinstance(store, AuditLog):
            raise InvalidInputError(f"audit store {store.location}: repair applies to JSONL "
                                    "files (a database store has no torn lines)")
        try:
            repaired = store.repair(repair_entry())
        except RepairRefused as refused:
            click.echo("\n".join(refused_lines(str(store.path), refused.report)))
            return TAMPERED
    if repaired is None:
        click.echo(f"audit log {store.path}: nothing to repair (no torn last line)")
    else:
        click.echo(f"audit log {store.path}: removed the torn line {repaired.line} "
                   f"({repaired.size} bytes, {repaired.sha256}); recorded as record "
                   f"{repaired.ref.seq}")
    return INTACT


def repair_entry() -> dict[str, Any]:
    identity = current_identity(os.environ)
    return {"actor": identity.actor, "actor_source": identity.actor_source,
            "ci": dict(identity.ci)}


def trusted_keys(values: tuple[str, ...]) -> TrustedKeys:
    try:
        return TrustedKeys.parse(values)
    except BadKeyError as exc:
        raise InvalidInputError(f"--public-key: {exc}") from None


@contextlib.contextmanager
def input_errors() -> Iterator[None]:
    """For these commands the log, keys and anchors are input: unreadable is exit 2, not 3."""
    try:
        yield
    except AuditReadError as exc:
        raise InvalidInputError(str(exc), hint=exc.hint) from exc
    except AnchorError as exc:
        raise InvalidInputError(f"--anchor: {exc}") from exc


__all__ = ["Anchor", "repair_command", "verify_command"]
