"""The pure comparison behind `gatekeeper diff`: which field changes loosen a gate, and how
checks, milestones and files are matched between two revisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatekeeper.evaluate.changes import Change, compare, judge, pair
from gatekeeper.load.gitrefs import PlaybookFile, Revision
from gatekeeper.load.playbook import load_playbook
from gatekeeper.load.policy import ChangeKind, load_policy
from gatekeeper.load.yamlsrc import read_document

BASE = """\
model: m
baseline: champion
owners: {product: p, platform: o, data_science: d}
cost_model:
  hardware_per_hour: 0.2
milestones:
  - id: poc
    title: POC
    stage: poc
    alias: poc-ok
    checks:
      - {id: acc, kind: metric_threshold, category: quality, owner: d, key: acc, min: 0.9}
      - {id: vs-champion, kind: baseline_comparison, category: quality, owner: d, metric: acc, max_regression: 0.01}
  - id: serve
    title: Serve
    stage: serve
    alias: serve-ok
    checks:
      - {id: cost, kind: cost, category: cost, owner: o, budget_per_1k: 0.01}
  - id: pilot
    title: Pilot
    stage: pilot
    alias: champion
    checks:
      - {id: approval, kind: required_evidence, category: governance, owner: p, tags: [approved_by, ticket]}
