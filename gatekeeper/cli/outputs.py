"""Where results go: parse ``-o FMT[=PATH]`` and write each rendering (stdout or a file,
written atomically so a reader never sees half a report)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from gatekeeper.decide.result import Result
from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.render import FORMATS


@dataclass(frozen=True)
class OutputTarget:
    format: str
    path: Path | None


def parse_outputs(specs: Sequence[str]) -> tuple[OutputTarget, ...]:
    """``["text", "json=out/r.json"]`` → targets; unknown formats are invalid input."""
    targets = []
    for spec in specs or ("text",):
        name, _, path = spec.partition("=")
        if name not in FORMATS:
            raise InvalidInputError(f"-o/--output: unknown format '{name}' "
                                    f"(available: {', '.join(sorted(FORMATS))})")
        targets.append(OutputTarget(name, Path(path) if path else None))
    return tuple(targets)


def write_outputs(result: Result, targets: Sequence[OutputTarget]) -> None:
    for target in targets:
        text = FORMATS[target.format](result)
        if target.path is None:
            click.echo(text, nl=False)
        else:
            write_atomic(target.path, text)


def write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise InfrastructureError(f"cannot write {path}: {exc.strerror or exc}") from exc
