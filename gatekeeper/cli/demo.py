"""``gatekeeper demo``: the embedded default (a local SQLite registry, demo versions, gated).

It runs from any folder: the demo playbook ships inside the package and is copied into the
working folder, where the user can edit it and re-run.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gatekeeper.cli.options import option
from gatekeeper.errors import ExitCode, InvalidInputError

if TYPE_CHECKING:  # the demo module is imported only when the command runs
    from gatekeeper.demo import Gated


@click.command("demo")
@option("--workdir", type=click.Path(path_type=Path, file_okay=False),
        default=Path(".gatekeeper"), show_default=True,
        help="Where the demo playbook, registry, audit log and results are written.")
@option("--playbook", type=click.Path(path_type=Path, dir_okay=False),
        help="Gate with this playbook instead [default: WORKDIR/demo-classifier.yaml, "
             "written from the packaged demo playbook when missing, kept when edited].")
def demo_command(workdir: Path, playbook: Path | None) -> int:
    """Seed a local SQLite MLflow registry with demo versions and gate them."""
    from gatekeeper.demo import demo_tracking_uri, run_demo

    playbook, note = resolve_playbook(workdir, playbook)
    click.echo(f"gatekeeper demo: registry {demo_tracking_uri(workdir)}")
    click.echo(f"playbook: {playbook}{note}")
    gated = run_demo(workdir, playbook, progress=lambda line: click.echo(line, err=True))
    click.echo("\n" + render_verdicts(gated))
    click.echo(render_footer(workdir, playbook))
    return int(ExitCode.PASSED)


def resolve_playbook(workdir: Path, playbook: Path | None) -> tuple[Path, str]:
    """The playbook to gate with, and a note on where it came from."""
    from gatekeeper.demo.playbook import Copy, prepare_playbook

    if playbook is not None:
        if not playbook.is_file():
            raise InvalidInputError(f"--playbook: {playbook} not found",
                                    hint="leave --playbook out to use the packaged demo playbook")
        return playbook, ""
    prepared = prepare_playbook(workdir)
    notes = {
        Copy.WRITTEN: " (written from the packaged demo playbook: edit it and re-run)",
        Copy.PACKAGED: " (the packaged demo playbook)",
        Copy.EDITED: (" (your edited copy, used as it is: it differs from the packaged demo "
                      "playbook, so verdicts may differ; delete it to get the packaged one back)"),
    }
    return prepared.path, notes[prepared.copy]


def render_verdicts(gated: list[Gated]) -> str:
    lines = []
    for item in gated:
        promoted = f"  ({item.promoted})" if item.promoted else ""
        why = f"{item.blockers}  [{item.checks}]" if item.blockers else item.checks
        lines.append(f"v{item.version} {item.milestone:<6} {item.decision.upper():<6} "
                     f"{why}{promoted}")
    return "\n".join(lines)


def render_footer(workdir: Path, playbook: Path) -> str:
    from gatekeeper.decide.checks import PREREQUISITE_ID
    from gatekeeper.demo import MEASURED_METRICS, MODEL_NAME, SEEDED_METRICS

    audit_log = workdir / "audit.jsonl"
    rerun = [*gatekeeper_command(), "check", str(playbook), "--model", MODEL_NAME,
             "--version", "3", "--milestone", "serve",
             "--tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}", "--audit-log", str(audit_log)]
    return "\n".join([
        "",
        f"measured: {', '.join(MEASURED_METRICS)} of a real scikit-learn model on a held-out "
        "split.",
        f"seeded, not measured: {', '.join(SEEDED_METRICS)} (what a load test and a pilot "
        "would log; each run's tag gatekeeper.demo.seeded_metrics lists them).",
        f"prerequisite: {PREREQUISITE_ID} (every earlier milestone passed) is counted apart "
        "from the playbook's checks.",
        f"audit log: {audit_log}   JSON results: {workdir / 'results'}/",
        "re-run one (exit 1: v3 is blocked at serve):",
        "  " + shlex.join(rerun),
    ])


def gatekeeper_command() -> list[str]:
    """How to run gatekeeper again from this folder, as this process was started: ``gatekeeper``
    when that name on PATH is this program, otherwise the path it was started by."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "__main__.py":  # python -m gatekeeper
        return [sys.executable, "-m", "gatekeeper"]
    if argv0.name != "gatekeeper":  # embedded, e.g. under a test runner
        return ["gatekeeper"]
    on_path = shutil.which("gatekeeper")
    if on_path is not None and Path(on_path).resolve() == argv0.resolve():
        return ["gatekeeper"]
    return [sys.argv[0]]
