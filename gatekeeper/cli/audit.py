"""`gatekeeper audit verify | log | export | report`: check, list, export and report on the
audit log.

The main CLI adds this group with ``main.add_command(audit_group)``. Nothing here imports MLflow.
Exit codes (CONTRACT.md): `verify` exits 0 intact, 1 tampered; `report` 0 rendered from an
intact store, 1 rendered from one that failed verification; every `audit` command exits 2
when the log or an option cannot be read (the log is these commands' input).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from gatekeeper.cli.audit_evidence import redact_command, verify_evidence_command
from gatekeeper.cli.audit_integrity import repair_command, trusted_keys, verify_command
from gatekeeper.cli.options import apply, audit_log_option, option
from gatekeeper.cli.outputs import check_writable
from gatekeeper.common.durations import DURATION, parse_duration, parse_instant
from gatekeeper.common.files import write_atomic
from gatekeeper.common.redact import redact_secrets
from gatekeeper.errors import InvalidInputError
from gatekeeper.record import (
    ACTIONS,
    AuditReadError,
    AuditStore,
    RecordFilter,
    StoredRecord,
    open_store,
)
from gatekeeper.record.review import ChainCheck, Dossier, chain_check, select_scope
from gatekeeper.record.signing import TrustedKeys
from gatekeeper.render.audit import jsonl_document
from gatekeeper.render.dossier import FORMATS as DOSSIER_FORMATS
from gatekeeper.render.review import csv_document, intoto_document, log_table
from gatekeeper.render.verification import signatures_line

INTACT, TAMPERED = 0, 1


def time_bound(_ctx: click.Context, param: click.Parameter, value: str | None
               ) -> datetime | None:
    """Option callback, in the one grammar of common/durations.py: an ISO 8601 instant (UTC
    when it names no zone), or a duration (``7d``, ``24h``, ``90m``) meaning that long ago."""
    if value is None:
        return None
    flag = f"--{param.name}"
    try:
        if DURATION.match(value.strip()):
            return datetime.now(UTC) - parse_duration(value, flag)
        return parse_instant(value, flag)
    except InvalidInputError:
        raise click.BadParameter(
            f"{value!r} is neither an ISO 8601 date/time nor a duration like 7d, 24h or 90m "
            "(that long ago)") from None


#: The options that choose which records a review covers.
SELECTIONS = ("model", "version", "milestone", "alias", "actor", "decision", "action", "since",
              "until", "waiver_used")


def note_environment() -> None:
    """Say on stderr which selections came from GATEKEEPER_<OPTION> rather than the command
    line: GATEKEEPER_ACTOR is also who runs a gate, and a GATEKEEPER_MODEL or _VERSION left in
    a CI job must not narrow what a reviewer sees without a word."""
    ctx = click.get_current_context()
    for param in ctx.command.params:
        if (param.name in SELECTIONS and isinstance(param, click.Option)
                and ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT):
            flag = max(param.opts, key=len)
            click.echo(f"note: {flag} {ctx.params.get(param.name)!s} from "
                       f"{param.envvar} (only matching records are shown)", err=True)


filter_options = apply(  # the record filters shared by `audit log` and `audit export`
    option("--model", help="Only this registered model."),
    option("--version", help="Only this model version."),
    option("--milestone", help="Only this milestone id."),
    option("--alias", help="Only the moves of this alias (and refusals to move it)."),
    option("--actor", help="Only records written by this actor."),
    option("--decision", type=click.Choice(["pass", "block"]), help="Only this verdict."),
    option("--action", type=click.Choice(ACTIONS), help="Only this kind of record."),
    option(
        "--since", callback=time_bound, metavar="WHEN",
        help="Recorded at or after WHEN: ISO 8601 (UTC if no zone) or a duration ago (7d).",
    ),
    option(
        "--until", callback=time_bound, metavar="WHEN",
        help="Recorded before WHEN: ISO 8601 (UTC if no zone) or a duration ago (24h).",
    ),
    option("--waiver-used", is_flag=True,
           help="Only decisions a waiver let through, and the waiver_use records."),
)


@click.group("audit")
def audit_group() -> None:
    """Verify the audit log's integrity; list and filter records; export them for review."""


# verify and repair live in cli/audit_integrity.py (the integrity commands).
for _command in (verify_command, repair_command, verify_evidence_command, redact_command):
    audit_group.add_command(_command)


@audit_group.command("log")
@audit_log_option
@filter_options
@option(
    "-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text",
    show_default=True, help="One line per record: a summary, or the stored JSON.",
)
def log_command(audit_log: str, fmt: str, **filters: Any) -> None:
    """List records, oldest first, as aligned columns (an alias move as `champion: v1 → v2`)
    or as stored (-o json). Does not verify the chain: run `audit verify` for that."""
    note_environment()
    with log_as_input():
        records = list(select(audit_log, RecordFilter(**filters)))
    if fmt == "json":
        click.echo(jsonl_document(records), nl=False)
    else:
        click.echo(log_table([s.record for s in records]), nl=False)


