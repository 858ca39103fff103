"""``-o github`` renders workflow commands (annotations at playbook lines, most severe first,
at most 10 of each kind, one summary that the cap never hides), escaped as the runner reads
them; with ``$GITHUB_OUTPUT`` set, the CLI appends the step outputs to that file."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from gatekeeper.cli import run
from gatekeeper.cli.outputs import OutputTarget, parse_outputs, write_outputs
from gatekeeper.decide.result import CheckResult, Location, Result
from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.evaluate.interface import Status
from gatekeeper.render import FORMATS, github
from tests.support.registry import seed_version
from tests.support.results import check, sample_result

FRAUD = Path(__file__).parents[1] / "assets" / "playbooks" / "fraud.yaml"
#: One workflow command: ``::kind props::message`` (props may be empty for the summary).
COMMAND = re.compile(r"^::(?P<kind>error|warning|notice) (?P<props>[^:]*)::(?P<message>.*)$")
TITLE = "gatekeeper churn v3 serve"


def commands(text: str) -> list[tuple[str, dict[str, str], str]]:
    """Every line of ``text`` as (kind, properties, message); a line that is not a command
    fails the test."""
    parsed = []
    for line in text.splitlines():
        found = COMMAND.match(line)
        assert found, f"not a workflow command: {line!r}"
        props = dict(p.split("=", 1) for p in found["props"].split(",") if p)
        parsed.append((found["kind"], props, found["message"]))
    return parsed


def with_checks(*checks: CheckResult) -> Result:
    return replace(sample_result(), checks=checks)


def test_registered_as_the_github_format() -> None:
    assert FORMATS["github"] is github.render


def test_sample_annotates_each_check_to_act_on_most_severe_first() -> None:
    assert github.render(sample_result()).splitlines() == [
        f"::error file=playbooks/churn.yaml,line=44,title={TITLE}%3A latency-predict failed::"
        "predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms%0A"
        "observed: p95_ms 74, p99_ms 161%0Athreshold: p95_ms 40, p99_ms 80%0A"
        "owner: platform@example.com%0A"
        "remedy: p95_ms 74 is 34 (85%25) above the limit 40; "
        "p99_ms 161 is 81 (101%25) above the limit 80",
        f"::error file=playbooks/churn.yaml,line=52,title={TITLE}%3A model-card could not be "
        "evaluated::missing on churn v3: artifact 'model_card.md'%0A"
        "observed: found none, missing artifact 'model_card.md'%0A"
        "threshold: artifacts model_card.md%0Aowner: product@example.com%0A"
        "remedy: add the missing evidence: log artifact 'model_card.md' with the model "
        "(mlflow.log_artifact)",
        f"::warning file=playbooks/churn.yaml,line=58,title={TITLE}%3A cost-per-1k warns::"
        "0.0000163991 per 1k > warn 0.00001%0Aobserved: total 0.0000163991%0A"
        "threshold: budget_per_1k 0.00002, warn_per_1k 0.00001%0Aowner: platform@example.com",
        f"::warning file=playbooks/churn.yaml,line=82,title={TITLE}%3A f1-advisory warns "
        "(advisory)::f1 = 0.88 < 0.9 (advisory)%0Aobserved: 0.88%0Athreshold: min 0.9%0A"
        "owner: ds-team@example.com%0Aremedy: observed 0.88 is 0.02 (2%25) below the minimum "
        "0.9",
        f"::notice file=playbooks/churn.yaml,line=70,title={TITLE}%3A pii-findings failed%2C "
        "waived::privacy.pii_findings = 2 > 0%0Aobserved: 2%0Athreshold: max 0%0A"
        "owner: ds-team@example.com%0Awaiver: W-7: synthetic test data (approved by "
        "ciso@example.com, expires 2027-01-01)",
        f"::error title={TITLE}::BLOCKED by latency-predict, model-card (1 pass, 2 warn, "
        "1 fail, 1 error, 1 skip, 1 waived; prerequisite: pass): churn version 3, milestone "
        "serve, exit code 1%0Aaudit: record 17 sha256:" + "ef" * 32,
    ]


def test_data_and_properties_are_escaped() -> None:
    odd = check("odd", Status.FAIL, 12, message="100% of 1,000: done\r\nnext ::warning x",
                owner="team: a, b", location=Location("pb,dir/a:b%.yaml", 12))
    kind, props, message = commands(github.render(with_checks(odd)))[0]
    assert kind == "error"
    assert props == {"file": "pb%2Cdir/a%3Ab%25.yaml", "line": "12",
                     "title": f"{TITLE}%3A odd failed"}
    # % first (so %0A is not read as a newline), then CR and LF; : and , stay in data
    assert message == "100%25 of 1,000: done%0D%0Anext ::warning x%0Aowner: team: a, b"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert github.escape_data("50%0A\r") == "50%250A%0D"


def test_at_most_ten_of_each_kind_most_severe_first_and_the_summary_survives() -> None:
    warns = [check(f"warn-{i:02}", Status.WARN, 100 + i) for i in range(5)]
    advisory = [check(f"advisory-{i:02}", Status.ERROR, 200 + i, blocking=False)
                for i in range(8)]
    fails = [check(f"fail-{i:02}", Status.FAIL, 300 + i) for i in range(12)]
    errors = [check(f"error-{i:02}", Status.ERROR, 400 + i) for i in range(2)]
    waived = [check(f"waived-{i:02}", Status.WAIVED, 500 + i) for i in range(11)]
    # listed least severe first: the order must come from severity, not from the playbook
    parsed = commands(github.render(with_checks(*warns, *advisory, *waived, *fails, *errors)))
    kinds = [kind for kind, _, _ in parsed]
    assert kinds == ["error"] * 9 + ["warning"] * 10 + ["notice"] * 10 + ["error"]
    titles = [props["title"].removeprefix(f"{TITLE}%3A ") for _, props, _ in parsed[:-1]]
    # blocking fail/error before all others, in the playbook's order among them
    assert titles[:9] == [f"fail-{i:02} failed" for i in range(9)]
    # advisory errors before warns
    assert titles[9:19] == ([f"advisory-{i:02} could not be evaluated (advisory)"
                             for i in range(8)] + ["warn-00 warns", "warn-01 warns"])
    assert titles[19:] == [f"waived-{i:02} failed%2C waived" for i in range(10)]
    summary_kind, summary_props, summary = parsed[-1]
    assert (summary_kind, summary_props) == ("error", {"title": TITLE})
    assert summary.startswith("BLOCKED by fail-00, fail-01, ")
    # 3 + 2 blocking, 3 warns and 1 waived were left out
    assert summary.endswith("%0A9 more not shown (5 error, 1 notice, 3 warning): GitHub shows "
                            "10 annotations of each kind per step; -o text lists every check")


def test_a_pass_ends_with_a_notice_that_keeps_its_slot() -> None:
    waived = [check(f"waived-{i:02}", Status.WAIVED, 10 + i) for i in range(10)]
    parsed = commands(github.render(with_checks(check("ok", Status.PASS, 3), *waived)))
    assert [kind for kind, _, _ in parsed] == ["notice"] * 10
    assert parsed[-1][2].startswith("PASSED (1 pass, 10 waived): churn version 3, milestone "
                                    "serve, exit code 0%0A")
    assert parsed[-1][2].endswith("1 more not shown (1 notice): GitHub shows 10 annotations of "
                                  "each kind per step; -o text lists every check")


def test_a_check_without_a_line_is_annotated_on_the_playbook() -> None:
    lost = check("lost", Status.FAIL, 1, location=None)
    assert commands(github.render(with_checks(lost)))[0][1] == {
        "file": "playbooks/churn.yaml", "title": f"{TITLE}%3A lost failed"}


# --- $GITHUB_OUTPUT (cli/outputs.py) ------------------------------------------------------

def test_step_outputs_are_appended_after_earlier_steps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    step = tmp_path / "github_output"
    step.write_text("earlier=1\nunterminated=2")
    monkeypatch.setenv("GITHUB_OUTPUT", str(step))
    write_outputs(sample_result(), parse_outputs(["github"]))
    assert step.read_text() == ("earlier=1\nunterminated=2\nverdict=block\nexit_code=1\n"
                                f"audit_hash=sha256:{'ef' * 32}\n")
    assert capsys.readouterr().out == github.render(sample_result())


def test_step_outputs_only_with_the_github_format(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    step = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(step))
    write_outputs(sample_result(), parse_outputs(["json=" + str(tmp_path / "r.json")]))
    assert not step.exists()
    passed = replace(sample_result(), checks=(check("ok", Status.PASS, 3),), audit=None)
    write_outputs(passed, parse_outputs(["text", "github=" + str(tmp_path / "gh.txt")]))
    assert step.read_text() == "verdict=pass\nexit_code=0\naudit_hash=\n"


def test_unusable_github_output_is_refused_before_evaluating(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path))
    with pytest.raises(InvalidInputError, match=r"^GITHUB_OUTPUT .*: is a folder; the step "
                                                r"outputs are appended to a file$"):
        parse_outputs(["github"])
    parse_outputs(["text"])  # not used without the github format
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "missing" / "out"))
    with pytest.raises(InvalidInputError, match=r"/missing is not a folder$"):
        parse_outputs(["github"])


def test_github_output_failing_at_write_time_is_one_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path))  # became a folder after parsing
    with pytest.raises(InfrastructureError, match=r"^cannot append the step outputs to "
                                                  r"GITHUB_OUTPUT .*: Is a directory$"):
        write_outputs(sample_result(), [OutputTarget("github", tmp_path / "gh.txt")])


def test_check_refuses_a_folder_as_github_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path))
    audit = tmp_path / "audit.jsonl"
    code = run(["check", str(FRAUD), "--model", "fraud", "--version", "1", "--milestone", "poc",
                "--audit-log", str(audit), "-o", "github"])
    assert code == 2
    assert capsys.readouterr().err == (f"gatekeeper: error: GITHUB_OUTPUT {tmp_path}: is a "
                                       "folder; the step outputs are appended to a file\n")
    assert not audit.exists()  # nothing evaluated, nothing recorded


def test_check_in_actions_annotates_and_sets_step_outputs(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    step = tmp_path / "github_output"
    step.write_text("before=kept\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(step))
    version = seed_version(tracking_uri, "fraud", metrics={"auc": 0.5},
                           run_tags={"data_classification": "internal"},
                           artifacts={"model_card.md": "# fraud\n"})
    audit = tmp_path / "audit.jsonl"
    code = run(["check", str(FRAUD), "--model", "fraud", "--version", version, "--milestone",
                "poc", "--tracking-uri", tracking_uri, "--audit-log", str(audit),
                "-o", "github", "-o", f"json={tmp_path / 'result.json'}"])
    assert code == 1
    parsed = commands(capsys.readouterr().out)
    assert [(kind, props.get("line")) for kind, props, _ in parsed] == [
        ("error", "10"), ("error", None)]
    assert parsed[0][1]["title"] == "gatekeeper fraud v1 poc%3A auc-floor failed"
    assert parsed[-1][2].startswith("BLOCKED by auc-floor (")
    recorded = json.loads((tmp_path / "result.json").read_text())
    assert step.read_text() == ("before=kept\nverdict=block\nexit_code=1\n"
                                f"audit_hash={recorded['audit']['hash']}\n")
    assert recorded["audit"]["hash"].startswith("sha256:")
