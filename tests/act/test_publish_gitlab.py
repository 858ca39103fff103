"""GitLab commit statuses (API v4), posted to the local API emulator that checks GitLab's
documented parameters and token headers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from gatekeeper.act.publish import gitlab_status
from gatekeeper.act.publish.interface import HttpSettings, PublishConfigError, PublishContext
from gatekeeper.errors import PublishError
from gatekeeper.evaluate.interface import Status
from tests.support.github_emulator import ApiEmulator, api_emulator, rate_limited, unauthorized
from tests.support.results import sample_checks, sample_result

TOKEN = "glpat-FAKEtoken0123456789DONOTLEAK"
SHA = "d" * 40
CONTEXT = PublishContext("churn", "serve")
FAST = HttpSettings(timeout_s=1.0)


@pytest.fixture
def gitlab_api() -> Iterator[ApiEmulator]:
    with api_emulator(TOKEN) as api:
        yield api


def gitlab_env(api: ApiEmulator, **extra: str) -> dict[str, str]:
    return {"CI_API_V4_URL": api.gitlab_url, "CI_PROJECT_ID": "77", "CI_COMMIT_SHA": SHA,
            "GITLAB_TOKEN": TOKEN, "CI_JOB_URL": "https://gitlab.example.com/acme/m/-/jobs/9",
            **extra}


def test_pending_then_failed_named_after_model_and_milestone(gitlab_api: ApiEmulator) -> None:
    status = gitlab_status.create(gitlab_env(gitlab_api), None, FAST)
    assert status.start(CONTEXT) == ("gitlab-status: pending on project 77@dddddddddddd "
                                     "(gatekeeper/churn/serve)")
    status.publish(sample_result(), CONTEXT)
    assert gitlab_api.invalid == []
    assert [r.path for r in gitlab_api.requests] == [f"/api/v4/projects/77/statuses/{SHA}"] * 2
    assert [r.headers["PRIVATE-TOKEN"] for r in gitlab_api.requests] == [TOKEN, TOKEN]
    assert gitlab_api.gitlab_statuses == [
        {"state": "pending", "name": "gatekeeper/churn/serve", "description": "evaluating…",
         "target_url": "https://gitlab.example.com/acme/m/-/jobs/9", "project": "77",
         "sha": SHA, "id": 1},
        {"state": "failed", "name": "gatekeeper/churn/serve",
         "description": "blocked by latency-predict, model-card (1 pass, 2 warn, 1 fail, "
                        "1 error, 1 skip, 1 waived; prerequisite: pass)",
         "target_url": "https://gitlab.example.com/acme/m/-/jobs/9", "project": "77",
         "sha": SHA, "id": 2}]


def test_success_with_the_job_token_header(gitlab_api: ApiEmulator) -> None:
    env = gitlab_env(gitlab_api, CI_JOB_TOKEN=TOKEN)
    del env["GITLAB_TOKEN"]
    passing = replace(sample_result(), checks=tuple(
        c for c in sample_checks() if c.status in (Status.PASS, Status.SKIP)))
    gitlab_status.create(env, None, FAST).publish(passing, CONTEXT)
    assert gitlab_api.requests[0].headers["JOB-TOKEN"] == TOKEN
    assert "PRIVATE-TOKEN" not in gitlab_api.requests[0].headers
    assert gitlab_api.gitlab_statuses[0]["state"] == "success"


def test_no_verdict_is_failed_and_merge_request_head_is_preferred(
        gitlab_api: ApiEmulator) -> None:
    head = "e" * 40
    env = gitlab_env(gitlab_api, CI_MERGE_REQUEST_SOURCE_BRANCH_SHA=head)
    gitlab_status.create(env, None, FAST).abort(CONTEXT, "playbook invalid")
    assert [(s["state"], s["sha"], s["description"]) for s in gitlab_api.gitlab_statuses] == [
        ("failed", head, "no verdict: playbook invalid")]


def test_rate_limit_retry_after(gitlab_api: ApiEmulator) -> None:
    gitlab_api.fail_next(rate_limited(retry_after_s=1, status=429))
    gitlab_status.create(gitlab_env(gitlab_api), None, FAST).publish(sample_result(), CONTEXT)
    assert [r.status for r in gitlab_api.requests] == [429, 201]


def test_401_names_the_token_variables_and_never_the_token(gitlab_api: ApiEmulator) -> None:
    gitlab_api.fail_next(unauthorized())
    with pytest.raises(PublishError) as failed:
        gitlab_status.create(gitlab_env(gitlab_api), None, FAST).publish(sample_result(),
                                                                          CONTEXT)
    assert str(failed.value) == (
        f"GitLab POST /projects/77/statuses/{SHA}: HTTP 401, the token is missing, expired or "
        "invalid (GITLAB_TOKEN, or CI_JOB_TOKEN): Bad credentials")
    assert TOKEN not in str(failed.value)


@pytest.mark.parametrize(("drop", "message"), [
    ("CI_API_V4_URL", "--gitlab-status: CI_API_V4_URL is not set (the GitLab API address, "
                      ".../api/v4)"),
    ("CI_PROJECT_ID", "--gitlab-status: CI_PROJECT_ID is not set (the project's id)"),
    ("GITLAB_TOKEN", "--gitlab-status: neither GITLAB_TOKEN nor CI_JOB_TOKEN is set (a token "
                     "allowed to post commit statuses)"),
    ("CI_COMMIT_SHA", "--gitlab-status: no commit to publish to: give --sha, or run where "
                      "CI_COMMIT_SHA is set"),
])
def test_missing_configuration(drop: str, message: str) -> None:
    env = {"CI_API_V4_URL": "https://gitlab.example.com/api/v4", "CI_PROJECT_ID": "77",
           "CI_COMMIT_SHA": SHA, "GITLAB_TOKEN": TOKEN}
    del env[drop]
    with pytest.raises(PublishConfigError) as failed:
        gitlab_status.create(env, None, FAST)
    assert str(failed.value) == message


def test_emulator_rejects_an_unknown_gitlab_state(gitlab_api: ApiEmulator) -> None:
    client = gitlab_status.create(gitlab_env(gitlab_api), None, FAST).client
    with pytest.raises(PublishError, match="HTTP 400"):
        client.request("POST", f"/projects/77/statuses/{SHA}", {"state": "failure"})
    assert len(gitlab_api.invalid) == 1
