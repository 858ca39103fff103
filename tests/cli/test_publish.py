"""`gatekeeper publish --from RESULT.json` and the publishing flags of `gatekeeper check`, through
the real CLI against the local GitHub/GitLab API emulator (and, for `check`, a real SQLite MLflow
registry): exit codes 0/2/4, exact messages, pending before the verdict, the verdict's files and
audit record written before publishing, and the token never shown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from gatekeeper.cli import run
from gatekeeper.cli.main import cli
from tests.support.github_emulator import (
    ApiEmulator,
    Recorded,
    api_emulator,
    hang,
    not_accessible,
    server_error,
    unauthorized,
)
from tests.support.registry import seed_version
from tests.support.results import sample_result

TOKEN = "ghp_FAKEtoken0123456789abcdefDONOTLEAK"
HEAD = "a" * 40
PLAYBOOK = Path(__file__).parents[1] / "assets" / "playbooks" / "fraud.yaml"
GOOD = {"auc": 0.9, "latency.predict.p95_ms": 20.0, "latency.predict.p99_ms": 60.0,
        "pilot.error_rate": 0.001}


@pytest.fixture
def github_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ApiEmulator]:
    """The emulator, and the environment a pull_request run of GitHub Actions has."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": HEAD}}}))
    with api_emulator(TOKEN) as api:
        for name, value in {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": api.github_url,
                            "GITHUB_REPOSITORY": "acme/models", "GITHUB_SHA": "b" * 40,
                            "GITHUB_EVENT_PATH": str(event),
                            "GITHUB_SERVER_URL": "https://github.com",
                            "GITHUB_RUN_ID": "4242"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("GATEKEEPER_PUBLISH_TIMEOUT", "1")
        yield api


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    path = tmp_path / "gate-result.json"
    path.write_text(json.dumps(sample_result().to_dict()))
    return path


def no_token_anywhere(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text


# gatekeeper publish ------------------------------------------------------------------------

def test_publish_posts_status_and_check_run(github_api: ApiEmulator, stored: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["publish", "--from", str(stored), "--github-status", "--github-check"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "github-status: failure on acme/models@aaaaaaaaaaaa (gatekeeper/churn/serve)",
        "github-check: failure on acme/models@aaaaaaaaaaaa (gatekeeper/churn/serve, "
        "5 annotation(s) in 1 request(s))"]
    assert err == "" and github_api.invalid == []
    assert [(s["state"], s["context"]) for s in github_api.statuses] == [
        ("failure", "gatekeeper/churn/serve")]
    assert github_api.check_runs[1]["conclusion"] == "failure"


def test_publish_to_gitlab(stored: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    with api_emulator(TOKEN) as api:
        for name, value in {"CI_API_V4_URL": api.gitlab_url, "CI_PROJECT_ID": "77",
                            "CI_COMMIT_SHA": "d" * 40, "GITLAB_TOKEN": TOKEN}.items():
            monkeypatch.setenv(name, value)
        assert run(["publish", "--from", str(stored), "--gitlab-status"]) == 0
        assert [s["state"] for s in api.gitlab_statuses] == ["failed"]
    assert capsys.readouterr().out.startswith("gitlab-status: failed on project 77@")


@pytest.mark.parametrize(("content", "message"), [
    (None, "--from {path}: no such file"),
    ("{not json", "--from {path}:1:2: not valid JSON: Expecting property name enclosed in "
                  "double quotes"),
    ('{"schema": "other"}', '--from {path}: not a gatekeeper result: "schema" is "other", '
                            'expected "gatekeeper.result/v1"'),
    ('{"schema": "gatekeeper.result/v1"}', "--from {path}: not a valid result: missing "
                                           "field 'model'"),
])
def test_publish_bad_file_is_one_line_exit_2(github_api: ApiEmulator, tmp_path: Path,
                                             content: str | None, message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content)
    assert run(["publish", "--from", str(path), "--github-status"]) == 2
    assert capsys.readouterr().err == f"gatekeeper: error: {message.format(path=path)}\n"
    assert github_api.requests == []


def test_publish_needs_a_target_and_its_configuration(
        github_api: ApiEmulator, stored: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["publish", "--from", str(stored)]) == 2
    assert capsys.readouterr().err == ("gatekeeper: error: give at least one of "
                                       "--github-status, --github-check, --gitlab-status\n")
    monkeypatch.delenv("GITHUB_TOKEN")
    assert run(["publish", "--from", str(stored), "--github-status"]) == 2
    assert capsys.readouterr().err == (
        "gatekeeper: error: --github-status: GITHUB_TOKEN is not set (a token allowed to write "
        "statuses and checks)\n")
    assert github_api.requests == []


def test_publish_failure_exits_4_and_never_shows_the_token(
        github_api: ApiEmulator, stored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    github_api.fail_always(server_error())
    assert run(["publish", "--from", str(stored), "--github-status"]) == 4
    out, err = capsys.readouterr()
    assert err == (f"gatekeeper: error: github-status: GitHub POST /repos/acme/models/statuses/"
                   f"{HEAD}: HTTP 500: Server Error (gave up after 4 attempts)\n")
    no_token_anywhere(out, err, stored.read_text())


@pytest.mark.parametrize("fault", [unauthorized, not_accessible, hang],
                         ids=["401", "fork", "hang"])
def test_every_failure_message_keeps_the_token_secret(
        github_api: ApiEmulator, stored: Path, fault: object,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    github_api.fail_always(fault())  # type: ignore[operator]
    assert run(["publish", "--from", str(stored), "--github-status", "--github-check",
                "--publish-timeout", "0.5"]) == 4
    out, err = capsys.readouterr()
    assert err.count("gatekeeper: error: ") == 2
    no_token_anywhere(out, err, caplog.text)


def test_fork_pull_request_prints_how_to_publish_from_a_trusted_workflow(
        github_api: ApiEmulator, stored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    github_api.fail_always(not_accessible())
    assert run(["publish", "--from", str(stored), "--github-status"]) == 4
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("HTTP 403, the token is read-only here: Resource not accessible by "
                           "integration")
    assert err[1].startswith("hint: a pull request from a fork gets a read-only GITHUB_TOKEN")
    assert "`gatekeeper publish --from gate-result.json --github-status --sha" in err[1]


def test_publish_timeout_from_the_environment_bounds_a_hang(
        github_api: ApiEmulator, stored: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEKEEPER_PUBLISH_TIMEOUT", "0.5")
    github_api.fail_always(hang())
    assert run(["publish", "--from", str(stored), "--github-status"]) == 4
    assert "no answer within 0.5 s (gave up after 4 attempts)" in capsys.readouterr().err
    assert [r.status for r in github_api.requests] == [0, 0, 0, 0]


def test_every_help_text_offers_only_flags_that_exist() -> None:
    """Each `--flag` a command's help mentions is an option of that command (or --help)."""
    for name, command in cli.commands.items():
        commands = (command.commands.items() if isinstance(command, click.Group)
                    else [(name, command)])
        for sub, cmd in commands:
            ctx = click.Context(cmd, info_name=sub)
            # click wraps help at hyphens too: `--audit-` at a line's end continues below
            text = re.sub(r"-\n\s+", "-", cmd.get_help(ctx))
            offered = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
            known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
            assert offered <= known | {"--help"}, (sub, offered - known)
    check_opts = {o for p in cli.commands["check"].params for o in p.opts}
    assert {"--github-status", "--github-check", "--gitlab-status", "--sha",
            "--require-publish"} <= check_opts
    publish_opts = {o for p in cli.commands["publish"].params for o in p.opts}
    assert "--require-publish" not in publish_opts


# gatekeeper check --github-status ----------------------------------------------------------

def seed(uri: str, auc: float = 0.9) -> str:
    return seed_version(uri, "fraud", metrics={**GOOD, "auc": auc},
                        run_tags={"data_classification": "internal"},
                        artifacts={"model_card.md": "# fraud\n"})


def gate(uri: str, tmp_path: Path, version: str, *args: str) -> int:
    return run(["check", str(PLAYBOOK), "--model", "fraud", "--version", version,
                "--milestone", "poc", "--tracking-uri", uri,
                "--audit-log", str(tmp_path / "audit.jsonl"),
                "-o", f"json={tmp_path / 'result.json'}", *args])


def test_check_posts_pending_then_the_verdict_after_writing_it(
        github_api: ApiEmulator, tracking_uri: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    version = seed(tracking_uri, auc=0.7)
    audit, result = tmp_path / "audit.jsonl", tmp_path / "result.json"
    seen: list[tuple[str, bool, bool]] = []

    def observe(request: Recorded) -> None:
        seen.append((request.body["state"], result.exists(), audit.exists()))
    github_api.observe = observe
    assert gate(tracking_uri, tmp_path, version, "--github-status") == 1
    assert seen == [("pending", False, False), ("failure", True, True)]
    assert github_api.statuses[1]["description"] == (
        "blocked by auc-floor (1 pass, 1 fail, 1 skip)")
    assert github_api.statuses[1]["target_url"] == ("https://github.com/acme/models/actions/"
                                                    "runs/4242")
    assert github_api.invalid == []
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "gatekeeper: github-status: pending on acme/models@aaaaaaaaaaaa (gatekeeper/fraud/poc)",
        "gatekeeper: github-status: failure on acme/models@aaaaaaaaaaaa (gatekeeper/fraud/poc)"]


def test_check_pass_posts_success_and_a_check_run(github_api: ApiEmulator, tracking_uri: str,
                                                  tmp_path: Path) -> None:
    version = seed(tracking_uri)
    assert gate(tracking_uri, tmp_path, version, "--github-status", "--github-check") == 0
    assert [s["state"] for s in github_api.statuses] == ["pending", "success"]
    assert [(r.method, r.body.get("status")) for r in github_api.requests
            if "check-runs" in r.path] == [("POST", "in_progress"), ("PATCH", "completed")]
    assert github_api.check_runs[1]["conclusion"] == "success"
    assert github_api.invalid == []


def test_require_publish_exits_4_after_writing_verdict_and_audit(
        github_api: ApiEmulator, tracking_uri: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    version = seed(tracking_uri)
    github_api.fail_always(server_error())
    assert gate(tracking_uri, tmp_path, version, "--github-status", "--require-publish") == 4
    result = json.loads((tmp_path / "result.json").read_text())
    assert (result["decision"], result["exit_code"]) == ("pass", 0)
    records = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [json.loads(r)["action"] for r in records] == ["decision"]
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("gatekeeper: warning: ")]
    assert len(warnings) == 2  # pending, then the verdict
    assert warnings[1] == (
        f"gatekeeper: warning: github-status: GitHub POST /repos/acme/models/statuses/{HEAD}: "
        "HTTP 500: Server Error (gave up after 4 attempts) (the verdict stands and is "
        "recorded)")
    no_token_anywhere(out, err, (tmp_path / "result.json").read_text(),
                      (tmp_path / "audit.jsonl").read_text())


def test_without_require_publish_a_failure_is_a_warning_and_the_verdict_exits(
        github_api: ApiEmulator, tracking_uri: str, tmp_path: Path) -> None:
    version = seed(tracking_uri, auc=0.7)
    github_api.fail_always(unauthorized())
    assert gate(tracking_uri, tmp_path, version, "--github-status") == 1


def test_no_verdict_turns_pending_into_error(github_api: ApiEmulator, tracking_uri: str,
                                             tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = gate(tracking_uri, tmp_path, "99", "--github-status", "--require-publish")
    assert code == 2  # no such version: evaluation failed, publishing does not change that
    assert [s["state"] for s in github_api.statuses] == ["pending", "error"]
    assert github_api.statuses[1]["description"].startswith("no verdict: ")
    assert len(github_api.statuses[1]["description"]) <= 140
    assert "gatekeeper: error: " in capsys.readouterr().err


def test_check_refuses_missing_configuration_before_evaluating(
        github_api: ApiEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY")
    code = run(["check", str(PLAYBOOK), "--model", "fraud", "--version", "1", "--milestone",
                "poc", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}",
                "--audit-log", str(tmp_path / "audit.jsonl"), "--github-status"])
    assert code == 2
    assert capsys.readouterr().err == ("gatekeeper: error: --github-status: GITHUB_REPOSITORY "
                                       "is not set (owner/repo)\n")
    assert github_api.requests == [] and not (tmp_path / "audit.jsonl").exists()
    assert run(["check", str(PLAYBOOK), "--model", "fraud", "--version", "1", "--milestone",
                "poc", "--require-publish"]) == 2
    assert "--require-publish: no target to publish to" in capsys.readouterr().err
