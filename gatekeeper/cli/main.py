"""The command line: parse options, call one domain function, render, return the exit code.

Heavy imports (MLflow) happen inside the commands that need them, so `--help`, `validate`
and `schema` stay fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from gatekeeper import __version__
from gatekeeper.cli.audit import audit_group, audit_log_option
from gatekeeper.cli.probe import probe_command
from gatekeeper.errors import ExitCode, GatekeeperError, InvalidInputError, ValidationError

F = TypeVar("F", bound=Callable[..., Any])


def tracking_uri_option(func: F) -> F:
    return click.option(
        "--tracking-uri", envvar="GATEKEEPER_TRACKING_URI", metavar="URI",
        help="MLflow tracking/registry URI [default: MLFLOW_TRACKING_URI, else "
             "sqlite:///.gatekeeper/mlflow.db]")(func)


def output_option(func: F) -> F:
    return click.option(
        "-o", "--output", "outputs", multiple=True, envvar="GATEKEEPER_OUTPUT",
        metavar="FMT[=PATH]", help="Output format, optionally to a file; repeatable. "
        "Formats: json, text. [default: text]")(func)


def version_options(func: F) -> F:
    func = click.option("--alias", envvar="GATEKEEPER_ALIAS",
                        help="Gate the version this MLflow alias points to.")(func)
    func = click.option("--version", "version", envvar="GATEKEEPER_VERSION",
                        help="Model version number.")(func)
    func = click.option("--model", required=True, envvar="GATEKEEPER_MODEL",
                        help="Registered model name.")(func)
    return click.option("--milestone", required=True, envvar="GATEKEEPER_MILESTONE",
                        help="Milestone id from the playbook.")(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gatekeeper")
def cli() -> None:
    """Decide whether an ML model version may be promoted, and prove why.

    Exit codes: 0 passed, 1 blocked, 2 invalid input, 3 no verdict (infrastructure),
    4 publishing failed with --require-publish.
    """


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate(paths: Sequence[Path]) -> int:
    """Validate playbooks and policies (default: playbooks/ and policies/). Nothing is
    evaluated."""
    from gatekeeper.load.validate import validate_paths

    report = validate_paths(paths or (Path("playbooks"), Path("policies")))
    click.echo(report.summary())
    return int(ExitCode.PASSED)


@cli.command()
@click.argument("playbook", type=click.Path(path_type=Path, dir_okay=False))
@version_options
@click.option("--promote", is_flag=True, help="On a pass, set the milestone's MLflow alias.")
@tracking_uri_option
@audit_log_option
@output_option
def check(playbook: Path, model: str, version: str | None, alias: str | None, milestone: str,
          promote: bool, tracking_uri: str | None, audit_log: Path,
          outputs: Sequence[str]) -> int:
    """Evaluate one milestone of PLAYBOOK for one model version; record and print the verdict."""
    from gatekeeper.adapters import mlflow_adapters
    from gatekeeper.cli.outputs import parse_outputs, write_outputs
    from gatekeeper.pipeline import GateRequest, run_gate

    targets = parse_outputs(outputs)
    request = GateRequest(playbook, model, *_version_or_alias(version, alias), milestone,
                          promote=promote)
    result = run_gate(request, mlflow_adapters(tracking_uri, audit_log))
    write_outputs(result, targets)
    return int(result.exit_code)


@cli.command()
@click.argument("playbook", type=click.Path(path_type=Path, dir_okay=False))
@version_options
@click.option("--max-age", default="24h", show_default=True, envvar="GATEKEEPER_MAX_AGE",
              help="Oldest passing decision accepted, e.g. 90m, 24h, 7d.")
@click.option("--now", envvar="GATEKEEPER_NOW", metavar="ISO8601",
              help="Evaluate expiry at this instant instead of the clock (reproducible runs).")
@tracking_uri_option
@audit_log_option
def promote(playbook: Path, model: str, version: str | None, alias: str | None, milestone: str,
            max_age: str, now: str | None, tracking_uri: str | None, audit_log: Path) -> int:
    """Set the milestone's alias on a recorded pass (refuses without one)."""
    from gatekeeper.adapters import mlflow_adapters
    from gatekeeper.common.durations import parse_duration, parse_instant
    from gatekeeper.pipeline import GateRequest, run_promote

    request = GateRequest(playbook, model, *_version_or_alias(version, alias), milestone)
    outcome = run_promote(request, mlflow_adapters(tracking_uri, audit_log),
                          max_age=parse_duration(max_age, "--max-age"),
                          now=parse_instant(now, "--now"))
    if outcome.promoted is None:
        click.echo(f"refused: {outcome.reason}")
        return int(ExitCode.BLOCKED)
    p = outcome.promoted
    before = f" (was version {p.previous_version})" if p.previous_version else ""
    click.echo(f"promoted: alias '{p.alias}' -> version {p.version}{before}; "
               f"decision {outcome.decision_hash}")
    return int(ExitCode.PASSED)


@cli.command()
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".gatekeeper"), show_default=True, envvar="GATEKEEPER_WORKDIR",
              help="Where the demo registry, audit log and results are written.")
@click.option("--playbook", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("playbooks") / "demo-classifier.yaml", show_default=True,
              help="The example playbook the demo versions are gated with.")
def demo(workdir: Path, playbook: Path) -> int:
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


@cli.command("schema")
def schema_command() -> int:
    """Print the JSON Schema of the playbook format."""
    from gatekeeper.load.schema import playbook_schema_text

    click.echo(playbook_schema_text(), nl=False)
    return int(ExitCode.PASSED)


def _version_or_alias(version: str | None, alias: str | None) -> tuple[str | None, str | None]:
    if (version is None) == (alias is None):
        raise InvalidInputError("give exactly one of --version or --alias")
    return version, alias


def _register_subcommands() -> None:
    cli.add_command(audit_group)
    cli.add_command(probe_command)


_register_subcommands()


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: one place maps every error to its exit code, no tracebacks."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    try:
        code = cli.main(args=list(argv) if argv is not None else None,
                        prog_name="gatekeeper", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.INVALID_INPUT)
    except click.Abort:
        click.echo("gatekeeper: aborted", err=True)
        return int(ExitCode.NO_VERDICT)
    except GatekeeperError as exc:
        report_error(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("gatekeeper: interrupted; nothing was promoted", err=True)
        return int(ExitCode.NO_VERDICT)
    return int(code or 0)


def report_error(exc: GatekeeperError) -> None:
    if isinstance(exc, ValidationError):
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        files = len({p.file for p in exc.problems})
        click.echo(f"gatekeeper: {len(exc.problems)} problem(s) in {files} file(s)", err=True)
    else:
        click.echo(f"gatekeeper: error: {exc}", err=True)
    if exc.hint and not os.environ.get("GATEKEEPER_NO_HINTS"):
        click.echo(f"hint: {exc.hint}", err=True)
