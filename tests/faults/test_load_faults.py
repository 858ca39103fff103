"""Fault injection on reading playbooks and policies: alias bombs, code-running tags, non-finite
thresholds, a 50 MB file, 10,000 levels of nesting, lists as keys, control characters, invalid
UTF-8. Each case, through the real CLI (``validate`` and ``check``): exit 2, the one-line
``file:line:col: key.path: message`` problem, no traceback, a time bound; ``check`` fails while
loading, before it opens the tracking store or the audit log.

``CASES`` is also what ``bench/load_bounds.py`` times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.harness import Run, assert_fails_closed, gatekeeper
from tests.load.test_yamlsrc import bomb

pytestmark = pytest.mark.slow

ASSETS = Path(__file__).parent.parent / "assets"
VALID = (ASSETS / "playbooks" / "valid-minimal.yaml").read_text()
#: Generous on a loaded 2-core machine: a run is the interpreter's start-up plus milliseconds.
BOUND_S = 30.0


@dataclass(frozen=True)
class BadInput:
    """A file's content (built when needed: one is 50 MB) and the problem line it must get."""

    content: Callable[[], bytes]
    message: str


def edited(old: str, new: str) -> Callable[[], bytes]:
    assert old in VALID, old
    return lambda: VALID.replace(old, new).encode("utf-8", errors="surrogateescape")


def text(value: str) -> Callable[[], bytes]:
    return lambda: value.encode()


TAG = "is not allowed; gatekeeper reads plain YAML data only (remove the tag)"

#: Bad playbooks; the file is ``pb.yaml``.
CASES: dict[str, BadInput] = {
    "alias-bomb": BadInput(
        text(bomb()),
        "pb.yaml:5:35: alias '*l3' expands the document past 50,000 values (an alias bomb?); "
        "not read"),
    "python-tag": BadInput(
        edited("model: tiny", "model: !!python/object/apply:os.system ['touch pwned']"),
        f"pb.yaml:1:8: model: tag '!!python/object/apply:os.system' {TAG}"),
    "unknown-tag": BadInput(
        edited("model: tiny", "model: !secret tiny"), f"pb.yaml:1:8: model: tag '!secret' {TAG}"),
    "inf-threshold": BadInput(
        edited("max: 0.01", "max: .inf"),
        "pb.yaml:22:96: milestones[2].checks[0].max: Input should be a finite number, got inf"),
    "nan-threshold": BadInput(
        edited("min: 0.8", "min: .nan"),
        "pb.yaml:10:88: milestones[0].checks[0].min: Input should be a finite number, got nan"),
    "yaml-1.1-boolean": BadInput(
        edited("owner: ds,", "owner: ds, blocking: off,"),
        "pb.yaml:10:83: milestones[0].checks[0].blocking: 'off' is text in YAML 1.2 but a "
        "boolean in YAML 1.1: write true or false, or quote it if it is text"),
    "50-MB-file": BadInput(
        lambda: VALID.encode() + b"# padding\n" * (5 << 20),
        "pb.yaml:1:1: file is 50.0 MiB, over the limit of 1.0 MiB; not read"),
    "10k-nested-lists": BadInput(
        text("[" * 10_000 + "]" * 10_000),
        "pb.yaml:1:1001: nested deeper than 64 levels; not read"),
    "10k-nested-mappings": BadInput(
        text("{a: " * 10_000 + "1" + "}" * 10_000),
        "pb.yaml:1:257: nested deeper than 64 levels; not read"),
    "60k-values": BadInput(
        text(VALID + "extra:\n" + "  - x\n" * 60_000),
        "pb.yaml:49935:5: more than 50,000 values in the document; not read"),
    "list-as-key": BadInput(
        text(VALID + "? [a, b]\n: 1\n"), "pb.yaml:23:3: a key must be a single value, not a list"),
    "mapping-as-key": BadInput(
        text(VALID.replace("    alias: poc-ok\n", "    alias: poc-ok\n    ? {a: 1}\n    : 1\n")),
        "pb.yaml:9:7: milestones[0]: a key must be a single value, not a mapping"),
    "NUL": BadInput(
        edited("title: Pilot", "title: Pi\0lot"),
        "pb.yaml:18:14: control character U+0000 (NUL) is not allowed in YAML"),
    "BEL": BadInput(
        edited("title: Pilot", "title: Pi\alot"),
        "pb.yaml:18:14: control character U+0007 (BEL) is not allowed in YAML"),
    "invalid-UTF-8": BadInput(
        edited("title: Pilot", "title: Pi\udcfflot"),
        "pb.yaml:18:14: not UTF-8: byte 0xff cannot be decoded; save the file as UTF-8"),
    "duplicate-key": BadInput(
        edited("    alias: poc-ok\n", "    alias: poc-ok\n    alias: anything\n"),
        "pb.yaml:9:5: milestones[0].alias: duplicate key 'alias' (first at line 8)"),
    "two-documents": BadInput(
        text(VALID + "---\n" + VALID),
        "pb.yaml:23:1: expected a single document in the file, but another one starts here"),
}

