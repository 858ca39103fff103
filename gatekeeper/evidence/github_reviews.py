"""A pull request's reviews, read from GitHub's REST API as evidence of approvals
(``check --github-pr N``; docs/approvals.md).

``GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews`` lists reviews oldest first, at most
100 a page (``per_page``, ``page``). The token needs ``pull-requests: read``. The same
environment as publishing: ``GITHUB_TOKEN``, ``GITHUB_REPOSITORY``, ``GITHUB_API_URL``; the
head commit from ``--sha``, else the event's pull request head, else ``GITHUB_SHA``.

    source = github_reviews(os.environ, pull=12, sha=None)   # exit 2 when unconfigured
    source.reviews()    # Reviews(...); a failure to read is Reviews.problem, never raised
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from gatekeeper.act.publish.github import API_VERSION, DEFAULT_API_URL, commit_sha
from gatekeeper.act.publish.http import ApiClient, Refusal
from gatekeeper.act.publish.interface import HttpSettings, PublishConfigError, require
from gatekeeper.decide.approvals import Review, Reviews
from gatekeeper.errors import GatekeeperError

FLAG = "--github-pr"
#: A GET sends no body: ``requests`` sends none for ``json=None`` (ApiClient's hint names the
#: bodies of its writes; an empty mapping would go out as ``{}``).
NO_BODY = cast("Mapping[str, Any]", None)
PER_PAGE = 100
#: 3,000 reviews: far beyond any real pull request; a server that never ends a list stops here.
MAX_PAGES = 30

REFUSAL = Refusal(messages={
    401: "the token is missing, expired or invalid (GITHUB_TOKEN)",
    403: "the token may not read pull requests (the workflow needs `permissions: "
         "pull-requests: read`)",
    404: "no such repository or pull request, or the token cannot see it (GITHUB_REPOSITORY, "
         "--github-pr)",
})


class ReviewSource(Protocol):
    """Where a gate run's pull request reviews come from (GitHub; a fake in unit tests)."""

    def reviews(self) -> Reviews: ...


@dataclass(frozen=True)
class GithubReviews:
    api_url: str
    repository: str
    pull: int
    sha: str
    token: str
    settings: HttpSettings = field(default_factory=HttpSettings)

    def reviews(self) -> Reviews:
        """Every review of the pull request, or the problem that stopped reading them."""
        try:
            found = self._read()
        except GatekeeperError as exc:
            return Reviews(self.pull, self.sha, problem=str(exc))
        return Reviews(self.pull, self.sha, tuple(found))

    def _read(self) -> list[Review]:
        headers = {"Authorization": f"Bearer {self.token}",
                   "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": API_VERSION}
        client = ApiClient("GitHub", self.api_url, headers, self.token, self.settings, REFUSAL)
        path = f"/repos/{self.repository}/pulls/{self.pull}/reviews"
        found: list[Review] = []
        for page in range(1, MAX_PAGES + 1):
            answer = client.request("GET", f"{path}?per_page={PER_PAGE}&page={page}", NO_BODY)
            if not isinstance(answer, list):
                raise GatekeeperError(f"GitHub GET {path}: the answer is not a list of reviews")
            found += [r for item in answer if (r := _review(item)) is not None]
            if len(answer) < PER_PAGE:
                return found
        raise GatekeeperError(f"GitHub GET {path}: more than {MAX_PAGES} pages of reviews")


def _review(item: Any) -> Review | None:
    """A review as gatekeeper needs it; None for an entry without a user (a deleted account)."""
    if not isinstance(item, Mapping):
        return None
    user = item.get("user")
    login = user.get("login") if isinstance(user, Mapping) else None
    if not isinstance(login, str):
        return None
    commit = item.get("commit_id")
    return Review(int(item.get("id") or 0), login, str(item.get("state") or ""),
                  commit if isinstance(commit, str) else None)


def github_reviews(env: Mapping[str, str], pull: int, sha: str | None,
                   settings: HttpSettings | None = None) -> GithubReviews:
    """The review source for pull request ``pull``; raises PublishConfigError (exit 2) when
    the token, the repository or the head commit is missing."""
    token = require(env, "GITHUB_TOKEN", FLAG, "a token allowed to read pull requests")
    repository = require(env, "GITHUB_REPOSITORY", FLAG, "owner/repo")
    if repository.count("/") != 1:
        raise PublishConfigError(f"{FLAG}: GITHUB_REPOSITORY must be owner/repo, "
                                 f"not '{repository}'")
    head = commit_sha(env, sha)
    if head is None:
        raise PublishConfigError(f"{FLAG}: no head commit to match reviews against: give "
                                 "--sha, or run where GITHUB_EVENT_PATH or GITHUB_SHA is set")
    api_url = env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
    return GithubReviews(api_url.rstrip("/"), repository, pull, head.lower(), token,
                         settings or HttpSettings())
