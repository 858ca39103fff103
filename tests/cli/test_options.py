"""One option helper: every option of every command reads GATEKEEPER_<OPTION>."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from gatekeeper.cli import cli, run
from gatekeeper.evidence.mlflow_env import mlflow_client
from tests.cli.test_check import PLAYBOOK, seed


def options(group: click.Group, path: str = "gatekeeper") -> Iterator[tuple[str, click.Option]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from options(command, f"{path} {name}")
            continue
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                yield f"{path} {name}", param


def test_every_option_reads_its_environment_variable() -> None:
    found = list(options(cli))
    assert len(found) > 40
    wrong = [(where, o.opts) for where, o in found
             if o.envvar != "GATEKEEPER_" + max(o.opts, key=len)[2:].replace("-", "_").upper()]
    assert wrong == []


def test_promote_and_the_audit_log_from_the_environment(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(tracking_uri)
    monkeypatch.setenv("GATEKEEPER_PROMOTE", "1")
    monkeypatch.setenv("GATEKEEPER_AUDIT_LOG", str(tmp_path / "env-audit.jsonl"))
    monkeypatch.setenv("GATEKEEPER_TRACKING_URI", tracking_uri)
    assert run(["check", str(PLAYBOOK), "--model", "fraud", "--version", "1",
                "--milestone", "poc"]) == 0
    assert mlflow_client(tracking_uri).get_registered_model("fraud").aliases == {"poc-ok": 1}
    assert run(["audit", "verify"]) == 0  # reads GATEKEEPER_AUDIT_LOG as well
    assert (tmp_path / "env-audit.jsonl").is_file()