#: Bad policies; the file is ``policies/org.yaml``.
POLICY_CASES: dict[str, BadInput] = {
    "alias-bomb": BadInput(
        text("id: org\n" + bomb().replace("l0:", "description:", 1)),
        "policies/org.yaml:6:35: alias '*l3' expands the document past 50,000 values"),
    "python-tag": BadInput(
        text("id: !!python/object/apply:os.system ['touch pwned']\n"),
        f"policies/org.yaml:1:5: id: tag '!!python/object/apply:os.system' {TAG}"),
    "inf-limit": BadInput(
        text("id: org\nlimits: {latency_p99_ms: .inf}\n"),
        "policies/org.yaml:2:10: limits.latency_p99_ms: Input should be a finite number, "
        "got inf"),
}


def write(path: Path, case: BadInput) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(case.content())
    return path


def check(tmp_path: Path, *args: str) -> Run:
    return gatekeeper("check", "pb.yaml", "--model", "tiny", "--version", "1", "--milestone",
                      "poc", "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                      "--audit-log", "audit.jsonl", *args, cwd=tmp_path)


def assert_untouched(tmp_path: Path) -> None:
    """Nothing ran and nothing was opened: no tracking store, no audit log, no tag's command."""
    assert sorted(p.name for p in tmp_path.iterdir()) in (["pb.yaml"], ["pb.yaml", "policies"])


@pytest.mark.parametrize("name", CASES)
def test_validate_refuses_a_bad_playbook_in_one_line(tmp_path: Path, name: str) -> None:
    write(tmp_path / "pb.yaml", CASES[name])
    run = gatekeeper("validate", "pb.yaml", cwd=tmp_path)
    assert_fails_closed(run, codes={2}, within_s=BOUND_S, message=CASES[name].message)
    assert_untouched(tmp_path)


@pytest.mark.parametrize("name", CASES)
def test_check_refuses_a_bad_playbook_before_touching_mlflow(tmp_path: Path, name: str) -> None:
    write(tmp_path / "pb.yaml", CASES[name])
    run = check(tmp_path)
    assert_fails_closed(run, codes={2}, within_s=BOUND_S, message=CASES[name].message)
    assert_untouched(tmp_path)


@pytest.mark.parametrize("name", POLICY_CASES)
def test_validate_refuses_a_bad_policy_in_one_line(tmp_path: Path, name: str) -> None:
    write(tmp_path / "policies" / "org.yaml", POLICY_CASES[name])
    (tmp_path / "pb.yaml").write_text(VALID)
    run = gatekeeper("validate", "pb.yaml", "policies", cwd=tmp_path)
    assert_fails_closed(run, codes={2}, within_s=BOUND_S, message=POLICY_CASES[name].message)
    assert_untouched(tmp_path)


@pytest.mark.parametrize("name", POLICY_CASES)
def test_check_refuses_a_bad_policy_before_touching_mlflow(tmp_path: Path, name: str) -> None:
    write(tmp_path / "policies" / "org.yaml", POLICY_CASES[name])
    (tmp_path / "pb.yaml").write_text(VALID)
    run = check(tmp_path, "--policies", "policies")
    assert_fails_closed(run, codes={2}, within_s=BOUND_S, message=POLICY_CASES[name].message)
    assert_untouched(tmp_path)
