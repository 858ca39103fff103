"""GitHub commit statuses and check runs, posted to the local API emulator that validates every
request against GitHub's published request schemas: fields, limits, batches, retries, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gatekeeper.act.publish import github_check, github_status
from gatekeeper.act.publish.interface import HttpSettings, PublishConfigError, PublishContext
from gatekeeper.decide.result import Location, Result
from gatekeeper.errors import PublishError
from gatekeeper.evaluate.interface import Status
from tests.support.github_emulator import (
    ApiEmulator,
    api_emulator,
    hang,
    not_accessible,
    rate_limited,
    server_error,
    unauthorized,
    unprocessable,
)
from tests.support.results import check, sample_checks, sample_result

TOKEN = "ghp_FAKEtoken0123456789abcdefDONOTLEAK"
HEAD = "a" * 40
MERGE = "b" * 40
CONTEXT = PublishContext("churn", "serve")
FAST = HttpSettings(timeout_s=1.0)


@pytest.fixture
def github_api() -> Iterator[ApiEmulator]:
    with api_emulator(TOKEN) as api:
        yield api


def env_for(api: ApiEmulator, tmp_path: Path, **extra: str) -> dict[str, str]:
    """What GitHub Actions sets on a pull_request run (the event names the PR's head)."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": HEAD}}}))
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": api.github_url,
            "GITHUB_REPOSITORY": "acme/models", "GITHUB_EVENT_PATH": str(event),
            "GITHUB_SHA": MERGE, "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242", **extra}


def passing_result() -> Result:
    keep = (Status.PASS, Status.SKIP, Status.WARN, Status.WAIVED)
    return replace(sample_result(), checks=tuple(c for c in sample_checks() if c.status in keep))


