"""``--github-status``: a commit status, ``POST /repos/{owner}/{repo}/statuses/{sha}``.

``pending`` when the gate starts, then ``success`` (pass) or ``failure`` (block); ``error`` when
the run reached no verdict. Context ``gatekeeper/<model>/<milestone>``, a description of at most
140 characters, and a link to the CI run when it is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from gatekeeper.act.publish.github import GithubTarget, github_target, run_url
from gatekeeper.act.publish.http import ApiClient
from gatekeeper.act.publish.interface import (
    DESCRIPTION_LIMIT,
    HttpSettings,
    PublishContext,
    cut,
    description,
)
from gatekeeper.decide.result import Decision, Result

NAME = "github-status"
FLAG = "--github-status"


@dataclass
class GithubStatus:
    target: GithubTarget
    client: ApiClient
    target_url: str | None = None
    name: str = field(default=NAME)

    def start(self, context: PublishContext) -> str:
        return self.post("pending", "evaluating…", context)

    def publish(self, result: Result, context: PublishContext) -> str:
        state = "success" if result.decision is Decision.PASS else "failure"
        return self.post(state, description(result), context)

    def abort(self, context: PublishContext, reason: str) -> str:
        return self.post("error", f"no verdict: {reason}", context)

    def post(self, state: str, text: str, context: PublishContext) -> str:
        body: dict[str, str] = {"state": state, "context": context.name,
                                "description": cut(text, DESCRIPTION_LIMIT)}
        if self.target_url:
            body["target_url"] = self.target_url
        path = (f"/repos/{self.target.repository}/statuses/"
                f"{quote(self.target.sha, safe='')}")
        self.client.request("POST", path, body)
        return f"{NAME}: {state} on {self.target.where()} ({context.name})"


def create(env: Mapping[str, str], sha: str | None, settings: HttpSettings) -> GithubStatus:
    target = github_target(env, sha, FLAG)
    return GithubStatus(target, target.client(settings), run_url(env))
