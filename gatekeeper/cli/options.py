"""Options shared by the commands, and the one helper every option is built with.

Every option also reads ``GATEKEEPER_<OPTION>`` from the environment (CONTRACT.md): the name is
the option's long flag, upper-cased, dashes as underscores (``--max-age`` reads
``GATEKEEPER_MAX_AGE``). A flag given on the command line wins over the environment.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from gatekeeper.errors import InvalidInputError
from gatekeeper.record import DEFAULT_PATH

F = TypeVar("F", bound=Callable[..., Any])


def env_name(*names: str) -> str:
    """``("-o", "--output")`` → ``GATEKEEPER_OUTPUT``."""
    long = next(n for n in names if n.startswith("--"))
    return "GATEKEEPER_" + long[2:].replace("-", "_").upper()


def option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    """``click.option`` that also reads ``GATEKEEPER_<OPTION>``."""
    flags = tuple(n for n in names if n.startswith("-"))
    return click.option(*names, envvar=env_name(*flags), **kwargs)


def apply(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Several options as one decorator, in the order they are listed in ``--help``."""
    def decorate(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return decorate


def tracking_uri_option(func: F) -> F:
    return option("--tracking-uri", metavar="URI",
                  help="MLflow tracking/registry URI [default: MLFLOW_TRACKING_URI, else "
                       "sqlite:///.gatekeeper/mlflow.db]")(func)


def audit_log_option(func: F) -> F:
    """``--audit-store URL`` and its JSONL shorthand ``--audit-log PATH``; the command gets
    one ``audit_log`` argument: the store's location for ``record.open_store``."""
    @functools.wraps(func)
    def command(*args: Any, audit_log: Path | None, audit_store: str | None,
                **kwargs: Any) -> Any:
        return func(*args, audit_log=audit_location(audit_log, audit_store), **kwargs)

    return cast(F, apply(
        option("--audit-log", type=click.Path(dir_okay=False, path_type=str),
               callback=optional_path,
               help=f"The audit log, a JSONL file (the same as --audit-store file:PATH) "
                    f"[default: {DEFAULT_PATH}]"),
        option("--audit-store", metavar="URL",
               help="The audit store: file:PATH (a JSONL file) or postgresql://HOST/DB, "
                    "shared by many runners (docs/audit.md#stores); the password from "
                    "PGPASSWORD, never the URL, in CI [default: the --audit-log file]"),
    )(command))


def audit_location(audit_log: Path | None, audit_store: str | None) -> str:
    """Where the audit records are: ``--audit-store`` or ``--audit-log`` (exit 2 for both,
    or either empty), else the default JSONL file."""
    if audit_log is not None and audit_store is not None:
        raise InvalidInputError(
            "--audit-log and --audit-store both given: give one (--audit-log PATH is "
            "--audit-store file:PATH); GATEKEEPER_AUDIT_LOG and GATEKEEPER_AUDIT_STORE count "
            "as given")
    if audit_store is not None:
        if not audit_store.strip() or audit_store.strip() == "file:":
            raise InvalidInputError("--audit-store: the location is empty")
        return audit_store
    path = str(audit_log if audit_log is not None else DEFAULT_PATH)
    # A path with a colon could read as a store's name (``postgresql:x``): say it is a file.
    return f"file:{path}" if ":" in path else path


def non_empty_path(_ctx: click.Context, _param: click.Parameter, value: str) -> Path:
    """An empty path would silently mean the working folder."""
    if not value.strip():
        raise click.BadParameter("the path is empty")
    return Path(value)


def optional_path(ctx: click.Context, param: click.Parameter, value: str | None
                  ) -> Path | None:
    """``non_empty_path`` for an option without a default."""
    return None if value is None else non_empty_path(ctx, param, value)


def policies_option(func: F) -> F:
    return option("--policies", type=click.Path(path_type=Path), metavar="PATH",
                  help="Organisation policies (a file or folder) every playbook must keep "
                       "[default: policies/ when it exists]")(func)


def output_option(func: F) -> F:
    from gatekeeper.render import FORMATS

    names = ", ".join(sorted(FORMATS))
    return option("-o", "--output", "outputs", multiple=True, metavar="FMT[=PATH]",
                  help=f"Output format, optionally to a file; repeatable, at most one to "
                       f"stdout. Formats: {names}. [default: text]")(func)


def version_options(func: F) -> F:
    return apply(
        option("--model", required=True, help="Registered model name."),
        option("--version", "version", help="Model version number."),
        option("--alias", help="Gate the version this MLflow alias points to."),
        option("--milestone", required=True, help="Milestone id from the playbook."),
    )(func)
