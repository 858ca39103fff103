"""`gatekeeper schema -o FILE` through the real CLI: the file holds exactly what is printed,
carries the `$id` editors and docs/ci.md refer to, and a path that cannot be written is one
line naming the flag (exit 2). The schema's content is tested in tests/load/test_schema.py."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from gatekeeper.cli import run
from gatekeeper.load.schema import SCHEMA_ID

REPO = Path(__file__).parents[2]
DOCS = REPO / "docs" / "ci.md"


def printed_schema(capsys: pytest.CaptureFixture[str]) -> str:
    assert run(["schema"]) == 0
    return capsys.readouterr().out


def test_output_file_holds_exactly_the_printed_schema(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "schemas" / "nested" / "playbook.schema.json"  # folders are created
    assert run(["schema", "-o", str(target)]) == 0
    assert capsys.readouterr() == ("", "")  # nothing on stdout when a file is written
    assert target.read_text(encoding="utf-8") == printed_schema(capsys)


def test_output_replaces_an_existing_file_and_leaves_no_temporary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "playbook.schema.json"
    target.write_text("stale, and longer than nothing " * 1000)
    assert run(["schema", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == printed_schema(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["playbook.schema.json"]


def test_output_reads_gatekeeper_output_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "from-env.json"
    monkeypatch.setenv("GATEKEEPER_OUTPUT", str(target))
    assert run(["schema"]) == 0
    assert json.loads(target.read_text(encoding="utf-8"))["$id"] == SCHEMA_ID


def test_written_schema_has_a_stable_https_id_and_validates_a_real_playbook(
        tmp_path: Path) -> None:
    target = tmp_path / "playbook.schema.json"
    assert run(["schema", "-o", str(target)]) == 0
    schema = json.loads(target.read_text(encoding="utf-8"))
    assert schema["$id"] == SCHEMA_ID == "https://gatekeeper.dev/schema/playbook.schema.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    playbook = yaml.safe_load((REPO / "playbooks" / "demo-classifier.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(playbook)


def test_docs_name_the_schema_id() -> None:
    """docs/ci.md tells editors where the schema lives; it must be the `$id` the CLI writes."""
    text = DOCS.read_text(encoding="utf-8")
    assert f"$schema={SCHEMA_ID}" in text
    assert f'"url": "{SCHEMA_ID}"' in text


@pytest.mark.parametrize(("where", "message"), [
    ("folder", "gatekeeper: error: Invalid value for '-o' / '--output': File '{path}' is a "
               "directory."),
    ("empty", "gatekeeper: error: Invalid value for '-o' / '--output': the path is empty"),
    ("under-a-file", "gatekeeper: error: -o/--output: cannot write {path}: "),
])
def test_a_path_that_cannot_be_written_is_one_line_and_exit_2(
        where: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("x")
    path = {"folder": str(tmp_path), "empty": "",
            "under-a-file": str(tmp_path / "a-file" / "schema.json")}[where]
    assert run(["schema", "-o", path]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(message.format(path=path)), err
    assert (tmp_path / "a-file").read_text() == "x"
