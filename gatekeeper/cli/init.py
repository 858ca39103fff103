"""``gatekeeper init``: write a starting playbook for a registered model from what one of its
versions logged, commented with what the team must decide."""

from __future__ import annotations

import re
from pathlib import Path

import click

from gatekeeper.cli.options import option, tracking_uri_option
from gatekeeper.errors import ExitCode, InvalidInputError


@click.command("init")
@option("--model", required=True, help="Registered model name.")
@option("--version", "version", help="Version whose run the playbook is built from "
        "[default: the newest]")
@tracking_uri_option
@option("-o", "--out", "out", type=click.Path(path_type=Path, dir_okay=False),
        help="Where to write the playbook [default: playbooks/<model>.yaml]")
@option("--force", is_flag=True, help="Overwrite the file if it exists.")
def init_command(model: str, version: str | None, tracking_uri: str | None, out: Path | None,
                 force: bool) -> int:
    """Write a starting playbook for MODEL from what a version's run logged."""
    from gatekeeper.common.files import write_atomic

    target = out or Path("playbooks") / f"{file_stem(model)}.yaml"
    refuse_existing(target, force)
    text, summary = scaffold_for(model, version, tracking_uri)
    write_atomic(target, text)
    click.echo(f"wrote {target}: {summary}")
    click.echo(f"next: settle every DECIDE comment, then `gatekeeper validate {target}`")
    return int(ExitCode.PASSED)


def scaffold_for(model: str, version: str | None, tracking_uri: str | None
                 ) -> tuple[str, str]:
    """The playbook text for ``model`` (at ``version``, else its newest) and a one-line
    summary; the text is loaded back with the real loader before anything is written."""
    import tempfile

    from gatekeeper.evidence.interface import EvidenceRequest
    from gatekeeper.evidence.mlflow_env import default_tracking_uri
    from gatekeeper.evidence.mlflow_source import MlflowSource
    from gatekeeper.evidence.mlflow_versions import latest_version
    from gatekeeper.load.playbook import load_playbook
    from gatekeeper.load.scaffold import CHAMPION, scaffold_playbook

    uri = tracking_uri or default_tracking_uri()
    source = MlflowSource(uri)
    number = source.resolve_version(model, version or latest_version(uri, model), None)
    evidence = source.collect(model, number, EvidenceRequest(
        baseline_aliases=frozenset({CHAMPION}), artifacts=True, model_info=True))
    text = scaffold_playbook(evidence.candidate, evidence.baseline(CHAMPION))
    with tempfile.TemporaryDirectory(prefix="gatekeeper-init-") as folder:
        written = Path(folder) / "playbook.yaml"
        written.write_text(text, encoding="utf-8")
        loaded = load_playbook(written)
    checks = sum(len(m.checks) for m in loaded.playbook.milestones)
    return text, f"{checks} checks for model {model} version {number}"


def refuse_existing(target: Path, force: bool) -> None:
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise InvalidInputError(f"--out {target}: not a regular file; not written")
    if target.exists() and not force:
        raise InvalidInputError(f"--out {target}: already exists; not overwritten",
                                hint="pass --force to replace it, or choose another --out")


def file_stem(model: str) -> str:
    """A file name for a model name (which may hold spaces or other characters)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", model).strip("-.") or "model"
