"""``gatekeeper validate`` and ``gatekeeper schema``: the input formats, nothing evaluated."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from gatekeeper.cli.options import non_empty_path, option
from gatekeeper.errors import ExitCode, InfrastructureError, InvalidInputError


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate_command(paths: Sequence[Path]) -> int:
    """Validate playbooks, policies and waiver files (default: playbooks/ and policies/).
    Nothing is evaluated."""
    from gatekeeper.load.validate import validate_paths

    report = validate_paths(paths or (Path("playbooks"), Path("policies")))
    click.echo(report.summary())
    return int(ExitCode.PASSED)


def optional_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """No value: print instead; an empty one is refused (it would mean the working folder)."""
    return None if value is None else non_empty_path(ctx, param, value)


@click.command("schema")
@option("-o", "--output", type=click.Path(path_type=str, dir_okay=False), metavar="FILE",
        callback=optional_path,
        help="Write the schema to FILE (replaced atomically) instead of printing it.")
def schema_command(output: Path | None) -> int:
    """Print the JSON Schema of the playbook format (for editors: docs/ci.md)."""
    from gatekeeper.load.schema import playbook_schema_text

    if output is None:
        click.echo(playbook_schema_text(), nl=False)
    else:
        write_schema(output, playbook_schema_text())
    return int(ExitCode.PASSED)


def write_schema(path: Path, text: str) -> None:
    """Write the schema to ``path``; a path that cannot be written is the user's to fix
    (exit 2, naming the flag), not an infrastructure failure."""
    from gatekeeper.common.files import write_atomic

    try:
        write_atomic(path, text)
    except InfrastructureError as exc:
        raise InvalidInputError(f"-o/--output: {exc}") from None
