"""``gatekeeper status``: where each version of a model stands, and every protected alias moved
outside the gate. Exit 0 none moved, 1 one or more (a scheduled job alerts), 2 bad input, 3 the
registry or the audit log could not be read (docs/status.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from gatekeeper.cli.options import audit_log_option, option, policies_option, tracking_uri_option
from gatekeeper.errors import InvalidInputError


@click.command("status")
@option("--model", required=True, help="Registered model name.")
@policies_option
@tracking_uri_option
@audit_log_option
@option("-o", "--output", "outputs", multiple=True, metavar="FMT[=PATH]",
        help="text or json, optionally to a file; repeatable, at most one to stdout. "
             "[default: text]")
def status_command(model: str, policies: Path | None, tracking_uri: str | None,
                   audit_log: str, outputs: Sequence[str]) -> int:
    """Each version's milestones and aliases; flags protected aliases moved by hand."""
    from gatekeeper.cli.outputs import check_writable
    from gatekeeper.common.files import write_atomic
    from gatekeeper.common.redact import redact_secrets
    from gatekeeper.evidence.mlflow_env import default_tracking_uri
    from gatekeeper.evidence.mlflow_versions import model_aliases
    from gatekeeper.record import open_store
    from gatekeeper.render.status import STATUS_FORMATS
    from gatekeeper.status import StatusRequest, run_status

    targets = parse_targets(outputs, tuple(STATUS_FORMATS))
    for _, path in targets:
        if path is not None:
            check_writable(path)
    request = StatusRequest(model, tracking_uri or default_tracking_uri(), policies)
    status = run_status(request, model_aliases, open_store(audit_log))
    for name, path in targets:
        text = redact_secrets(STATUS_FORMATS[name](status))
        if path is None:
            click.echo(text, nl=False)
        else:
            write_atomic(path, text)
    return int(status.exit_code)


def parse_targets(specs: Sequence[str], formats: Sequence[str]
                  ) -> list[tuple[str, Path | None]]:
    """``["text", "json=s.json"]`` → (format, path or None for stdout); exit 2 on an unknown
    format or two formats on stdout."""
    targets = []
    for spec in specs or ("text",):
        name, _, path = spec.partition("=")
        if name not in formats:
            raise InvalidInputError(f"-o/--output: unknown format '{name}' "
                                    f"(available: {', '.join(sorted(formats))})")
        targets.append((name, Path(path) if path else None))
    on_stdout = [name for name, path in targets if path is None]
    if len(on_stdout) > 1:
        raise InvalidInputError(f"-o/--output: {' and '.join(on_stdout)} would both go to "
                                "stdout; send all but one to a file (FMT=PATH)")
    return targets
