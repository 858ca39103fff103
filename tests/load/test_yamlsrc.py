"""The YAML reader: YAML 1.2 values, positions, and every bad input refused quickly as one
located problem (never a traceback, never a hang). End-to-end cases through the real CLI are in
tests/faults/test_load_faults.py; the measured times in bench/load_bounds.py."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.errors import Problem
from gatekeeper.load import yamlsrc
from gatekeeper.load.yamlsrc import MAX_DEPTH, MAX_NODES, Document, read_document

# Generous: each of these takes milliseconds; the bound only proves nothing runs away.
BOUND_S = 10.0


def read(tmp_path: Path, text: str | bytes) -> tuple[Document | None, list[str]]:
    path = tmp_path / "f.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    doc, problems = read_document(path, "f.yaml")
    assert time.monotonic() - started < BOUND_S
    return doc, [str(p) for p in problems]


def value(tmp_path: Path, text: str) -> Any:
    doc, problems = read(tmp_path, f"v: {text}\n")
    assert problems == []
    assert doc is not None
    return doc.data["v"]


def refused(tmp_path: Path, text: str | bytes) -> str:
    """The one problem of input that leaves nothing to validate."""
    doc, problems = read(tmp_path, text)
    assert doc is None
    assert len(problems) == 1, problems
    return problems[0]


def bomb(levels: int = 9, width: int = 9) -> str:
    """Billion laughs: each anchor repeats the one before ``width`` times."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# --- values: YAML 1.2 core schema ---------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("1e-5", 1e-5), ("1E3", 1000.0), ("-2.5e+3", -2500.0), (".5", 0.5), ("+1.", 1.0),
    ("3", 3), ("-0", 0), ("017", 17), ("0o17", 15), ("0x1F", 31),
    ("true", True), ("False", False), ("TRUE", True),
    ("~", None), ("null", None), ("", None),
    ("1_000", "1_000"), ("2024-01-01", "2024-01-01"), ("1:30", "1:30"), ("0b101", "0b101"),
    ("'1e3'", "1e3"), ('"true"', "true"), ("!!str 1e3", "1e3"), ("! 12", "12"),
    ("|\n  1e3\n", "1e3\n"), ("e3", "e3"), ("1e", "1e"), (".", "."), ("+", "+"),
])
def test_plain_scalars_resolve_as_yaml_1_2(tmp_path: Path, text: str, expected: Any) -> None:
    got = value(tmp_path, text)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(("text", "sign"), [(".inf", 1), ("-.Inf", -1), ("+.INF", 1)])
def test_infinity_is_read_as_a_float_for_the_models_to_refuse(tmp_path: Path, text: str,
                                                              sign: int) -> None:
    assert value(tmp_path, text) == sign * math.inf


def test_nan_is_read_as_a_float_for_the_models_to_refuse(tmp_path: Path) -> None:
    assert math.isnan(value(tmp_path, ".nan"))


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "NO", "On", "OFF"])
def test_a_yaml_1_1_boolean_is_refused_not_guessed(tmp_path: Path, word: str) -> None:
    # YAML 1.1 readers take it as a boolean, YAML 1.2 readers as text: `blocking: no` must
    # not mean one thing here and another in the editor or CI linter.
    doc, problems = read(tmp_path, f"checks:\n  - blocking: {word}\n")
    assert doc is not None
    assert problems == [f"f.yaml:2:15: checks[0].blocking: '{word}' is text in YAML 1.2 but a "
                        "boolean in YAML 1.1: write true or false, or quote it if it is text"]


def test_a_quoted_yes_is_text_and_a_yes_key_is_left_to_the_schema(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, "owner: 'no'\nyes: 1\n")
    assert problems == []
    assert doc is not None and doc.data == {"owner": "no", "yes": 1}


def test_a_huge_integer_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, "n: " + "9" * 5000 + "\n")
    assert doc is not None
    assert problems == ["f.yaml:1:4: n: number too long"]


# --- positions ----------------------------------------------------------------------------

