"""`gatekeeper schema` matches the committed schema file, and the schema agrees with the
pydantic models on real playbooks (editors validate with it)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from gatekeeper.cli import run

REPO = Path(__file__).parents[2]
COMMITTED = REPO / "gatekeeper" / "load" / "playbook.schema.json"


def test_committed_schema_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema"]) == 0
    assert capsys.readouterr().out == COMMITTED.read_text(), (
        "playbook.schema.json drifted from the models: run `make schema` and commit it")


def test_repository_playbooks_validate_against_the_schema() -> None:
    schema = json.loads(COMMITTED.read_text())
    for path in sorted((REPO / "playbooks").glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_schema_rejects_an_unknown_key() -> None:
    schema = json.loads(COMMITTED.read_text())
    data = yaml.safe_load((REPO / "playbooks" / "demo-classifier.yaml").read_text())
    data["milestones"][0]["checks"][0]["mni"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
