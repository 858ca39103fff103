"""`gatekeeper report --from RESULT.json` through the real CLI: a stored result renders in any
format exactly as `check` rendered it, exit 0; anything that is not a result is exit 2 with one
line naming the file (and the JSON line and column, or the missing field), no traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.cli import run
from gatekeeper.render import FORMATS
from tests.cli.test_check import gate, seed
from tests.support.results import sample_result


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    path = tmp_path / "result.json"
    path.write_text(FORMATS["json"](sample_result()), encoding="utf-8")
    return path


def test_renders_a_stored_result_as_text_and_exits_0_even_for_a_block(
        stored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["report", "--from", str(stored)]) == 0  # rendered; the result says "block"
    assert capsys.readouterr().out == FORMATS["text"](sample_result())


def test_every_format_at_once_to_files_and_one_to_stdout(
        stored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = ["-o", "markdown"] + [f"-o{name}={out / name}" for name in sorted(FORMATS)
                                 if name != "markdown"]
    assert run(["report", "--from", str(stored), *args]) == 0
    assert capsys.readouterr().out == FORMATS["markdown"](sample_result())
    for name in sorted(FORMATS):
        if name != "markdown":
            assert (out / name).read_text() == FORMATS[name](sample_result()), name
    # json → report → json is a fixed point: nothing is lost on the way back.
    assert json.loads((out / "json").read_text()) == json.loads(stored.read_text())


def test_environment_stands_in_for_the_options(
        stored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_FROM", str(stored))
    monkeypatch.setenv("GATEKEEPER_OUTPUT", f"html={tmp_path / 'r.html'}")
    assert run(["report"]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_check_then_report_gives_the_text_check_gave(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit, result = tmp_path / "audit.jsonl", tmp_path / "result.json"
    version = seed(tracking_uri, {"auc": 0.7, "latency.predict.p95_ms": 20.0,
                                  "latency.predict.p99_ms": 60.0, "pilot.error_rate": 0.001})
    code = gate(tracking_uri, audit, "--version", version, "--milestone", "poc",
                "-o", "text", "-o", f"json={result}")
    assert code == 1
    checked = capsys.readouterr().out
    assert "  FAIL   auc-floor" in checked and "remedy: " in checked
    assert run(["report", "--from", str(result)]) == 0
    assert capsys.readouterr().out == checked


def mutate(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("content", "message"), [
    (None, "--from {path}: no such file"),
    ("", "--from {path}:1:1: not valid JSON: Expecting value"),
    ('{"schema": "gatekeeper.result/v1",\n  "decision": pass}',
     "--from {path}:2:15: not valid JSON: Expecting value"),
    (b"\xff\xfe{}", "--from {path}: not UTF-8 text, not a result file"),
    ("[1, 2]", '--from {path}: not a gatekeeper result: expected a JSON object with "schema": '
               '"gatekeeper.result/v1", got a list'),
    ('{"schema": "sarif"}', '--from {path}: not a gatekeeper result: "schema" is "sarif", '
                            'expected "gatekeeper.result/v1"'),
])
def test_a_file_that_is_not_a_result_is_exit_2_in_one_line(
        tmp_path: Path, content: str | bytes | None, message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "result.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    out = tmp_path / "report.html"
    assert run(["report", "--from", str(path), "-o", f"html={out}"]) == 2
    err = capsys.readouterr().err
    assert err == f"gatekeeper: error: {message.format(path=path)}\n"
    assert not out.exists()


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d.pop("checks"), "missing field 'checks'"),
    (lambda d: d.pop("actor"), "missing field 'actor'"),
    (lambda d: d["model"].pop("version"), "missing field 'model.version'"),
    (lambda d: d["checks"][2].pop("status"), "missing field 'checks[2].status'"),
    (lambda d: d["checks"][1]["location"].pop("line"), "missing field 'checks[1].location.line'"),
    (lambda d: d["model"].update(stage="x"), "unknown field 'model.stage'"),
    (lambda d: d.update(model="churn"), 'model: expected an object, got "churn"'),
    (lambda d: d.update(checks={}), "checks: expected a list, got an object"),
    (lambda d: d["checks"][3].update(evidence=["a"]),
     "checks[3].evidence: expected an object, got a list"),
    (lambda d: d["checks"][3]["location"].update(line="52"),
     'checks[3].location.line: expected an integer, got "52"'),
    (lambda d: d["history"][0].update(seq=True), "history[0].seq: expected an integer, got true"),
    (lambda d: d["checks"][0].update(status="passed"), "'passed' is not a valid Status"),
])
def test_a_result_with_a_bad_field_is_exit_2_naming_it(
        stored: Path, change: Any, problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    mutate(stored, change)
    assert run(["report", "--from", str(stored)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"gatekeeper: error: --from {stored}: not a valid result: {problem}\n"
    assert captured.out == ""


def test_a_folder_an_unknown_format_and_a_missing_flag_are_exit_2(
        tmp_path: Path, stored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["report", "--from", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"gatekeeper: error: --from {tmp_path}: is a folder, "
                                       "not a result file\n")
    assert run(["report", "--from", str(stored), "-o", "pdf"]) == 2
    assert capsys.readouterr().err.startswith(
        "gatekeeper: error: -o/--output: unknown format 'pdf' (available: ")
    assert run(["report"]) == 2
    assert "Missing option '--from'" in capsys.readouterr().err
