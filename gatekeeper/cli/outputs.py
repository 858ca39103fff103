"""Where results go: parse ``-o FMT[=PATH]``, check every path before anything is evaluated,
and write each rendering (stdout, or a regular file written atomically so a reader never sees
half a report). Only the CLI writes files and stdout.

With ``-o github`` inside GitHub Actions (``$GITHUB_OUTPUT`` set), the step's outputs
``verdict``, ``exit_code`` and ``audit_hash`` are appended to that file as well.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import click

from gatekeeper.common.files import write_atomic
from gatekeeper.common.redact import redact_secrets
from gatekeeper.decide.result import Result
from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.render import FORMATS

#: The format whose use also sets the step outputs in ``$GITHUB_OUTPUT``.
GITHUB_FORMAT = "github"
GITHUB_OUTPUT = "GITHUB_OUTPUT"


@dataclass(frozen=True)
class OutputTarget:
    format: str
    path: Path | None


def parse_outputs(specs: Sequence[str]) -> tuple[OutputTarget, ...]:
    """``["text", "json=out/r.json"]`` → targets. Unknown formats, two formats on stdout and
    paths that are not (or cannot become) regular files are invalid input (exit 2), found
    before anything is evaluated."""
    targets = []
    for spec in specs or ("text",):
        name, _, path = spec.partition("=")
        if name not in FORMATS:
            raise InvalidInputError(f"-o/--output: unknown format '{name}' "
                                    f"(available: {', '.join(sorted(FORMATS))})")
        target = OutputTarget(name, Path(path) if path else None)
        if target.path is not None:
            check_writable(target.path)
        targets.append(target)
    on_stdout = [t.format for t in targets if t.path is None]
    if len(on_stdout) > 1:
        raise InvalidInputError(f"-o/--output: {' and '.join(on_stdout)} would both go to "
                                "stdout; send all but one to a file (FMT=PATH)")
    step_outputs = github_output_path(targets, os.environ)
    if step_outputs is not None:
        check_appendable(step_outputs)
    return tuple(targets)


def check_writable(path: Path) -> None:
    """A result file replaces a regular file or creates one: never a device, a symlink, a
    folder, or a file in a folder that cannot exist."""
    flag = f"-o/--output {path}"
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InvalidInputError(f"{flag}: {exc.strerror or exc}") from exc
    if mode is not None and not stat.S_ISREG(mode):
        what = ("a folder" if stat.S_ISDIR(mode) else "a symlink" if stat.S_ISLNK(mode)
                else "a device or special file")
        raise InvalidInputError(f"{flag}: is {what}; results are written to regular files only")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise InvalidInputError(f"{flag}: {parent} is not a folder")


def write_outputs(result: Result, targets: Sequence[OutputTarget]) -> None:
    """Each rendering to its target; then, with ``-o github`` and ``$GITHUB_OUTPUT`` set, the
    step outputs."""
    for target in targets:
        text = redact_secrets(FORMATS[target.format](result))
        if target.path is None:
            click.echo(text, nl=False)
        else:
            write_atomic(target.path, text)
    step_outputs = github_output_path(targets, os.environ)
    if step_outputs is not None:
        append_step_outputs(step_outputs, step_output_lines(result))


def github_output_path(targets: Sequence[OutputTarget],
                       environ: Mapping[str, str]) -> Path | None:
    """``$GITHUB_OUTPUT`` when the github format is among ``targets`` (an empty value counts
    as unset, as the runner never sets one)."""
    value = environ.get(GITHUB_OUTPUT, "")
    if not value or not any(t.format == GITHUB_FORMAT for t in targets):
        return None
    return Path(value)


def step_output_lines(result: Result) -> str:
    """``verdict=block``, ``exit_code=1`` and ``audit_hash=sha256:...`` (empty when nothing
    was recorded), one ``name=value`` line each: every value is one line, so the runner's
    plain form is safe and no heredoc delimiter is needed."""
    audit_hash = result.audit.hash if result.audit else ""
    return (f"verdict={result.decision.value}\n"
            f"exit_code={int(result.exit_code)}\n"
            f"audit_hash={audit_hash}\n")


def check_appendable(path: Path) -> None:
    """``$GITHUB_OUTPUT`` must be a file we may append to (or create), found before anything
    is evaluated: a step whose outputs are silently missing would pass a later ``if:``."""
    where = f"{GITHUB_OUTPUT} {path}"
    try:
        mode: int | None = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InvalidInputError(f"{where}: {exc.strerror or exc}") from exc
    if mode is not None and stat.S_ISDIR(mode):
        raise InvalidInputError(f"{where}: is a folder; the step outputs are appended to a file")
    if mode is not None and not os.access(path, os.W_OK):
        raise InvalidInputError(f"{where}: not writable; the step outputs cannot be appended")
    if mode is None and not path.absolute().parent.is_dir():
        raise InvalidInputError(f"{where}: {path.absolute().parent} is not a folder")


def append_step_outputs(path: Path, lines: str) -> None:
    """Append ``lines`` to ``path``, never truncating what earlier steps wrote; a last line
    left without its newline is ended first, so ours are never glued to it."""
    try:
        with path.open("a+b") as handle:
            prefix = b"\n" if _ends_mid_line(handle) else b""
            handle.write(prefix + lines.encode("utf-8"))
    except OSError as exc:
        raise InfrastructureError(f"cannot append the step outputs to {GITHUB_OUTPUT} {path}: "
                                  f"{exc.strerror or exc}") from exc


def _ends_mid_line(handle: BinaryIO) -> bool:
    try:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return False
        handle.seek(end - 1)
        return handle.read(1) != b"\n"
    except OSError:  # a pipe or terminal cannot seek: nothing to look back at
        return False
