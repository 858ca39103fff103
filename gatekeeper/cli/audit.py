"""`gatekeeper audit verify | log | export`: check, list and export the audit log.

The main CLI adds this group with ``main.add_command(audit_group)``. Nothing here imports MLflow.
Exit codes (CONTRACT.md): `verify` exits 0 intact, 1 tampered; every `audit` command exits 2
when the log or an option cannot be read (the log is these commands' input).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from gatekeeper.cli.options import apply, audit_log_option, option
from gatekeeper.errors import InvalidInputError
from gatekeeper.record import (
    ACTIONS,
    AuditLog,
    AuditReadError,
    RecordFilter,
    StoredRecord,
    parse_time,
)
from gatekeeper.render.audit import csv_document, jsonl_document, text_line, verification_line

INTACT, TAMPERED = 0, 1


def iso_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """Option callback: an ISO-8601 date or date-time; naive values are UTC."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 date or date-time: {value!r}") from None


filter_options = apply(  # the record filters shared by `audit log` and `audit export`
    option("--model", help="Only this registered model."),
    option("--version", help="Only this model version."),
    option("--milestone", help="Only this milestone id."),
    option("--decision", type=click.Choice(["pass", "block"]), help="Only this verdict."),
    option("--action", type=click.Choice(ACTIONS), help="Only this kind of record."),
    option(
        "--since", callback=iso_time, metavar="ISO-8601",
        help="Recorded at or after this time (UTC if no offset).",
    ),
    option(
        "--until", callback=iso_time, metavar="ISO-8601",
        help="Recorded before this time (UTC if no offset).",
    ),
)


@click.group("audit")
def audit_group() -> None:
    """Verify the audit log's integrity; list and filter records; export them for review."""


@audit_group.command("verify")
@audit_log_option
def verify_command(audit_log: Path) -> int:
    """Check the hash chain (and signatures, when GATEKEEPER_AUDIT_KEY is set).

    Exits 0 when intact, 1 at the first tampered record, 2 when the log cannot be read.
    """
    with log_as_input():
        verification = AuditLog(audit_log).verify()
    click.echo(verification_line(audit_log, verification))
    return INTACT if verification.ok else TAMPERED


@audit_group.command("log")
@audit_log_option
@filter_options
@option(
    "-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text",
    show_default=True, help="One line per record: a summary, or the stored JSON.",
)
def log_command(audit_log: Path, fmt: str, **filters: Any) -> None:
    """List records, oldest first. Does not verify the chain: run `audit verify` for that."""
    with log_as_input():
        for stored in select(audit_log, RecordFilter(**filters)):
            click.echo(text_line(stored.record) if fmt == "text" else stored.raw)


@audit_group.command("export")
@audit_log_option
@option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True,
    help="jsonl: records exactly as stored; csv: the key columns, one row per record.",
)
@option(
    "-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
    show_default=True, help="File to write ('-' for stdout).",
)
@filter_options
def export_command(audit_log: Path, fmt: str, output: str, **filters: Any) -> None:
    """Export records for compliance review. Does not verify the chain: run `audit verify`."""
    with log_as_input():
        # Read everything first: a log that fails halfway must not leave a partial export.
        records = list(select(audit_log, RecordFilter(**filters)))
    text = jsonl_document(records) if fmt == "jsonl" else csv_document(r.record for r in records)
    try:
        with click.open_file(output, "w", encoding="utf-8", atomic=output != "-") as out:
            out.write(text)
    except OSError as exc:
        raise InvalidInputError(f"--output {output}: cannot write: {exc.strerror or exc}"
                                ) from exc


def select(audit_log: Path, selection: RecordFilter) -> Iterator[StoredRecord]:
    """The stored records that ``selection`` matches, in log order."""
    return (s for s in AuditLog(audit_log).records() if selection.matches(s.record))


@contextlib.contextmanager
def log_as_input() -> Iterator[None]:
    """For these commands the log is the input: one that cannot be read is exit 2, not 3."""
    try:
        yield
    except AuditReadError as exc:
        raise InvalidInputError(str(exc), hint=exc.hint) from exc
