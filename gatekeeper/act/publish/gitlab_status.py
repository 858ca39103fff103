"""``--gitlab-status``: a commit status, ``POST /projects/:id/statuses/:sha`` (GitLab API v4).

``pending`` when the gate starts, then ``success`` or ``failed`` (also ``failed`` when the run
reached no verdict); ``name`` is ``gatekeeper/<model>/<milestone>``. The API address and
project come from ``CI_API_V4_URL`` and ``CI_PROJECT_ID``; the token from ``GITLAB_TOKEN``
(a project or personal access token, ``PRIVATE-TOKEN`` header) or else ``CI_JOB_TOKEN``
(``JOB-TOKEN`` header; many GitLab versions do not let a job token post statuses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from gatekeeper.act.publish.http import ApiClient, Refusal
from gatekeeper.act.publish.interface import (
    DESCRIPTION_LIMIT,
    HttpSettings,
    PublishConfigError,
    PublishContext,
    cut,
    description,
    require,
)
from gatekeeper.decide.result import Decision, Result

NAME = "gitlab-status"
FLAG = "--gitlab-status"

REFUSAL = Refusal(messages={
    401: "the token is missing, expired or invalid (GITLAB_TOKEN, or CI_JOB_TOKEN)",
    403: "the token may not post commit statuses (use a project access token with the `api` "
         "scope in GITLAB_TOKEN)",
    404: "no such project or commit, or the token cannot see it (CI_PROJECT_ID, the sha)",
})


@dataclass
class GitlabStatus:
    project: str
    sha: str
    client: ApiClient
    target_url: str | None = None
    name: str = field(default=NAME)

    def start(self, context: PublishContext) -> str:
        return self.post("pending", "evaluating…", context)

    def publish(self, result: Result, context: PublishContext) -> str:
        state = "success" if result.decision is Decision.PASS else "failed"
        return self.post(state, description(result), context)

    def abort(self, context: PublishContext, reason: str) -> str:
        return self.post("failed", f"no verdict: {reason}", context)

    def post(self, state: str, text: str, context: PublishContext) -> str:
        body = {"state": state, "name": context.name,
                "description": cut(text, DESCRIPTION_LIMIT)}
        if self.target_url:
            body["target_url"] = self.target_url
        path = f"/projects/{quote(self.project, safe='')}/statuses/{quote(self.sha, safe='')}"
        self.client.request("POST", path, body)
        return f"{NAME}: {state} on project {self.project}@{self.sha[:12]} ({context.name})"


def create(env: Mapping[str, str], sha: str | None, settings: HttpSettings) -> GitlabStatus:
    api_url = require(env, "CI_API_V4_URL", FLAG, "the GitLab API address, .../api/v4")
    project = require(env, "CI_PROJECT_ID", FLAG, "the project's id")
    header, token = gitlab_token(env)
    commit = (sha or "").strip() or (env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "").strip()
                                     or env.get("CI_COMMIT_SHA", "").strip())
    if not commit:
        raise PublishConfigError(f"{FLAG}: no commit to publish to: give --sha, or run where "
                                 "CI_COMMIT_SHA is set")
    client = ApiClient("GitLab", api_url, {header: token}, token, settings, REFUSAL)
    link = env.get("CI_JOB_URL", "").strip() or env.get("CI_PIPELINE_URL", "").strip() or None
    return GitlabStatus(project, commit, client, link)


def gitlab_token(env: Mapping[str, str]) -> tuple[str, str]:
    """(header, token): ``PRIVATE-TOKEN`` for GITLAB_TOKEN, ``JOB-TOKEN`` for CI_JOB_TOKEN."""
    if env.get("GITLAB_TOKEN", "").strip():
        return "PRIVATE-TOKEN", env["GITLAB_TOKEN"].strip()
    if env.get("CI_JOB_TOKEN", "").strip():
        return "JOB-TOKEN", env["CI_JOB_TOKEN"].strip()
    raise PublishConfigError(f"{FLAG}: neither GITLAB_TOKEN nor CI_JOB_TOKEN is set (a token "
                             "allowed to post commit statuses)")
