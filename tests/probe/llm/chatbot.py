"""What the LLM gate tests share: the `chatbot` model's three-milestone playbook, with the
checks each test puts in its POC and serve milestones, and `gatekeeper check` run on it with
its JSON result read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gatekeeper.cli import run

ACCURACY = ("      - {id: acc, kind: metric_threshold, category: quality, owner: ds, key: accuracy,"
            " min: 0.5}\n")


def chatbot_playbook(folder: Path, name: str, serve_checks: str, *, poc_checks: str = ACCURACY,
                     head: str = "") -> Path:
    """``folder/name.yaml``: POC, serve and pilot (alias ``champion``); ``head`` goes before
    the milestones (a ``cost_model``), the checks are YAML list items indented six spaces."""
    path = folder / f"{name}.yaml"
    path.write_text(
        "model: chatbot\n"
        "owners: {product: p@example.com, platform: o@example.com, data_science: d@example.com}\n"
        f"{head}milestones:\n"
        "  - id: poc\n    title: POC\n    stage: poc\n    alias: poc-ok\n    checks:\n"
        f"{poc_checks}"
        "  - id: serve\n    title: Serve layer\n    stage: serve\n    alias: serve-ok\n"
        f"    checks:\n{serve_checks}"
        "  - id: pilot\n    title: Pilot\n    stage: pilot\n    alias: champion\n    checks:\n"
        "      - {id: err, kind: metric_threshold, category: latency, owner: platform, key: e,"
        " max: 1}\n")
    return path


def check(book: Path, tracking_uri: str, version: str, milestone: str, folder: Path
          ) -> dict[str, Any]:
    """``gatekeeper check`` of ``milestone`` for chatbot ``version``; its JSON result."""
    out = folder / f"{book.stem}-{milestone}-v{version}.json"
    run(["check", str(book), "--model", "chatbot", "--version", version, "--milestone",
         milestone, "--tracking-uri", tracking_uri, "--audit-log", str(folder / "audit.jsonl"),
         "-o", f"json={out}"])
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def check_result(result: dict[str, Any], check_id: str) -> dict[str, Any]:
    """One check's result, by id."""
    found: dict[str, Any] = next(c for c in result["checks"] if c["id"] == check_id)
    return found
