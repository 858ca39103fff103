"""``--github-check``: a check run, ``POST /repos/{owner}/{repo}/check-runs`` (in progress when
the gate starts), then ``PATCH .../check-runs/{id}`` to complete it.

The conclusion is ``success`` or ``failure``: a blocking result is never ``neutral`` or
``skipped``, which GitHub counts as passing; a run that reached no verdict is a ``failure``
too. The output's title, summary and text each stay within 65,535 characters. Each check with
a playbook line and something to say (fail, error, warn, waived) becomes an annotation there;
GitHub takes at most 50 per request, so the first PATCH carries 50 and each further PATCH the
next 50 (GitHub appends them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from gatekeeper.act.publish.github import GithubTarget, github_target, run_url
from gatekeeper.act.publish.http import ApiClient, iso_seconds
from gatekeeper.act.publish.interface import HttpSettings, PublishContext, cut, verdict_line
from gatekeeper.decide.result import CheckResult, Decision, Result
from gatekeeper.evaluate.interface import Status

NAME = "github-check"
FLAG = "--github-check"
#: GitHub's limits for a check run's output (characters) and annotations per request.
OUTPUT_LIMIT = 65_535
ANNOTATIONS_PER_REQUEST = 50
TITLE_LIMIT = 255
MESSAGE_LIMIT = 4_000
CUT_NOTE = " (cut to fit GitHub's limit; the full result is in the JSON output)"
PREREQUISITE = "prerequisite"


@dataclass
class GithubCheck:
    target: GithubTarget
    client: ApiClient
    details_url: str | None = None
    workspace: str | None = None
    run_id: int | None = None
    name: str = field(default=NAME)

    def start(self, context: PublishContext) -> str:
        self.run_id = self.create(context)
        return f"{NAME}: in progress on {self.target.where()} ({context.name})"

    def publish(self, result: Result, context: PublishContext) -> str:
        conclusion = "success" if result.decision is Decision.PASS else "failure"
        notes = check_annotations(result.checks, self.workspace)
        output = {"title": title(result), "summary": cut(summary(result), OUTPUT_LIMIT, CUT_NOTE),
                  "text": cut(details(result), OUTPUT_LIMIT, CUT_NOTE)}
        batches = list(chunks(notes, ANNOTATIONS_PER_REQUEST)) or [[]]
        self.complete(context, conclusion, {**output, "annotations": batches[0]})
        for batch in batches[1:]:
            self.update({"output": {"title": output["title"], "summary": output["summary"],
                                    "annotations": batch}})
        return (f"{NAME}: {conclusion} on {self.target.where()} ({context.name}, "
                f"{len(notes)} annotation(s) in {len(batches)} request(s))")

    def abort(self, context: PublishContext, reason: str) -> str:
        output = {"title": "no verdict", "summary": cut(f"No verdict: {reason}", OUTPUT_LIMIT)}
        self.complete(context, "failure", output)
        return f"{NAME}: failure (no verdict) on {self.target.where()} ({context.name})"

    def create(self, context: PublishContext) -> int:
        body: dict[str, Any] = {"name": context.name, "head_sha": self.target.sha,
                                "status": "in_progress", "started_at": iso_seconds()}
        if self.details_url:
            body["details_url"] = self.details_url
        answer = self.client.request("POST", f"/repos/{self.target.repository}/check-runs", body)
        return int(answer["id"]) if isinstance(answer, dict) and "id" in answer else 0

    def complete(self, context: PublishContext, conclusion: str,
                 output: Mapping[str, Any]) -> None:
        if not self.run_id:
            self.run_id = self.create(context)
        self.update({"status": "completed", "conclusion": conclusion,
                     "completed_at": iso_seconds(), "output": dict(output)})

    def update(self, body: Mapping[str, Any]) -> None:
        path = f"/repos/{self.target.repository}/check-runs/{self.run_id}"
        self.client.request("PATCH", path, body)


def create(env: Mapping[str, str], sha: str | None, settings: HttpSettings) -> GithubCheck:
    target = github_target(env, sha, FLAG)
    return GithubCheck(target, target.client(settings), run_url(env),
                       env.get("GITHUB_WORKSPACE") or None)


def chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def title(result: Result) -> str:
    verdict = "passed" if result.decision is Decision.PASS else "blocked"
    return cut(f"{result.model.name} v{result.model.version} · {result.milestone.id}: {verdict}",
               TITLE_LIMIT)


def ordered(checks: Sequence[CheckResult]) -> list[CheckResult]:
    """The playbook's checks, failures first: blocking fail/error, then the rest that has
    something to say, then passes and skips; the prerequisite is shown apart."""
    def rank(check: CheckResult) -> int:
        if check.blocks:
            return 0
        return 2 if check.status in (Status.PASS, Status.SKIP) else 1
    return sorted((c for c in checks if c.kind != PREREQUISITE), key=rank)


def summary(result: Result) -> str:
    """Markdown: the verdict, the prerequisite, a table of checks with failures first."""
    m = result.model
    lines = [f"**{verdict_line(result)}** · {m.name} version {m.version} · milestone "
             f"{result.milestone.id} ({cell(result.milestone.title)})", ""]
    for check in result.checks:
        if check.kind == PREREQUISITE:
            lines += [f"Prerequisite `{check.id}`: **{check.status.value}**, "
                      f"{cell(check.message)}", ""]
    lines += ["| state | check | result | owner |", "| --- | --- | --- | --- |"]
    for check in ordered(result.checks):
        advisory = " (advisory)" if not check.blocking else ""
        lines.append(f"| {check.status.value.upper()}{advisory} | `{check.id}` | "
                     f"{cell(check.message)} | {cell(check.owner or '')} |")
    if result.audit:
        lines += ["", f"audit: `{result.audit.log}` record {result.audit.seq} "
                      f"`{result.audit.hash}`"]
    return "\n".join(lines) + "\n"


def details(result: Result) -> str:
    """Markdown: for each check that did not simply pass, its remedy and evidence."""
    parts = []
    for check in ordered(result.checks):
        if check.status in (Status.PASS, Status.SKIP):
            continue
        lines = [f"### {check.id}: {check.status.value}", "", check.message]
        if check.remedy:
            lines += ["", f"What to do: {check.remedy}"]
        if check.location:
            lines += ["", f"Defined at `{check.location.file}:{check.location.line}`"]
        lines += [f"- {name}: `{ref}`" for name, ref in check.evidence.items()]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n" if parts else "Every check passed or was skipped.\n"


def cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def check_annotations(checks: Sequence[CheckResult], workspace: str | None) -> list[dict[str, Any]]:
    """One annotation per located check that failed, erred, warned or was waived."""
    out = []
    for check in ordered(checks) + [c for c in checks if c.kind == PREREQUISITE]:
        level = annotation_level(check)
        if level is None or check.location is None:
            continue
        message = check.message + (f"\n{check.remedy}" if check.remedy else "")
        out.append({"path": repo_path(check.location.file, workspace),
                    "start_line": max(check.location.line, 1),
                    "end_line": max(check.location.line, 1),
                    "annotation_level": level,
                    "title": cut(f"{check.id}: {check.status.value}", TITLE_LIMIT),
                    "message": cut(message, MESSAGE_LIMIT)})
    return out


def annotation_level(check: CheckResult) -> str | None:
    if check.blocks:
        return "failure"
    if check.status in (Status.FAIL, Status.ERROR, Status.WARN):
        return "warning"
    return "notice" if check.status is Status.WAIVED else None


def repo_path(file: str, workspace: str | None) -> str:
    """The playbook's path relative to the checkout (GitHub places annotations by it)."""
    path = PurePosixPath(PureWindowsPath(file).as_posix()) if "\\" in file else PurePosixPath(file)
    if workspace and path.is_absolute():
        try:
            return path.relative_to(PurePosixPath(workspace)).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix().removeprefix("./")
