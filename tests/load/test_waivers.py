"""Waiver files: the format, every problem at once with its position, approval (the approver is
not the owner) refused by the real `gatekeeper validate`, version ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.cli import run
from gatekeeper.errors import InvalidInputError, ValidationError
from gatekeeper.load.waivers import in_range, load_waiver_file, load_waivers, parse_range

GOOD = """\
waivers:
  - id: W-12
    check: latency-*
    model: churn
    versions: ">=3,<5"
    milestone: serve
    reason: load test ran on a shared node
    owner: alice@example.com
    approver: ciso@example.com
    ticket: RISK-123
    granted: 2026-12-01
    expires: 2026-12-31T18:00:00Z
  - id: W-13
    check: pii-findings
    model: churn
    versions: [3, ">=10"]
    milestone: serve
    reason: synthetic data
    owner: bob@example.com
    approver: dpo@example.com
    ticket: RISK-124
    granted: 2026-12-01
    expires: 2027-01-01
"""

BAD = """\
waivers:
  - id: W-1
    check: gatekeeper.earlier-milestones
    model: churn
    versions: ">=3,<"
    milestone: serve
    reason: x
    owner: alice@example.com
    approver: " Alice@Example.com"
    ticket: T-1
    granted: 2026-12-01
    expires: 31/12/2026
    colour: red
  - id: W-1
    check: cost
    model: churn
    versions: []
    milestone: serve
    reason: y
    owner: bob
    ticket: T-2
    granted: 2026-12-02
    expires: 2026-12-01
"""


def write(tmp_path: Path, text: str, name: str = "waivers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_with_each_waiver_line_and_the_file_digest(tmp_path: Path) -> None:
    loaded = load_waivers(write(tmp_path, GOOD))
    assert [(w.waiver.id, w.line) for w in loaded.waivers] == [("W-12", 2), ("W-13", 13)]
    assert loaded.waivers[1].waiver.versions == (3, ">=10")
    assert loaded.sources[0].path == str(tmp_path / "waivers.yaml")
    assert loaded.sources[0].digest.startswith("sha256:")
    assert loaded.waivers[0].waiver.expires_at.isoformat() == "2026-12-31T18:00:00+00:00"
    assert loaded.waivers[1].waiver.expires_at.isoformat() == "2027-01-01T00:00:00+00:00"


def test_every_problem_at_once_with_file_line_col_and_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    _, _, problems = load_waiver_file(path)
    assert [str(p).removeprefix(f"{path}:") for p in problems] == [
        "14:5: waivers[1].id: duplicate waiver id 'W-1' (first at line 2)",
        "3:5: waivers[0].check: gatekeeper.earlier-milestones can never be waived: it stands "
        "for the earlier milestones' recorded passes",
        "5:5: waivers[0].versions: '<' in '>=3,<' is not a version or a comparison like '>=3' "
        "(ranges look like '>=3,<5', '7' or '*')",
        "12:5: waivers[0].expires: '31/12/2026' is not an ISO 8601 date or date/time "
        "(2026-12-31, 2026-12-31T18:00:00Z)",
        "13:5: waivers[0].colour: unknown key 'colour'",
        "17:5: waivers[1].versions: needs at least one version or range",
        "23:5: waivers[1].expires: expires 2026-12-01 is not after granted 2026-12-02",
    ]


def test_check_refuses_a_malformed_file_and_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as found:
        load_waivers(write(tmp_path, BAD))
    assert len(found.value.problems) == 7
    with pytest.raises(InvalidInputError, match=r"^--waivers: .*nope: no such file"):
        load_waivers(tmp_path / "nope")


def test_validate_refuses_self_approved_and_unapproved_waivers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, BAD)
    assert run(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert (f"{path}:9:5: waivers[0].approver: not approved: the approver is the owner "
            "(alice@example.com); another person must approve") in err
    assert (f"{path}:14:5: waivers[1].approver: not approved: no approver (someone other than "
            "the owner must approve)") in err
    assert "gatekeeper: 9 problem(s) in 1 file(s)" in err


def test_validate_recognises_a_waiver_file_by_its_key_and_by_its_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    by_key = write(tmp_path, GOOD, "exceptions.yaml")
    folder = tmp_path / "waivers"
    folder.mkdir()
    by_folder = write(folder, GOOD.replace("waivers:\n", "waivers: \n"), "q4.yml")
    assert run(["validate", str(by_key), str(by_folder)]) == 0
    assert capsys.readouterr().out == "0 playbook(s), 2 waiver file(s) and 0 policies valid\n"


def test_the_same_id_in_two_files_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "waivers"
    folder.mkdir()
    write(folder, GOOD, "a.yaml")
    write(folder, GOOD, "b.yaml")
    with pytest.raises(ValidationError) as found:
        load_waivers(folder)
    assert [p.message for p in found.value.problems] == [
        f"duplicate waiver id 'W-12' (first at {folder / 'a.yaml'}:2)",
        f"duplicate waiver id 'W-13' (first at {folder / 'a.yaml'}:13)"]


@pytest.mark.parametrize(("spec", "inside", "outside"), [
    (">=3,<5", ["3", "4"], ["2", "5", "abc"]),
    (7, ["7"], ["6", "8"]),
    ("*", ["1", "99", "abc"], []),
    ("!=4", ["3", "5"], ["4"]),
    ("> 2, <= 3", ["3"], ["2", "4"]),
    ("==12", ["12"], ["1", "2"]),
])
def test_version_ranges(spec: int | str, inside: list[str], outside: list[str]) -> None:
    assert [v for v in inside + outside if in_range(spec, v)] == inside


@pytest.mark.parametrize("spec", ["", ">=", "3.1", "~=3", ">=3;<5", "latest"])
def test_malformed_ranges_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="is not a version or a comparison"):
        parse_range(spec)
