"""`gatekeeper audit verify | log | export`: check, list and export the audit log.

The main CLI adds this group with ``main.add_command(audit_group)``. Nothing here imports MLflow.
Exit codes (CONTRACT.md): `verify` exits 0 intact, 1 tampered; every `audit` command exits 2
when the log or an option cannot be read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from gatekeeper.errors import GatekeeperError
from gatekeeper.record import (
    ACTIONS,
    DEFAULT_PATH,
    AuditLog,
    RecordFilter,
    StoredRecord,
    parse_time,
)
from gatekeeper.render.audit import csv_document, jsonl_document, text_line, verification_line

INTACT, TAMPERED, UNREADABLE = 0, 1, 2


def iso_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """Option callback: an ISO-8601 date or date-time; naive values are UTC."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 date or date-time: {value!r}") from None


class OneLineErrors(click.Command):
    """Reports a bad option value as one line naming the option, without the usage text."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.BadParameter as exc:
            # Without a context, click prints only "Error: <message>" and exits 2.
            raise click.UsageError(exc.format_message()) from None


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

audit_log_option: Decorator = click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=str(DEFAULT_PATH),
    show_default=True,
    envvar="GATEKEEPER_AUDIT_LOG",
    help="The audit log (env GATEKEEPER_AUDIT_LOG).",
)

_FILTER_OPTIONS: tuple[Decorator, ...] = (
    click.option("--model", help="Only this registered model."),
    click.option("--version", help="Only this model version."),
    click.option("--milestone", help="Only this milestone id."),
    click.option("--decision", type=click.Choice(["pass", "block"]), help="Only this verdict."),
    click.option("--action", type=click.Choice(ACTIONS), help="Only this kind of record."),
    click.option(
        "--since", callback=iso_time, metavar="ISO-8601",
        help="Recorded at or after this time (UTC if no offset).",
    ),
    click.option(
        "--until", callback=iso_time, metavar="ISO-8601",
        help="Recorded before this time (UTC if no offset).",
    ),
)


def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The record filters shared by `audit log` and `audit export`."""
    for option in reversed(_FILTER_OPTIONS):
        command = option(command)
    return command


@click.group("audit")
def audit_group() -> None:
    """Verify the audit log's integrity; list and filter records; export them for review."""


@audit_group.command("verify", cls=OneLineErrors)
@audit_log_option
@click.pass_context
def verify_command(ctx: click.Context, audit_log: Path) -> None:
    """Check the hash chain (and signatures, when GATEKEEPER_AUDIT_KEY is set).

    Exits 0 when intact, 1 at the first tampered record, 2 when the log cannot be read.
    """
    with reported_errors(ctx):
        verification = AuditLog(audit_log).verify()
    click.echo(verification_line(audit_log, verification))
    ctx.exit(INTACT if verification.ok else TAMPERED)


@audit_group.command("log", cls=OneLineErrors)
@audit_log_option
@filter_options
@click.option(
    "-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text",
    show_default=True, help="One line per record: a summary, or the stored JSON.",
)
@click.pass_context
def log_command(ctx: click.Context, /, audit_log: Path, fmt: str, **filters: Any) -> None:
    """List records, oldest first. Does not verify the chain: run `audit verify` for that."""
    with reported_errors(ctx):
        for stored in select(audit_log, RecordFilter(**filters)):
            click.echo(text_line(stored.record) if fmt == "text" else stored.raw)


@audit_group.command("export", cls=OneLineErrors)
@audit_log_option
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True,
    help="jsonl: records exactly as stored; csv: the key columns, one row per record.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
    show_default=True, help="File to write ('-' for stdout).",
)
@filter_options
@click.pass_context
def export_command(
    ctx: click.Context, /, audit_log: Path, fmt: str, output: str, **filters: Any
) -> None:
    """Export records for compliance review. Does not verify the chain: run `audit verify`."""
    with reported_errors(ctx):
        # Read everything first: a log that fails halfway must not leave a partial export.
        records = list(select(audit_log, RecordFilter(**filters)))
    text = jsonl_document(records) if fmt == "jsonl" else csv_document(r.record for r in records)
    try:
        with click.open_file(output, "w", encoding="utf-8", atomic=output != "-") as out:
            out.write(text)
    except OSError as exc:
        fail(ctx, f"--output {output}: cannot write: {exc.strerror or exc}", None)


def select(audit_log: Path, selection: RecordFilter) -> Iterator[StoredRecord]:
    """The stored records that ``selection`` matches, in log order."""
    return (s for s in AuditLog(audit_log).records() if selection.matches(s.record))


@contextlib.contextmanager
def reported_errors(ctx: click.Context) -> Iterator[None]:
    """Turns a gatekeeper error into a message on stderr and exit 2 (the log is unreadable)."""
    try:
        yield
    except GatekeeperError as exc:
        fail(ctx, str(exc), exc.hint)


def fail(ctx: click.Context, message: str, hint: str | None) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    ctx.exit(UNREADABLE)