def test_every_key_and_item_has_its_position(tmp_path: Path) -> None:
    doc, _ = read(tmp_path, "a:\n  b: [1, {c: 2}]\n")
    assert doc is not None
    assert dict(doc.marks) == {(): (1, 1), ("a",): (1, 1), ("a", "b"): (2, 3),
                               ("a", "b", 0): (2, 7), ("a", "b", 1): (2, 10),
                               ("a", "b", 1, "c"): (2, 11)}


def test_keys_under_an_alias_point_where_the_anchor_wrote_them(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, "base: &b\n  x: 1\n  y: [2]\nother: *b\n")
    assert problems == []
    assert doc is not None
    assert doc.data == {"base": {"x": 1, "y": [2]}, "other": {"x": 1, "y": [2]}}
    assert doc.position(("other",)) == (4, 1)
    assert doc.position(("other", "x")) == (2, 3)
    assert doc.position(("other", "y", 0)) == (3, 7)


def test_a_duplicate_key_is_reported_and_the_last_value_is_located(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, "a:\n  x: 1\n  y: 2\nb: 0\na:\n  x: 3\na: {z: 4}\n")
    assert problems == ["f.yaml:5:1: a: duplicate key 'a' (first at line 1)",
                        "f.yaml:7:1: a: duplicate key 'a' (first at line 5)"]
    assert doc is not None
    assert doc.data == {"a": {"z": 4}, "b": 0}
    assert doc.position(("a",)) == (7, 1)
    assert doc.position(("a", "y")) == (7, 1)  # the stale y is gone: its parent, not line 3
    assert doc.position(("a", "z")) == (7, 5)


# --- refused: nothing to validate ---------------------------------------------------------

def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    assert refused(tmp_path, bomb()) == ("f.yaml:5:35: alias '*l3' expands the document past "
                                         "50,000 values (an alias bomb?); not read")


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, bomb(levels=3, width=9))
    assert problems == [] and doc is not None
    assert len(doc.data["l2"]) == 9 and doc.data["l2"][0][0] == ["lol"] * 9


def test_aliases_that_nest_past_the_depth_limit_are_refused(tmp_path: Path) -> None:
    text = "a0: &a0 [[[[[[[[[[x]]]]]]]]]]\n" + "".join(
        f"a{i}: &a{i} [[[[[[[[[[*a{i - 1}]]]]]]]]]]\n" for i in range(1, 10))
    assert refused(tmp_path, text) == (f"f.yaml:7:19: alias '*a5' nests the document deeper "
                                       f"than {MAX_DEPTH} levels; not read")


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, "a: &a [1, *a]\n") == (
        "f.yaml:1:11: alias '*a' is inside the collection it names")


def test_an_undefined_alias_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, "a: 1\nb: *nowhere\n") == (
        "f.yaml:2:4: alias '*nowhere' has no anchor '&nowhere' before it")


def test_more_values_than_the_limit_are_refused(tmp_path: Path) -> None:
    text = "- 1\n" * (MAX_NODES + 10)
    assert refused(tmp_path, text) == (f"f.yaml:{MAX_NODES}:3: more than 50,000 values in the "
                                       "document; not read")


@pytest.mark.parametrize(("text", "where"), [
    ("[" * 10_000 + "]" * 10_000, "1:1001"),  # libyaml stops at 1,000 levels
    ("{a: " * 10_000 + "1" + "}" * 10_000, "1:257"),
    ("[" * 100 + "]" * 100, "1:65"),
    ("".join(" " * i + "k:\n" for i in range(200)), "65:65"),
    ("".join(" " * i + "-\n" for i in range(200)), "65:65"),
])
def test_deep_nesting_is_refused_without_recursion(tmp_path: Path, text: str,
                                                   where: str) -> None:
    assert refused(tmp_path, text) == f"f.yaml:{where}: nested deeper than 64 levels; not read"


