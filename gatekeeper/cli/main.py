"""The ``gatekeeper`` group: one module per command group, registered here.

Heavy imports (MLflow, the probe) happen inside the commands that need them, so ``--help``,
``validate`` and ``schema`` stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from gatekeeper import __version__
from gatekeeper.cli.approve import approve_command, keys_group
from gatekeeper.cli.audit import audit_group
from gatekeeper.cli.check import check_command, promote_command
from gatekeeper.cli.demo import demo_command
from gatekeeper.cli.diff import diff_command
from gatekeeper.cli.errors import GatekeeperGroup
from gatekeeper.cli.init import init_command
from gatekeeper.cli.probe import probe_command
from gatekeeper.cli.publish import publish_command
from gatekeeper.cli.report import report_command
from gatekeeper.cli.status import status_command
from gatekeeper.cli.validate import schema_command, validate_command


@click.group(cls=GatekeeperGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gatekeeper")
def cli() -> None:
    """Decide whether an ML model version may be promoted, and prove why.

    Exit codes: 0 passed, 1 blocked, 2 invalid input, 3 no verdict (infrastructure),
    4 publishing failed (publish; check with --require-publish).
    """


for _command in (validate_command, check_command, promote_command, probe_command,
                 audit_group, schema_command, demo_command, publish_command, diff_command,
                 report_command, init_command, status_command, approve_command, keys_group):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit code (errors already reported)."""
    code: int = cli.main(args=list(argv) if argv is not None else None, prog_name="gatekeeper",
                         standalone_mode=False)
    return code