def recording_sleep(publisher: github_status.GithubStatus | github_check.GithubCheck,
                    ) -> list[float]:
    """Record the waits the client asks for (and really wait them)."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)
    publisher.client.sleep = sleep
    return slept


# Commit statuses ---------------------------------------------------------------------------

def test_status_pending_then_failure_on_the_pull_requests_head(
        github_api: ApiEmulator, tmp_path: Path) -> None:
    status = github_status.create(env_for(github_api, tmp_path), None, FAST)
    assert status.start(CONTEXT) == ("github-status: pending on acme/models@aaaaaaaaaaaa "
                                     "(gatekeeper/churn/serve)")
    status.publish(sample_result(), CONTEXT)
    assert github_api.invalid == []
    link = "https://github.com/acme/models/actions/runs/4242"
    assert [r.path for r in github_api.requests] == [f"/repos/acme/models/statuses/{HEAD}"] * 2
    assert github_api.statuses == [
        {"state": "pending", "context": "gatekeeper/churn/serve", "description": "evaluating…",
         "target_url": link, "sha": HEAD, "id": 1},
        {"state": "failure", "context": "gatekeeper/churn/serve",
         "description": "blocked by latency-predict, model-card (1 pass, 2 warn, 1 fail, "
                        "1 error, 1 skip, 1 waived; prerequisite: pass)",
         "target_url": link, "sha": HEAD, "id": 2}]
    headers = github_api.requests[0].headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_status_success_for_a_passing_result_and_the_sha_flag_wins(
        github_api: ApiEmulator, tmp_path: Path) -> None:
    flag_sha = "c" * 40
    status = github_status.create(env_for(github_api, tmp_path), flag_sha, FAST)
    status.publish(passing_result(), CONTEXT)
    assert [(s["state"], s["sha"]) for s in github_api.statuses] == [("success", flag_sha)]
    assert github_api.statuses[0]["description"].startswith("passed (")


def test_status_without_event_uses_github_sha_and_no_link_without_run(
        github_api: ApiEmulator, tmp_path: Path) -> None:
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github_api.github_url,
           "GITHUB_REPOSITORY": "acme/models", "GITHUB_SHA": MERGE}
    github_status.create(env, None, FAST).abort(CONTEXT, "tracking server unreachable")
    assert github_api.statuses == [{"state": "error", "context": "gatekeeper/churn/serve",
                                    "description": "no verdict: tracking server unreachable",
                                    "sha": MERGE, "id": 1}]


def test_description_is_cut_to_140_characters(github_api: ApiEmulator, tmp_path: Path) -> None:
    blockers = tuple(check(f"a-rather-long-check-identifier-{n}", Status.FAIL, 10 + n)
                     for n in range(12))
    result = replace(sample_result(), checks=blockers)
    github_status.create(env_for(github_api, tmp_path), None, FAST).publish(result, CONTEXT)
    assert github_api.invalid == []
    text = github_api.statuses[0]["description"]
    assert len(text) == 140 and text.endswith("…")
    assert text.startswith("blocked by a-rather-long-check-identifier-0, ")


def test_github_enterprise_api_address(tmp_path: Path) -> None:
    with api_emulator(TOKEN, github_prefix="/api/v3") as ghe:
        env = env_for(ghe, tmp_path, GITHUB_SERVER_URL="https://ghe.example.com")
        assert env["GITHUB_API_URL"].endswith("/api/v3")
        github_status.create(env, None, FAST).publish(sample_result(), CONTEXT)
        assert [r.path for r in ghe.requests] == [f"/api/v3/repos/acme/models/statuses/{HEAD}"]
        assert ghe.statuses[0]["target_url"] == ("https://ghe.example.com/acme/models/actions/"
                                                 "runs/4242")


# Check runs --------------------------------------------------------------------------------

def test_check_run_in_progress_then_failure_with_annotations_at_playbook_lines(
        github_api: ApiEmulator, tmp_path: Path) -> None:
    run = github_check.create(env_for(github_api, tmp_path), None, FAST)
    run.start(CONTEXT)
    message = run.publish(sample_result(), CONTEXT)
    assert github_api.invalid == []
    assert [(r.method, r.path) for r in github_api.requests] == [
        ("POST", "/repos/acme/models/check-runs"), ("PATCH", "/repos/acme/models/check-runs/1")]
    created = github_api.requests[0].body
    assert (created["name"], created["head_sha"], created["status"]) == (
        "gatekeeper/churn/serve", HEAD, "in_progress")
    assert created["details_url"] == "https://github.com/acme/models/actions/runs/4242"
    final = github_api.check_runs[1]
    assert (final["status"], final["conclusion"]) == ("completed", "failure")
    assert final["output"]["title"] == "churn v3 · serve: blocked"
    assert final["output"]["summary"].startswith(
        "**blocked by latency-predict, model-card (1 pass, 2 warn, 1 fail, 1 error, 1 skip, "
        "1 waived; prerequisite: pass)** · churn version 3 · milestone serve "
        "(Production-ready serve layer)")
    assert "| FAIL | `latency-predict` |" in final["output"]["summary"]
    assert "What to do: add the missing evidence" in final["output"]["text"]
    notes = [(a["path"], a["start_line"], a["end_line"], a["annotation_level"], a["title"])
             for a in github_api.annotations(1)]
    assert notes == [
        ("playbooks/churn.yaml", 44, 44, "failure", "latency-predict: fail"),
        ("playbooks/churn.yaml", 52, 52, "failure", "model-card: error"),
        ("playbooks/churn.yaml", 58, 58, "warning", "cost-per-1k: warn"),
        ("playbooks/churn.yaml", 70, 70, "notice", "pii-findings: waived"),
        ("playbooks/churn.yaml", 82, 82, "warning", "f1-advisory: warn"),
    ]
    assert github_api.annotations(1)[0]["message"] == (
        "predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms\np95_ms 74 is 34 (85%) above the "
        "limit 40; p99_ms 161 is 81 (101%) above the limit 80")
    assert message.endswith("(gatekeeper/churn/serve, 5 annotation(s) in 1 request(s))")


def test_check_run_success_for_a_passing_result_created_when_start_was_skipped(
        github_api: ApiEmulator, tmp_path: Path) -> None:
    github_check.create(env_for(github_api, tmp_path), None, FAST).publish(
        passing_result(), CONTEXT)
    assert github_api.invalid == []
    assert [r.method for r in github_api.requests] == ["POST", "PATCH"]
    assert github_api.check_runs[1]["conclusion"] == "success"


def test_blocking_result_is_never_neutral_or_skipped(github_api: ApiEmulator,
                                                     tmp_path: Path) -> None:
    only_error = replace(sample_result(), checks=(check("x", Status.ERROR, 3),))
    run = github_check.create(env_for(github_api, tmp_path), None, FAST)
    run.publish(only_error, CONTEXT)
    run.run_id = None
    run.abort(CONTEXT, "audit log unwritable")
    assert [r["conclusion"] for r in github_api.check_runs.values()] == ["failure", "failure"]


def test_120_annotations_go_out_in_3_batches_of_at_most_50(github_api: ApiEmulator,
                                                           tmp_path: Path) -> None:
    many = tuple(check(f"c{n:03d}", Status.FAIL, n + 1) for n in range(120))
    github_check.create(env_for(github_api, tmp_path), None, FAST).publish(
        replace(sample_result(), checks=many), CONTEXT)
    assert github_api.invalid == []
    patches = [r.body for r in github_api.requests if r.method == "PATCH"]
    assert [len(p["output"]["annotations"]) for p in patches] == [50, 50, 20]
    assert patches[0]["conclusion"] == "failure"
    assert all("conclusion" not in p for p in patches[1:])
    assert [a["start_line"] for a in github_api.annotations(1)] == list(range(1, 121))


def test_200000_character_text_is_cut_within_65535(github_api: ApiEmulator,
                                                   tmp_path: Path) -> None:
    huge = check("huge", Status.FAIL, 5, message="x" * 200_000, remedy="y" * 200_000)
    github_check.create(env_for(github_api, tmp_path), None, FAST).publish(
        replace(sample_result(), checks=(huge,)), CONTEXT)
    assert github_api.invalid == []
    output = github_api.check_runs[1]["output"]
    for part in ("summary", "text"):
        assert 60_000 < len(output[part]) <= 65_535
        assert output[part].endswith("(cut to fit GitHub's limit; the full result is in the "
                                     "JSON output)")


def test_annotation_paths_are_relative_to_the_workspace(github_api: ApiEmulator,
                                                        tmp_path: Path) -> None:
    located = check("a", Status.FAIL, 7, location=Location("/runner/work/repo/playbooks/x.yaml", 7))
    env = env_for(github_api, tmp_path, GITHUB_WORKSPACE="/runner/work/repo")
    github_check.create(env, None, FAST).publish(replace(sample_result(), checks=(located,)),
                                                 CONTEXT)
    assert github_api.annotations(1)[0]["path"] == "playbooks/x.yaml"


# Retries and failures ----------------------------------------------------------------------

def test_retry_after_is_honoured(github_api: ApiEmulator, tmp_path: Path) -> None:
    status = github_status.create(env_for(github_api, tmp_path), None, FAST)
    slept = recording_sleep(status)
    github_api.fail_next(rate_limited(retry_after_s=1))
    status.publish(sample_result(), CONTEXT)
    assert slept == [1.0]
    assert [r.status for r in github_api.requests] == [403, 201]


def test_rate_limit_reset_is_honoured(github_api: ApiEmulator, tmp_path: Path) -> None:
    status = github_status.create(env_for(github_api, tmp_path), None, FAST)
    slept = recording_sleep(status)
    # The reset is whole epoch seconds, 3-4 s ahead when answered: a busy machine may take a
    # second or two to read the answer, and the wait left must still be positive.
    github_api.fail_next(rate_limited(reset_in_s=3, status=429))
    status.publish(sample_result(), CONTEXT)
    assert len(slept) == 1 and 0 < slept[0] <= 4
    assert [r.status for r in github_api.requests] == [429, 201]


def test_a_reset_an_hour_away_fails_at_once_instead_of_sleeping(
        github_api: ApiEmulator, tmp_path: Path) -> None:
    status = github_status.create(env_for(github_api, tmp_path), None, FAST)
    slept = recording_sleep(status)
    github_api.fail_next(rate_limited(reset_in_s=3600))
    with pytest.raises(PublishError) as failed:
        status.publish(sample_result(), CONTEXT)
    assert slept == [] and len(github_api.requests) == 1
    assert "rate limited (HTTP 403): API rate limit exceeded" in str(failed.value)
    assert "more than the 60 s gatekeeper waits in all" in str(failed.value)
    assert "gatekeeper publish --from" in str(failed.value.hint)


def test_backs_off_on_500_then_succeeds(github_api: ApiEmulator, tmp_path: Path) -> None:
    status = github_status.create(env_for(github_api, tmp_path), None, FAST)
    slept = recording_sleep(status)
    github_api.fail_next(server_error(), server_error())
    status.publish(sample_result(), CONTEXT)
    assert slept == [0.5, 1.0]
    assert [r.status for r in github_api.requests] == [500, 500, 201]
    assert [s["state"] for s in github_api.statuses] == ["failure"]


def test_500_forever_gives_up_after_bounded_attempts(github_api: ApiEmulator,
                                                     tmp_path: Path) -> None:
    status = github_status.create(env_for(github_api, tmp_path), None, FAST)
    slept = recording_sleep(status)
    github_api.fail_always(server_error())
    with pytest.raises(PublishError) as failed:
        status.publish(sample_result(), CONTEXT)
    assert slept == [0.5, 1.0, 2.0] and len(github_api.requests) == 4
    assert str(failed.value) == (f"GitHub POST /repos/acme/models/statuses/{HEAD}: HTTP 500: "
                                 "Server Error (gave up after 4 attempts)")


def test_422_is_never_retried(github_api: ApiEmulator, tmp_path: Path) -> None:
    status = github_status.create(env_for(github_api, tmp_path), None, FAST)
    github_api.fail_always(unprocessable())
    with pytest.raises(PublishError) as failed:
        status.publish(sample_result(), CONTEXT)
    assert len(github_api.requests) == 1
    assert "HTTP 422, GitHub rejected the request as invalid: Validation Failed" in str(
        failed.value)
    assert "reached the maximum number of statuses" in str(failed.value)


def test_401_says_the_token_is_missing_or_invalid(github_api: ApiEmulator,
                                                  tmp_path: Path) -> None:
    github_api.fail_next(unauthorized())
    with pytest.raises(PublishError) as failed:
        github_check.create(env_for(github_api, tmp_path), None, FAST).start(CONTEXT)
    assert str(failed.value) == ("GitHub POST /repos/acme/models/check-runs: HTTP 401, the token "
                                 "is missing, expired or invalid (GITHUB_TOKEN): Bad credentials")
    assert len(github_api.requests) == 1


def test_wrong_token_is_refused_by_the_emulator_and_never_shown(
        github_api: ApiEmulator, tmp_path: Path) -> None:
    wrong = "ghp_WRONGtoken_also_secret"
    env = env_for(github_api, tmp_path, GITHUB_TOKEN=wrong)
    with pytest.raises(PublishError) as failed:
        github_status.create(env, None, FAST).publish(sample_result(), CONTEXT)
    assert "HTTP 401" in str(failed.value) and wrong not in str(failed.value)


def test_read_only_token_on_a_fork_explains_publish_from(github_api: ApiEmulator,
                                                         tmp_path: Path) -> None:
    github_api.fail_next(not_accessible())
    with pytest.raises(PublishError) as failed:
        github_status.create(env_for(github_api, tmp_path), None, FAST).start(CONTEXT)
    assert "HTTP 403, the token is read-only here: Resource not accessible by integration" in (
        str(failed.value))
    hint = str(failed.value.hint)
    assert "workflow_run" in hint and "gatekeeper publish --from gate-result.json" in hint
    assert len(github_api.requests) == 1


def test_a_hanging_request_times_out_and_is_retried(github_api: ApiEmulator,
                                                    tmp_path: Path) -> None:
    status = github_status.create(env_for(github_api, tmp_path), None,
                                  HttpSettings(timeout_s=0.5))
    github_api.fail_next(hang())
    status.publish(sample_result(), CONTEXT)
    assert [r.status for r in github_api.requests] == [0, 201]


def test_a_request_that_always_hangs_fails_with_the_timeout(github_api: ApiEmulator,
                                                            tmp_path: Path) -> None:
    status = github_status.create(env_for(github_api, tmp_path), None,
                                  HttpSettings(timeout_s=0.5, attempts=2))
    github_api.fail_always(hang())
    with pytest.raises(PublishError) as failed:
        status.publish(sample_result(), CONTEXT)
    assert str(failed.value).endswith("no answer within 0.5 s (gave up after 2 attempts)")


# Configuration -----------------------------------------------------------------------------

@pytest.mark.parametrize(("drop", "extra", "message"), [
    ("GITHUB_TOKEN", {}, "--github-status: GITHUB_TOKEN is not set (a token allowed to write "
                         "statuses and checks)"),
    ("GITHUB_REPOSITORY", {}, "--github-status: GITHUB_REPOSITORY is not set (owner/repo)"),
    (None, {"GITHUB_REPOSITORY": "acme"}, "--github-status: GITHUB_REPOSITORY must be "
                                          "owner/repo, not 'acme'"),
    ("GITHUB_SHA", {"GITHUB_EVENT_PATH": ""}, "--github-status: no commit to publish to: give "
                                              "--sha, or run where GITHUB_EVENT_PATH or "
                                              "GITHUB_SHA is set"),
])
def test_missing_configuration_is_one_clear_line(tmp_path: Path, drop: str | None,
                                                 extra: dict[str, str], message: str) -> None:
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "acme/models", "GITHUB_SHA": MERGE,
           **extra}
    env.pop(drop or "", None)
    with pytest.raises(PublishConfigError) as failed:
        github_status.create(env, None, FAST)
    assert str(failed.value) == message


def test_default_api_is_github_com() -> None:
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "acme/models", "GITHUB_SHA": MERGE}
    assert github_status.create(env, None, FAST).target.api_url == "https://api.github.com"


# The emulator rejects what GitHub rejects, so a client bug fails a test ---------------------

def test_emulator_rejects_requests_that_break_the_documented_api(
        github_api: ApiEmulator, tmp_path: Path) -> None:
    client = github_status.create(env_for(github_api, tmp_path), None, FAST).client
    bad = [
        ("POST", f"/repos/acme/models/statuses/{HEAD}", {"state": "neutral"}),
        ("POST", f"/repos/acme/models/statuses/{HEAD}", {"state": "success",
                                                          "description": "d" * 141}),
        ("POST", "/repos/acme/models/check-runs", {"name": "x"}),
        ("POST", "/repos/acme/models/check-runs", {"name": "x", "head_sha": HEAD,
                                                   "status": "completed"}),
        ("POST", "/repos/acme/models/check-runs", {"name": "x", "head_sha": HEAD,
                                                   "output": {"title": "t", "summary": "s" *
                                                              65_536}}),
        ("POST", "/repos/acme/models/check-runs", {"name": "x", "head_sha": HEAD,
                                                   "conclusion": "failure", "output": {
                                                       "title": "t", "summary": "s",
                                                       "annotations": [{
                                                           "path": "p", "start_line": 1,
                                                           "end_line": 1, "message": "m",
                                                           "annotation_level": "failure"}] * 51}}),
        ("POST", f"/repos/acme/models/statuses/{HEAD}", {"state": "success", "contxt": "typo"}),
    ]
    for method, path, body in bad:
        with pytest.raises(PublishError, match="HTTP 422"):
            client.request(method, path, body)
    assert len(github_api.invalid) == len(bad)
    assert all(r.status == 422 for r in github_api.requests)
    client.request("POST", f"/repos/acme/models/statuses/{HEAD}",
                   {"state": "success", "target_url": None, "description": None})
    assert github_api.requests[-1].status == 201  # nullable honoured


def test_emulator_requires_githubs_headers(github_api: ApiEmulator, tmp_path: Path) -> None:
    client = github_status.create(env_for(github_api, tmp_path), None, FAST).client
    del client.session.headers["X-GitHub-Api-Version"]
    with pytest.raises(PublishError, match="HTTP 400"):
        client.request("POST", f"/repos/acme/models/statuses/{HEAD}", {"state": "success"})
    assert github_api.invalid == [f"POST /repos/acme/models/statuses/{HEAD}: "
                                  "X-GitHub-Api-Version must be 2022-11-28, got None"]