def test_nesting_up_to_the_limit_is_read(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, "[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert problems == [] and doc is not None


def test_a_large_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    with path.open("wb") as file:
        file.write(b"a: 1\n")
        file.truncate(50 << 20)  # sparse: 50 MiB on paper, nothing on disk
    started = time.monotonic()
    doc, problems = read_document(path, "f.yaml")
    assert time.monotonic() - started < BOUND_S
    assert doc is None
    assert [str(p) for p in problems] == [
        "f.yaml:1:1: file is 50.0 MiB, over the limit of 1.0 MiB; not read"]


def test_a_file_just_under_the_limit_is_read(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, "a: " + "x" * (yamlsrc.MAX_BYTES - 10) + "\n")
    assert problems == [] and doc is not None


@pytest.mark.parametrize(("char", "name"), [("\0", "U+0000 (NUL)"), ("\a", "U+0007 (BEL)"),
                                            ("\x1b", "U+001B (ESC)"), ("\x7f", "U+007F")])
def test_a_control_character_is_refused_with_its_line(tmp_path: Path, char: str,
                                                      name: str) -> None:
    assert refused(tmp_path, f"a: 1\nb: x{char}y\n") == (
        f"f.yaml:2:5: control character {name} is not allowed in YAML")


def test_invalid_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    assert refused(tmp_path, "a: é\nb: 1\nc: x".encode() + b"\xff\n") == (
        "f.yaml:3:5: not UTF-8: byte 0xff cannot be decoded; save the file as UTF-8")


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, "\ufeffa: 1\n".encode())
    assert problems == [] and doc is not None and doc.data == {"a": 1}


def test_a_second_document_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, "a: 1\n---\nb: 2\n") == (
        "f.yaml:2:1: expected a single document in the file, but another one starts here")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    assert refused(tmp_path, text) == "f.yaml:1:1: file is empty"


@pytest.mark.parametrize(("text", "expected"), [
    ("a:\n  - 1\n - 2\n", "f.yaml:3:2: malformed YAML: while parsing a block mapping expected "
     "<block end>, but found '<block sequence start>'"),
    ("a: @x\n", "f.yaml:1:4: malformed YAML: while scanning for the next token found "
     "character '@' that cannot start any token"),
    ("a: b: c\n", "f.yaml:1:5: malformed YAML: mapping values are not allowed here"),
])
def test_malformed_yaml_keeps_pyyaml_s_clearer_message(tmp_path: Path, text: str,
                                                       expected: str) -> None:
    assert refused(tmp_path, text) == expected


def test_malformed_yaml_far_into_a_file_is_still_located(tmp_path: Path) -> None:
    text = "# filler\n" * 20_000 + "a: @x\n"
    assert refused(tmp_path, text) == ("f.yaml:20001:4: malformed YAML: while scanning for the "
                                       "next token found character that cannot start any token")


def test_an_unreadable_path_is_a_problem(tmp_path: Path) -> None:
    doc, problems = read_document(tmp_path, "dir")
    assert doc is None
    assert problems == [Problem("dir", 1, 1, "", "cannot read file: Is a directory")]


# --- problems that come with the document ---------------------------------------------------

@pytest.mark.parametrize(("key", "what"), [("[a, b]", "a list"), ("{a: 1}", "a mapping")])
def test_a_collection_as_a_key_is_a_located_problem(tmp_path: Path, key: str,
                                                    what: str) -> None:
    doc, problems = read(tmp_path, f"top:\n  ok: 1\n  ? {key}\n  : 2\n")
    assert problems == [f"f.yaml:3:5: top: a key must be a single value, not {what}"]
    assert doc is not None and doc.data == {"top": {"ok": 1}}


def test_a_merge_key_is_a_problem(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, "base: &b {x: 1}\nc:\n  <<: *b\n")
    assert problems == ["f.yaml:3:3: c: merge keys ('<<') are not supported; write the keys out"]
    assert doc is not None and doc.data == {"base": {"x": 1}, "c": {}}


@pytest.mark.parametrize(("text", "tag"), [
    ("!!python/object/apply:os.system ['true']", "!!python/object/apply:os.system"),
    ("!!python/name:os.system", "!!python/name:os.system"),
    ("!secret db_password", "!secret"),
    ("!!binary aGk=", "!!binary"),
    ("!!set {a, b}", "!!set"),
    ("!!int 3", "!!int"),
])
def test_a_tag_is_a_located_problem_and_never_constructs_anything(tmp_path: Path, text: str,
                                                                   tag: str) -> None:
    doc, problems = read(tmp_path, f"a: 1\nmodel: {text}\n")
    assert doc is not None
    assert problems == [f"f.yaml:2:8: model: tag '{tag}' is not allowed; gatekeeper reads plain "
                        "YAML data only (remove the tag)"]


