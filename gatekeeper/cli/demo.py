"""``gatekeeper demo``: the embedded default (a local SQLite registry, demo versions, gated)."""

from __future__ import annotations

from pathlib import Path

import click

from gatekeeper.cli.options import option
from gatekeeper.errors import ExitCode, InvalidInputError


@click.command("demo")
@option("--workdir", type=click.Path(path_type=Path, file_okay=False),
        default=Path(".gatekeeper"), show_default=True,
        help="Where the demo registry, audit log and results are written.")
@option("--playbook", type=click.Path(path_type=Path, dir_okay=False),
        default=Path("playbooks") / "demo-classifier.yaml", show_default=True,
        help="The example playbook the demo versions are gated with.")
def demo_command(workdir: Path, playbook: Path) -> int:
    """Seed a local SQLite MLflow registry with demo versions and gate them."""
    from gatekeeper.demo import MODEL_NAME, demo_tracking_uri, run_demo

    if not playbook.is_file():
        raise InvalidInputError(f"--playbook: {playbook} not found",
                                hint="run from the gatekeeper checkout, or pass --playbook")
    click.echo(f"gatekeeper demo: registry {demo_tracking_uri(workdir)}")
    gated = run_demo(workdir, playbook, progress=lambda line: click.echo(line, err=True))
    click.echo("")
    for item in gated:
        promoted = f"  ({item.promoted})" if item.promoted else ""
        click.echo(f"v{item.version} {item.milestone:<6} {item.decision.upper():<6} "
                   f"{item.reason}{promoted}")
    click.echo(f"\naudit log: {workdir / 'audit.jsonl'}   JSON results: {workdir / 'results'}/")
    click.echo("re-run one: gatekeeper check " + f"{playbook} --model {MODEL_NAME} "
               f"--version 3 --milestone serve --tracking-uri {demo_tracking_uri(workdir)} "
               f"--audit-log {workdir / 'audit.jsonl'}")
    return int(ExitCode.PASSED)
