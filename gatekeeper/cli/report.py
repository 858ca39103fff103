"""``gatekeeper report``: re-render a stored result (``check -o json=PATH``) in any output
format without evaluating again. Exit 0 when rendered; the stored verdict's own exit code is
in its JSON (``exit_code``), so a pipeline that wants it reads that instead."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from gatekeeper.cli.options import option, output_option
from gatekeeper.errors import ExitCode


@click.command("report")
@option("--from", "source", required=True, metavar="RESULT.json",
        type=click.Path(path_type=Path, dir_okay=True),
        help="A result written by `gatekeeper check -o json=PATH`.")
@output_option
def report_command(source: Path, outputs: Sequence[str]) -> int:
    """Render the stored result RESULT.json again, in any format (nothing is evaluated).

    Exit 0 when every output was written; the stored verdict's exit code is in the JSON."""
    from gatekeeper.cli.outputs import parse_outputs, write_outputs
    from gatekeeper.cli.stored import read_result

    targets = parse_outputs(outputs)
    write_outputs(read_result(source), targets)
    return int(ExitCode.PASSED)
