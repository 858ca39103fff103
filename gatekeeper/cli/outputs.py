"""Where results go: parse ``-o FMT[=PATH]``, check every path before anything is evaluated,
and write each rendering (stdout, or a regular file written atomically so a reader never sees
half a report). Only the CLI writes files and stdout."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from gatekeeper.common.files import write_atomic
from gatekeeper.common.redact import redact_secrets
from gatekeeper.decide.result import Result
from gatekeeper.errors import InvalidInputError
from gatekeeper.render import FORMATS


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
    for target in targets:
        text = redact_secrets(FORMATS[target.format](result))
        if target.path is None:
            click.echo(text, nl=False)
        else:
            write_atomic(target.path, text)