def test_a_python_tag_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.write_text("")
    _, problems = read(tmp_path, f"a: !!python/object/apply:os.remove ['{marker}']\n")
    assert len(problems) == 1
    assert marker.exists()


def test_problems_with_the_document_are_all_reported(tmp_path: Path) -> None:
    doc, problems = read(tmp_path, "a: !x 1\nb: on\na: 2\n? [k]\n: 3\n")
    assert doc is not None and doc.data == {"a": 2, "b": "on"}
    assert problems == [
        "f.yaml:1:4: a: tag '!x' is not allowed; gatekeeper reads plain YAML data only "
        "(remove the tag)",
        "f.yaml:2:4: b: 'on' is text in YAML 1.2 but a boolean in YAML 1.1: write true or "
        "false, or quote it if it is text",
        "f.yaml:3:1: a: duplicate key 'a' (first at line 1)",
        "f.yaml:4:3: a key must be a single value, not a list",
    ]


# --- through the loaders: numbers reach the models as YAML 1.2 numbers ----------------------

ASSETS = Path(__file__).parent.parent / "assets"


def playbook_problems(tmp_path: Path, old: str, new: str) -> list[str]:
    from gatekeeper.errors import ValidationError
    from gatekeeper.load.validate import validate_paths

    text = (ASSETS / "playbooks" / "valid-minimal.yaml").read_text()
    assert old in text
    (tmp_path / "pb.yaml").write_text(text.replace(old, new))
    try:
        validate_paths([Path("pb.yaml")])
    except ValidationError as exc:
        return [str(p) for p in exc.problems]
    return []


@pytest.mark.parametrize("number", ["1e-5", "1E-3", "-2.5e+3", ".5", "5e-1"])
def test_a_threshold_in_scientific_notation_is_a_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert playbook_problems(tmp_path, "max: 0.01", f"max: {number}") == []
    from gatekeeper.load.playbook import load_playbook

    check = load_playbook(Path("pb.yaml")).playbook.milestones[2].checks[0]
    assert check.max == float(number)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("number", "shown"), [(".inf", "inf"), ("-.inf", "-inf"),
                                               (".nan", "nan"), ("1e999", "inf")])
def test_an_infinite_or_nan_threshold_is_refused_naming_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: str, shown: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert playbook_problems(tmp_path, "max: 0.01", f"max: {number}") == [
        f"pb.yaml:22:96: milestones[2].checks[0].max: Input should be a finite number, "
        f"got {shown}"]


def test_an_infinite_policy_limit_is_refused_naming_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper.errors import ValidationError
    from gatekeeper.load.policy import load_policies

    monkeypatch.chdir(tmp_path)
    (tmp_path / "org.yaml").write_text("id: org\nlimits: {latency_p99_ms: .inf}\n")
    with pytest.raises(ValidationError) as caught:
        load_policies(Path("org.yaml"))
    assert [str(p) for p in caught.value.problems] == [
        "org.yaml:2:10: limits.latency_p99_ms: Input should be a finite number, got inf"]


def test_blocking_no_is_refused_so_a_check_never_turns_advisory_by_accident(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert playbook_problems(tmp_path, "owner: ds,", "owner: ds, blocking: no,") == [
        "pb.yaml:10:83: milestones[0].checks[0].blocking: 'no' is text in YAML 1.2 but a "
        "boolean in YAML 1.1: write true or false, or quote it if it is text"]
    assert playbook_problems(tmp_path, "owner: ds,", "owner: ds, blocking: false,") == []


def test_a_tagged_value_gets_one_problem_not_a_schema_complaint_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert playbook_problems(tmp_path, "model: tiny",
                             "model: !!python/object/apply:os.system ['true']") == [
        "pb.yaml:1:8: model: tag '!!python/object/apply:os.system' is not allowed; gatekeeper "
        "reads plain YAML data only (remove the tag)"]


def test_a_list_as_a_key_leaves_the_schema_s_other_problems_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert playbook_problems(tmp_path, "model: tiny\n", "? [a]\n: 1\n") == [
        "pb.yaml:1:1: model: missing required key 'model'",
        "pb.yaml:1:3: a key must be a single value, not a list",
    ]
