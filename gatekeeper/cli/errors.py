"""The one error handler: every error maps to its exit code and is reported in one style,
``gatekeeper: error: <message>`` (plus ``hint: ...``), never as a traceback."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import click

from gatekeeper.common.redact import redact_secrets
from gatekeeper.errors import ExitCode, GatekeeperError, ValidationError

PREFIX = "gatekeeper: error: "


class GatekeeperGroup(click.Group):
    """A click group whose ``main`` runs every command through :func:`handled`, so the real
    CLI and click's test runner report errors the same way."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        def invoke() -> Any:
            return super(GatekeeperGroup, self).main(
                args=list(args) if args is not None else None, prog_name=prog_name,
                complete_var=complete_var, standalone_mode=False, **extra)

        code = handled(invoke)
        if standalone_mode:
            raise SystemExit(code)
        return code


def handled(invoke: Callable[[], Any]) -> int:
    """Run ``invoke`` (a command); turn its return value or error into the exit code."""
    try:
        return int(invoke() or 0)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:  # a bad flag: one line naming it
        report(exc.format_message())
        return int(ExitCode.INVALID_INPUT)
    except click.Abort:
        report("aborted; nothing was promoted")
        return int(ExitCode.NO_VERDICT)
    except GatekeeperError as exc:
        report_error(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        report("interrupted; nothing was promoted")
        return int(ExitCode.NO_VERDICT)
    except RecursionError:
        report("input nested too deeply to read; nothing was evaluated")
        return int(ExitCode.INVALID_INPUT)


def report(message: str, hint: str | None = None) -> None:
    click.echo(PREFIX + redact_secrets(message), err=True)
    show_hint(hint)


def show_hint(hint: str | None) -> None:
    if hint and not os.environ.get("GATEKEEPER_NO_HINTS"):
        click.echo(f"hint: {redact_secrets(hint)}", err=True)


def report_error(exc: GatekeeperError) -> None:
    if isinstance(exc, ValidationError):
        for problem in exc.problems:
            click.echo(redact_secrets(str(problem)), err=True)
        files = len({p.file for p in exc.problems})
        click.echo(f"gatekeeper: {len(exc.problems)} problem(s) in {files} file(s)", err=True)
        show_hint(exc.hint)
    else:
        report(str(exc), exc.hint)
