"""``gatekeeper diff``: what a change to playbooks and policies does to the gate, between two
commits (or a commit and the working tree), in any output format."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from gatekeeper.cli.options import option, output_option
from gatekeeper.decide.result import Result

DEFAULT_PATHS = (Path("playbooks"), Path("policies"))


@click.command("diff")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@option("--base", required=True, metavar="REF",
        help="Commit to compare against: a branch, tag or sha (e.g. origin/main).")
@option("--head", metavar="REF",
        help="Commit to compare [default: the working tree, uncommitted edits included]")
@output_option
def diff_command(paths: Sequence[Path], base: str, head: str | None,
                 outputs: Sequence[str]) -> int:
    """List playbook and policy changes between --base and --head (default: playbooks/ and
    policies/) and flag each one that makes a gate easier to pass. Exit 1 when a policy
    forbids one of them."""
    from gatekeeper.cli.outputs import parse_outputs, write_outputs

    targets = parse_outputs(outputs)
    result = diff_refs(Path.cwd(), base, head, paths or DEFAULT_PATHS)
    write_outputs(result, targets)
    return int(result.exit_code)


def diff_refs(start: Path, base: str, head: str | None, paths: Sequence[Path]) -> Result:
    """Load ``paths`` at both revisions, compare the parsed models, decide."""
    from gatekeeper import __version__
    from gatekeeper.decide.changes import Stamp, changes_result
    from gatekeeper.evaluate.changes import compare
    from gatekeeper.load.gitrefs import load_revision, open_repo, repo_paths, resolve_commit
    from gatekeeper.pipeline import utcnow
    from gatekeeper.record.identity import current_identity

    started = utcnow()
    repo = open_repo(start)
    resolve_commit(repo, base, "--base")  # a bad --base is named before --head is read
    inside = repo_paths(repo, paths)
    old = load_revision(repo, base, inside, "--base")
    new = load_revision(repo, head, inside, "--head")
    stamp = Stamp(current_identity(os.environ).actor, started, utcnow(), __version__)
    return changes_result(compare(old, new), old, new, stamp)