@audit_group.command("export")
@audit_log_option
@option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv", "intoto"]), default="jsonl",
    show_default=True,
    help="jsonl: records exactly as stored; csv: one row per check (docs/audit.md#review); "
         "intoto: one in-toto Statement per decision, as JSON lines.",
)
@option(
    "-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
    show_default=True, help="File to write ('-' for stdout).",
)
@filter_options
def export_command(audit_log: str, fmt: str, output: str, **filters: Any) -> None:
    """Export records for compliance review. Does not verify the chain: run `audit verify`."""
    note_environment()
    with log_as_input():
        # Read everything first: a log that fails halfway must not leave a partial export.
        records = list(select(audit_log, RecordFilter(**filters)))
    if fmt == "jsonl":
        text = jsonl_document(records)
    elif fmt == "csv":
        text = csv_document(r.record for r in records)
    else:
        text = intoto_document((r.record for r in records), open_store(audit_log).location)
    try:
        with click.open_file(output, "w", encoding="utf-8", atomic=output != "-") as out:
            out.write(text)
    except OSError as exc:
        raise InvalidInputError(f"--output {output}: cannot write: {exc.strerror or exc}"
                                ) from exc


@audit_group.command("report")
@audit_log_option
@option("--model", required=True, help="The registered model the dossier is about.")
@option("--alias", help="Every version this alias pointed to (by the gate's promotions).")
@option("--version", help="This version only.")
@option("--public-key", "public_keys", multiple=True, metavar="KEY",
        help="A trusted Ed25519 public key: a file, or its base64 (repeatable). Without one, "
             "signatures are not checked, and the dossier says so.")
@option(
    "-o", "--output", "outputs", multiple=True, metavar="FMT[=PATH]",
    help="html or markdown, optionally to a file; repeatable, at most one to stdout "
         "[default: markdown]",
)
def report_command(audit_log: str, model: str, alias: str | None, version: str | None,
                   public_keys: tuple[str, ...], outputs: tuple[str, ...]) -> int:
    """The dossier a reviewer hands an auditor: the timeline of decisions and promotions of a
    version (or of every version an alias pointed to), each check's threshold and observed
    value, approvals, waivers, evidence digests, and the outcome of verifying the store.

    Exits 0 when rendered from an intact store, 1 when rendered but verification found
    problems (the dossier lists them), 2 when nothing matches or an option is invalid."""
    if alias is not None and version is not None:
        raise InvalidInputError("--alias and --version both given: a dossier covers one")
    note_environment()
    targets = dossier_targets(outputs)
    trusted = trusted_keys(public_keys)
    with log_as_input():
        store = open_store(audit_log)
        scope = select_scope((s.record for s in store.records()), model, version=version,
                             alias=alias)
        if not scope.records:
            raise InvalidInputError(f"audit store {store.location}: no records of "
                                    f"{scope.title}")
        chain = verify_store(store, trusted)
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    dossier = Dossier(scope, chain, store.location, now)
    for name, path in targets:
        text = redact_secrets(DOSSIER_FORMATS[name](dossier))
        if path is None:
            click.echo(text, nl=False)
        else:
            write_atomic(path, text)
    return INTACT if chain.ok else TAMPERED


def verify_store(store: AuditStore, trusted: TrustedKeys) -> ChainCheck:
    """Every finding, the signatures (with the trusted keys) and the checkpoint beside the log
    where the store can tell them all (``inspect``); else its own ``verify()``, in brief."""
    inspect = getattr(store, "inspect", None)
    if inspect is None:
        return chain_check(store.verify())
    report = inspect(trusted)
    return chain_check(report, signatures_line(report))


def dossier_targets(specs: Sequence[str]) -> list[tuple[str, Path | None]]:
    """``["html=d.html", "markdown"]`` → (format, path or None for stdout); exit 2 for an
    unknown format, two on stdout or a path that cannot be written."""
    targets: list[tuple[str, Path | None]] = []
    for spec in specs or ("markdown",):
        name, _, path = spec.partition("=")
        if name not in DOSSIER_FORMATS:
            raise InvalidInputError(f"-o/--output: unknown dossier format '{name}' "
                                    f"(available: {', '.join(sorted(DOSSIER_FORMATS))})")
        if path:
            check_writable(Path(path))
        targets.append((name, Path(path) if path else None))
    on_stdout = [name for name, path in targets if path is None]
    if len(on_stdout) > 1:
        raise InvalidInputError(f"-o/--output: {' and '.join(on_stdout)} would both go to "
                                "stdout; send all but one to a file (FMT=PATH)")
    return targets


def select(audit_log: str, selection: RecordFilter) -> Iterator[StoredRecord]:
    """The stored records that ``selection`` matches, in log order."""
    return (s for s in open_store(audit_log).records() if selection.matches(s.record))


@contextlib.contextmanager
def log_as_input() -> Iterator[None]:
    """For these commands the log is the input: one that cannot be read is exit 2, not 3."""
    try:
        yield
    except AuditReadError as exc:
        raise InvalidInputError(str(exc), hint=exc.hint) from exc
