"""What the GitHub targets share: the token, API address, repository and commit read from the
environment GitHub Actions sets, and the API client with GitHub's headers and error readings.

GitHub Enterprise Server works the same way: its runners set ``GITHUB_API_URL`` to
``https://<host>/api/v3``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.act.publish.http import ApiClient, Refusal
from gatekeeper.act.publish.interface import HttpSettings, PublishConfigError, require

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")

FORK_HINT = (
    "a pull request from a fork gets a read-only GITHUB_TOKEN: save the result with "
    "`-o json=gate-result.json`, upload it as an artifact, and post it from a trusted "
    "`workflow_run` job with `gatekeeper publish --from gate-result.json --github-status "
    "--sha <the pull request's head sha>` (docs/publish.md)")

REFUSAL = Refusal(
    messages={
        401: "the token is missing, expired or invalid (GITHUB_TOKEN)",
        403: "the token may not do this (the workflow needs `permissions: statuses: write` "
             "and `checks: write`)",
        404: "no such repository or commit, or the token cannot see it (GITHUB_REPOSITORY, "
             "the commit sha)",
        422: "GitHub rejected the request as invalid",
    },
    special=(("Resource not accessible by integration",
              "HTTP 403, the token is read-only here", FORK_HINT),),
)


@dataclass(frozen=True)
class GithubTarget:
    """Where a GitHub verdict goes: ``/repos/{repository}/...`` at commit ``sha``."""

    api_url: str
    repository: str
    sha: str
    token: str

    def client(self, settings: HttpSettings) -> ApiClient:
        headers = {"Authorization": f"Bearer {self.token}",
                   "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": API_VERSION}
        return ApiClient("GitHub", self.api_url, headers, self.token, settings, REFUSAL)

    def where(self) -> str:
        return f"{self.repository}@{self.sha[:12]}"


def github_target(env: Mapping[str, str], sha: str | None, flag: str) -> GithubTarget:
    """The target from the environment; raises PublishConfigError (exit 2) naming what is
    missing."""
    token = require(env, "GITHUB_TOKEN", flag, "a token allowed to write statuses and checks")
    repository = require(env, "GITHUB_REPOSITORY", flag, "owner/repo")
    if not _REPOSITORY.match(repository):
        raise PublishConfigError(f"{flag}: GITHUB_REPOSITORY must be owner/repo, "
                                 f"not '{repository}'")
    commit = commit_sha(env, sha)
    if commit is None:
        raise PublishConfigError(f"{flag}: no commit to publish to: give --sha, or run where "
                                 "GITHUB_EVENT_PATH or GITHUB_SHA is set")
    if not _SHA.match(commit):
        raise PublishConfigError(f"{flag}: '{commit}' is not a commit sha (hexadecimal)")
    api_url = env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
    return GithubTarget(api_url.rstrip("/"), repository, commit, token)


def commit_sha(env: Mapping[str, str], sha: str | None) -> str | None:
    """``--sha`` when given; else the pull request's head in the event
    (``pull_request.head.sha``, or ``workflow_run.head_sha`` in a trusted follow-up job);
    else ``GITHUB_SHA``. On a pull request GITHUB_SHA is a merge commit nobody reviews."""
    if sha and sha.strip():
        return sha.strip()
    return event_head_sha(env.get("GITHUB_EVENT_PATH")) or env.get("GITHUB_SHA", "").strip() or None


def event_head_sha(path: str | None) -> str | None:
    """The head commit named by the event payload at ``path``, when it names one."""
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = dig(event, "pull_request", "head", "sha") or dig(event, "workflow_run", "head_sha")
    return found if isinstance(found, str) and found else None


def dig(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def run_url(env: Mapping[str, str]) -> str | None:
    """The CI run's page when the three variables are set:
    ``${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}``."""
    parts = [env.get(n, "").strip() for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY",
                                             "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server, repository, run_id = parts
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"