"""  # noqa: E501


def playbook_file(tmp_path: Path, name: str, text: str,
                  display: str = "playbooks/m.yaml") -> PlaybookFile:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    doc, _ = read_document(path, display)
    assert doc is not None
    return PlaybookFile(load_playbook(path, display=display), doc)


def revision(*playbooks: PlaybookFile, policies: tuple[Any, ...] = ()) -> Revision:
    return Revision("r", "0" * 40, False, playbooks, policies)


def changes(tmp_path: Path, head: str, base: str = BASE) -> list[Change]:
    old = playbook_file(tmp_path, "old.yaml", base)
    new = playbook_file(tmp_path, "new.yaml", head)
    return list(compare(revision(old), revision(new)))


def summary(found: list[Change]) -> list[tuple[str, str | None, str]]:
    return [(c.id, c.kind.value if c.kind else None, c.message) for c in found]


@pytest.mark.parametrize(("field", "before", "after", "kind", "message"), [
    ("max", 0.01, 0.02, ChangeKind.LOOSENED_THRESHOLD, "threshold max 0.01 -> 0.02 (loosened)"),
    ("max", 0.02, 0.01, None, "threshold max 0.02 -> 0.01 (tightened)"),
    ("max", 0.01, None, ChangeKind.LOOSENED_THRESHOLD, "threshold max 0.01 -> none (loosened)"),
    ("min", None, 0.5, None, "threshold min none -> 0.5 (tightened)"),
    ("min", 0.9, 0.8, ChangeKind.LOOSENED_THRESHOLD, "threshold min 0.9 -> 0.8 (loosened)"),
    ("warn_p99_ms", 60, 70, ChangeKind.LOOSENED_THRESHOLD,
     "threshold warn_p99_ms 60 -> 70 (loosened)"),
    ("max_regression", 0.01, 0.02, ChangeKind.LOOSENED_THRESHOLD,
     "threshold max_regression 0.01 -> 0.02 (loosened)"),
    ("budget_per_1k", 0.00001, 0.00002, ChangeKind.LOOSENED_THRESHOLD,
     "threshold budget_per_1k 0.00001 -> 0.00002 (loosened)"),
    ("confidence", 0.95, 0.9, ChangeKind.LOOSENED_THRESHOLD,
     "threshold confidence 0.95 -> 0.9 (loosened)"),
    ("kpi.min", 0.1, 0.05, ChangeKind.LOOSENED_THRESHOLD,
     "threshold kpi.min 0.1 -> 0.05 (loosened)"),
    ("cost_model.hardware_per_hour", 0.2, 0.1, ChangeKind.LOOSENED_THRESHOLD,
     "threshold cost_model.hardware_per_hour 0.2 -> 0.1 (loosened)"),
    ("signature", True, False, ChangeKind.LOOSENED_THRESHOLD, "signature true -> false (loosened)"),
    ("tags", ["a", "b"], ["b", "c"], ChangeKind.LOOSENED_THRESHOLD,
     "tags [a, b] -> [b, c] (loosened)"),
    ("tags", ["a"], ["a", "b"], None, "tags [a] -> [a, b] (tightened)"),
    ("on_missing_baseline", "error", "skip", ChangeKind.LOOSENED_THRESHOLD,
     "on_missing_baseline error -> skip (loosened)"),
    ("blocking", True, False, ChangeKind.MADE_ADVISORY, "blocking true -> false (made advisory)"),
    ("blocking", False, True, None, "blocking false -> true (made blocking)"),
    ("key", "acc", "train_acc", ChangeKind.CHANGED_CHECK,
     "key acc -> train_acc (changed: check what it now gates)"),
    ("owner", "d", "o", None, "owner d -> o"),
])
def test_judge_says_which_way_a_field_moved(field: str, before: Any, after: Any,
                                             kind: ChangeKind | None, message: str) -> None:
    assert judge(field, before, after) == (kind, message)


@pytest.mark.parametrize(("field", "before", "after"), [
    ("max", 0.01, 0.01), ("description", "a", "b"), ("title", "a", "b"), ("id", "a", "b")])
def test_judge_ignores_what_does_not_gate(field: str, before: Any, after: Any) -> None:
    assert judge(field, before, after) is None


def test_an_inherited_price_cut_loosens_every_cost_check_at_the_playbook_line(
        tmp_path: Path) -> None:
    found = changes(tmp_path, BASE.replace("hardware_per_hour: 0.2", "hardware_per_hour: 0.1"))
    assert summary(found) == [
        ("m/serve/cost.cost_model.hardware_per_hour", "loosened_threshold",
         "threshold cost_model.hardware_per_hour 0.2 -> 0.1 (loosened)")]
    assert found[0].location is not None and found[0].location.line == 5


def test_a_check_moved_to_a_later_milestone_weakens_the_one_it_left(tmp_path: Path) -> None:
    line = ("      - {id: acc, kind: metric_threshold, category: quality, owner: d, key: acc, "
            "min: 0.9}\n")
    head = BASE.replace(line, "").replace("    checks:\n      - {id: cost", "    checks:\n"
                                          + line + "      - {id: cost")
    assert summary(changes(tmp_path, head)) == [
        ("m/poc.checks", "weakened_milestone", "blocking checks 2 -> 1 (weakened)"),
        ("m/poc/acc", "weakened_milestone",
         "check moved from poc to serve (weakened: it no longer gates poc)"),
        ("m/serve.checks", None, "blocking checks 1 -> 2 (tightened)"),
    ]


def test_a_new_kind_under_an_old_id_is_a_changed_check(tmp_path: Path) -> None:
    head = BASE.replace("{id: cost, kind: cost, category: cost, owner: o, budget_per_1k: 0.01}",
                        "{id: cost, kind: metric_threshold, category: cost, owner: o, "
                        "key: cost, max: 0.01}")
    found = summary(changes(tmp_path, head))
    assert found == [("m/serve/cost", "changed_check",
                      "kind cost -> metric_threshold (changed: a different check under the "
                      "same id)")]


def test_an_added_check_and_a_dropped_tag_are_listed(tmp_path: Path) -> None:
    head = BASE.replace("tags: [approved_by, ticket]", "tags: [approved_by]").replace(
        "      - {id: cost,", "      - {id: p99, kind: latency, category: latency, owner: o, "
        "endpoint: predict, p99_ms: 80}\n      - {id: cost,")
    assert summary(changes(tmp_path, head)) == [
        ("m/serve.checks", None, "blocking checks 1 -> 2 (tightened)"),
        ("m/serve/p99", None, "check added (blocking latency)"),
        ("m/pilot/approval.tags", "loosened_threshold",
         "tags [approved_by, ticket] -> [approved_by] (loosened)"),
    ]


def test_files_pair_by_path_then_by_what_they_define() -> None:
    olds = [("a.yaml", "fraud"), ("b.yaml", "churn"), ("c.yaml", "dup"), ("d.yaml", "dup")]
    news = [("a.yaml", "fraud"), ("renamed.yaml", "churn"), ("e.yaml", "dup"), ("f.yaml", "x")]
    paired = pair(olds, news, lambda f: f[0], lambda f: f[1])
    assert paired == [
        (("a.yaml", "fraud"), ("a.yaml", "fraud")),
        (("b.yaml", "churn"), ("renamed.yaml", "churn")),
        (("c.yaml", "dup"), None), (("d.yaml", "dup"), None),
        (None, ("e.yaml", "dup")), (None, ("f.yaml", "x")),
    ]


def test_a_dropped_stage_rule_relaxes_the_policy(tmp_path: Path) -> None:
    base, head = tmp_path / "base.yaml", tmp_path / "head.yaml"
    base.write_text("id: org\nstages:\n  pilot:\n    require_kinds: [latency]\n"
                    "changes:\n  forbid: [removed_check]\n", encoding="utf-8")
    head.write_text("id: org\nchanges:\n  forbid: [removed_check, made_advisory]\n",
                    encoding="utf-8")
    old, _ = load_policy(base, "policies/org.yaml")
    new, _ = load_policy(head, "policies/org.yaml")
    assert old is not None and new is not None
    found = compare(revision(policies=(old,)), revision(policies=(new,)))
    assert summary(list(found)) == [
        ("policy/org.changes.forbid", None,
         "changes.forbid [removed_check] -> [removed_check, made_advisory] (tightened)"),
        ("policy/org.stages.pilot.require_kinds", "relaxed_policy",
         "stages.pilot.require_kinds [latency] -> none (relaxed)"),
    ]
    assert [c.location.line if c.location else 0 for c in found] == [3, 4]


def test_the_changes_rule_does_not_change_a_policy_digest(tmp_path: Path) -> None:
    """Passes are bound to policy digests: editing what `diff` forbids must not void them."""
    plain, ruled = tmp_path / "plain.yaml", tmp_path / "ruled.yaml"
    plain.write_text("id: org\nlimits: {latency_p99_ms: 100}\n", encoding="utf-8")
    ruled.write_text("id: org\nlimits: {latency_p99_ms: 100}\nchanges: {forbid: "
                     "[removed_check]}\n", encoding="utf-8")
    a, _ = load_policy(plain)
    b, _ = load_policy(ruled)
    assert a is not None and b is not None
    assert a.digest == b.digest


APPROVALS = "    approvals: {count: 2, roles: [ml_lead, security]}\n"


def with_pilot_approvals(text: str) -> str:
    return BASE.replace("    alias: champion\n", "    alias: champion\n" + text)


@pytest.mark.parametrize(("before", "after", "kind"), [
    (APPROVALS, "", ChangeKind.WEAKENED_MILESTONE),
    (APPROVALS, APPROVALS.replace("count: 2", "count: 1"), ChangeKind.WEAKENED_MILESTONE),
    (APPROVALS.replace("count: 2", "count: 1"),
     APPROVALS.replace("count: 2", "count: 1").replace("security]", "security, sre]"),
     ChangeKind.WEAKENED_MILESTONE),
    ("", APPROVALS, None),
    (APPROVALS.replace("count: 2", "count: 1"), APPROVALS, None),
])
def test_a_milestone_approval_rule_made_easier_to_meet_weakens_it(
        tmp_path: Path, before: str, after: str, kind: ChangeKind | None) -> None:
    found = [c for c in changes(tmp_path, with_pilot_approvals(after),
                                with_pilot_approvals(before)) if c.id.endswith(".approvals")]
    [change] = found
    assert change.kind is kind
    assert change.location is not None and change.location.line >= 19
