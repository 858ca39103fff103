"""``gatekeeper validate`` and ``gatekeeper schema``: the input formats, nothing evaluated."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from gatekeeper.errors import ExitCode


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate_command(paths: Sequence[Path]) -> int:
    """Validate playbooks and policies (default: playbooks/ and policies/). Nothing is
    evaluated."""
    from gatekeeper.load.validate import validate_paths

    report = validate_paths(paths or (Path("playbooks"), Path("policies")))
    click.echo(report.summary())
    return int(ExitCode.PASSED)


@click.command("schema")
def schema_command() -> int:
    """Print the JSON Schema of the playbook format."""
    from gatekeeper.load.schema import playbook_schema_text

    click.echo(playbook_schema_text(), nl=False)
    return int(ExitCode.PASSED)
