"""A local stand-in for GitHub's commit status and check run endpoints and GitLab's commit
status endpoint, strict enough that a client bug fails a test.

:func:`api_emulator` serves on 127.0.0.1 (a random port, threads of the test's own process):

- ``POST {github}/repos/{owner}/{repo}/statuses/{sha}``,
  ``POST {github}/repos/{owner}/{repo}/check-runs``,
  ``PATCH {github}/repos/{owner}/{repo}/check-runs/{id}``: every body is validated against the
  published request schemas in ``tests/assets/reference/github-status-and-checks.json``
  (OpenAPI 3.0: ``nullable`` translated to a JSON Schema null type), with the limits GitHub
  enforces beyond them (a status description of at most 140 characters, an annotation title of
  at most 255) and, stricter than GitHub, no unknown fields (a typo must not pass unnoticed).
  The Authorization header must carry the token; ``Accept: application/vnd.github+json``,
  ``X-GitHub-Api-Version: 2022-11-28`` and a User-Agent are required.
- ``GET {github}/repos/{owner}/{repo}/pulls/{pull_number}/reviews``: the reviews added with
  ``add_review``, oldest first, paginated as documented (``per_page`` 1-100, default 30;
  ``page`` from 1; any other query parameter refused) with a ``Link`` header naming the next
  and last pages; a GET must carry no body. A pull request with no review added is a 404.
- ``POST {gitlab}/projects/:id/statuses/:sha``: GitLab's documented parameters, the token in a
  ``PRIVATE-TOKEN`` or ``JOB-TOKEN`` header.

A bad request is answered 422 (GitHub) or 400 (GitLab), as the real services do, and noted in
``invalid``. Every request is recorded in ``requests``. ``fail_next(...)`` scripts the next
answers (:func:`unauthorized`, :func:`rate_limited`, :func:`not_accessible`,
:func:`unprocessable`, :func:`server_error`, :func:`hang`) and ``fail_always(...)`` every one.

    with api_emulator(token="ghp_fake") as api:
        api.fail_next(server_error())      # the first request gets a 500, the next succeed
        ... GITHUB_API_URL=api.github_url, GITLAB: CI_API_V4_URL=api.gitlab_url ...
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

REFERENCE = Path(__file__).parents[1] / "assets" / "reference" / "github-status-and-checks.json"
API_VERSION = "2022-11-28"
DESCRIPTION_LIMIT = 140
ANNOTATION_TITLE_LIMIT = 255

#: GitLab's documented parameters of POST /projects/:id/statuses/:sha (API v4).
GITLAB_STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["state"],
    "additionalProperties": False,
    "properties": {
        "state": {"enum": ["pending", "running", "success", "failed", "canceled", "skipped"]},
        "ref": {"type": "string"},
        "name": {"type": "string"},
        "context": {"type": "string"},
        "target_url": {"type": "string"},
        "description": {"type": "string"},
        "coverage": {"type": "number"},
        "pipeline_id": {"type": "integer"},
    },
}


@dataclass(frozen=True)
class Fault:
    """An answer the emulator gives instead of the real one (``hang``: no answer at all)."""

    status: int = 500
    body: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    reset_in_s: float | None = None
    hang: bool = False


def unauthorized() -> Fault:
    return Fault(401, {"message": "Bad credentials",
                       "documentation_url": "https://docs.github.com/rest"})


def rate_limited(retry_after_s: float | None = None, reset_in_s: float | None = None,
                 status: int = 403) -> Fault:
    """A secondary rate limit with ``Retry-After``, or a primary one with
    ``X-RateLimit-Remaining: 0`` and ``X-RateLimit-Reset`` ``reset_in_s`` from when it is
    answered."""
    if retry_after_s is not None:
        return Fault(status, {"message": "You have exceeded a secondary rate limit."},
                     {"Retry-After": f"{retry_after_s:g}"})
    return Fault(status, {"message": "API rate limit exceeded for installation ID 1."},
                 {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0"},
                 reset_in_s=reset_in_s if reset_in_s is not None else 1.0)


def not_accessible() -> Fault:
    """What a fork's pull request gets: a read-only GITHUB_TOKEN."""
    return Fault(403, {"message": "Resource not accessible by integration",
                       "documentation_url": "https://docs.github.com/rest"})


def unprocessable() -> Fault:
    return Fault(422, {"message": "Validation Failed",
                       "errors": [{"resource": "Status", "code": "custom",
                                   "message": "This SHA and context has reached the maximum "
                                              "number of statuses."}]})


def server_error() -> Fault:
    return Fault(500, {"message": "Server Error"})


def hang() -> Fault:
    """Read the request, never answer (until the emulator stops)."""
    return Fault(hang=True)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    status: int  # what was answered; 0 for a hang


def openapi_to_json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 Schema Object as JSON Schema: ``nullable: true`` becomes a null type,
    ``discriminator`` (documentation for code generators) is dropped, and objects that list
    their properties reject unknown ones (unless they say otherwise)."""
    if isinstance(node, list):
        return [openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_json_schema(v) if k != "properties" else
           {name: openapi_to_json_schema(s) for name, s in v.items()}
           for k, v in node.items() if k not in ("nullable", "discriminator", "description")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out and out.get("type") == "object":
        out.setdefault("additionalProperties", False)
    return out


def github_validators() -> dict[str, jsonschema.Draft4Validator]:
    operations = json.loads(REFERENCE.read_text(encoding="utf-8"))["operations"]
    return {name: jsonschema.Draft4Validator(openapi_to_json_schema(op["requestBody"]),
                                             format_checker=jsonschema.FormatChecker())
            for name, op in operations.items()}


_STATUS = re.compile(r"^/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{40})$")
_CHECK_RUNS = re.compile(r"^/repos/([^/]+)/([^/]+)/check-runs$")
_CHECK_RUN = re.compile(r"^/repos/([^/]+)/([^/]+)/check-runs/(\d+)$")
_REVIEWS = re.compile(r"^/repos/([^/]+)/([^/]+)/pulls/(\d+)/reviews$")
REVIEW_STATES = frozenset({"APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED",
                           "PENDING"})
_GITLAB_STATUS = re.compile(r"^/projects/([^/]+)/statuses/([0-9a-f]{40})$")


class ApiEmulator(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token: str, github_prefix: str = "", gitlab_prefix: str = "/api/v4"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.github_prefix = github_prefix
        self.gitlab_prefix = gitlab_prefix
        self.validators = github_validators()
        self.gitlab_validator = jsonschema.Draft4Validator(GITLAB_STATUS_SCHEMA)
        self.stopping = threading.Event()
        self.requests: list[Recorded] = []
        self.invalid: list[str] = []  # every rule a request broke
        self.statuses: list[dict[str, Any]] = []  # accepted GitHub statuses, with their sha
        self.check_runs: dict[int, dict[str, Any]] = {}  # id → the run as it stands
        self.gitlab_statuses: list[dict[str, Any]] = []
        #: (owner/repo, pull number) → its reviews, oldest first (``add_review``).
        self.reviews: dict[tuple[str, int], list[dict[str, Any]]] = {}
        #: Called with each request as it arrives, before it is answered (tests look at what
        #: the client had already written then).
        self.observe: Callable[[Recorded], None] | None = None
        self._faults: deque[Fault] = deque()
        self._always: Fault | None = None
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def github_url(self) -> str:
        return self.origin + self.github_prefix

    @property
    def gitlab_url(self) -> str:
        return self.origin + self.gitlab_prefix

    def fail_next(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def fail_always(self, fault: Fault | None) -> None:
        with self._lock:
            self._always = fault

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else self._always

    def record(self, entry: Recorded) -> None:
        if self.observe is not None:
            self.observe(entry)
        with self._lock:
            self.requests.append(entry)

    def note_invalid(self, problem: str) -> None:
        with self._lock:
            self.invalid.append(problem)

    def add_review(self, repository: str, pull: int, login: str, state: str,
                   commit_id: str) -> dict[str, Any]:
        """A review as GitHub lists it (the fields gatekeeper reads and a few more)."""
        assert state in REVIEW_STATES, state
        with self._lock:
            found = self.reviews.setdefault((repository, pull), [])
            review_id = 80 + sum(len(r) for r in self.reviews.values())
            review = {"id": review_id, "node_id": f"PRR_{review_id}",
                      "user": {"login": login, "id": 1000 + len(login), "type": "User"},
                      "body": "", "state": state, "commit_id": commit_id,
                      "author_association": "MEMBER",
                      "html_url": f"https://github.com/{repository}/pull/{pull}"
                                  f"#pullrequestreview-{review_id}",
                      "pull_request_url": f"https://api.github.com/repos/{repository}/pulls/"
                                          f"{pull}",
                      "submitted_at": f"2026-12-01T10:{len(found):02d}:00Z"}
            found.append(review)
        return review

    def annotations(self, run_id: int) -> list[dict[str, Any]]:
        return list(self.check_runs[run_id]["annotations"])


class _Handler(BaseHTTPRequestHandler):
    server: ApiEmulator
    dry = False

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``requests`` instead."""

    def do_POST(self) -> None:
        self.handle_request()

    def do_PATCH(self) -> None:
        self.handle_request()

    def do_GET(self) -> None:
        self.handle_request()

    def handle_request(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        fault = self.server.next_fault()
        self.dry = fault is not None  # validate the request, change nothing
        status, answer, extra = self.route(body)
        if fault is not None:
            status, answer, extra = self.faulted(fault)
        self.server.record(Recorded(self.command, self.path, headers, body, status))
        if fault is not None and fault.hang:
            self.server.stopping.wait()
            self.close_connection = True
            return
        self.send(status, answer, extra)

    def faulted(self, fault: Fault) -> tuple[int, Any, dict[str, str]]:
        headers = dict(fault.headers)
        if fault.reset_in_s is not None:
            headers["X-RateLimit-Reset"] = str(math.ceil(time.time() + fault.reset_in_s))
        return (0 if fault.hang else fault.status), dict(fault.body), headers

    def send(self, status: int, answer: Any, headers: Mapping[str, str]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # Routing ---------------------------------------------------------------------------

    def route(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        path = self.path.split("?", 1)[0]
        prefixes = [(self.server.gitlab_prefix, self.gitlab), (self.server.github_prefix,
                                                                 self.github)]
        for prefix, handler in sorted(prefixes, key=lambda p: -len(p[0])):
            if path.startswith(prefix + "/"):
                return handler(path[len(prefix):], body)
        return 404, {"message": "Not Found"}, {}

    def github(self, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        refused = self.github_headers()
        if refused:
            return refused
        if self.command == "POST" and (m := _STATUS.match(path)):
            return self.create_status(m[3], body)
        if self.command == "POST" and _CHECK_RUNS.match(path):
            return self.create_check_run(body)
        if self.command == "PATCH" and (m := _CHECK_RUN.match(path)):
            return self.update_check_run(int(m[3]), body)
        if self.command == "GET" and (m := _REVIEWS.match(path)):
            return self.list_reviews(f"{m[1]}/{m[2]}", int(m[3]), body)
        return self.invalid(404, f"{self.command} {path}: no such GitHub endpoint")

    def github_headers(self) -> tuple[int, Any, dict[str, str]] | None:
        token = self.server.token
        if self.headers.get("Authorization") not in (f"Bearer {token}", f"token {token}"):
            return 401, {"message": "Bad credentials"}, {}
        if "application/vnd.github+json" not in (self.headers.get("Accept") or ""):
            return self.invalid(400, "Accept: application/vnd.github+json is missing")
        if self.headers.get("X-GitHub-Api-Version") != API_VERSION:
            return self.invalid(400, f"X-GitHub-Api-Version must be {API_VERSION}, got "
                                     f"{self.headers.get('X-GitHub-Api-Version')!r}")
        if not self.headers.get("User-Agent"):
            return self.invalid(403, "a User-Agent header is required")
        if self.command == "GET":
            return None  # no body, so no Content-Type (list_reviews refuses a body)
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return self.invalid(415, "the body must be application/json")
        return None

    def invalid(self, status: int, problem: str) -> tuple[int, Any, dict[str, str]]:
        self.server.note_invalid(f"{self.command} {self.path}: {problem}")
        return status, {"message": problem}, {}

    def validate(self, operation: str, body: Any) -> str | None:
        errors = sorted(self.server.validators[operation].iter_errors(body), key=str)
        if errors:
            return "; ".join(f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}"
                             for e in errors)[:2000]
        return None

    def unprocessable(self, problem: str) -> tuple[int, Any, dict[str, str]]:
        self.server.note_invalid(f"{self.command} {self.path}: {problem}")
        return 422, {"message": "Validation Failed", "errors": [problem]}, {}

    def create_status(self, sha: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        problem = self.validate("repos/create-commit-status", body)
        if problem is None and len(body.get("description") or "") > DESCRIPTION_LIMIT:
            problem = "description is too long (maximum is 140 characters)"
        if problem:
            return self.unprocessable(problem)
        if self.dry:
            return 0, None, {}
        with self.server._lock:
            status = {**body, "sha": sha, "id": len(self.server.statuses) + 1}
            self.server.statuses.append(status)
        return 201, status, {}

    def create_check_run(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        problem = self.validate("checks/create", body) or annotation_problem(body)
        if problem:
            return self.unprocessable(problem)
        if self.dry:
            return 0, None, {}
        with self.server._lock:
            run_id = len(self.server.check_runs) + 1
            run = {**copy.deepcopy(body), "id": run_id, "annotations": [], "updates": 0}
            run["annotations"] += (body.get("output") or {}).get("annotations") or []
            self.server.check_runs[run_id] = run
        return 201, {k: v for k, v in run.items() if k != "annotations"}, {}

    def update_check_run(self, run_id: int, body: Any) -> tuple[int, Any, dict[str, str]]:
        if run_id not in self.server.check_runs:
            return self.invalid(404, f"no check run {run_id}")
        problem = self.validate("checks/update", body) or annotation_problem(body)
        if problem:
            return self.unprocessable(problem)
        if self.dry:
            return 0, None, {}
        with self.server._lock:
            run = self.server.check_runs[run_id]
            output = body.get("output") or {}
            run["annotations"] += output.get("annotations") or []  # GitHub appends them
            run.update({k: v for k, v in body.items() if k != "output"})
            run["output"] = {k: v for k, v in output.items() if k != "annotations"}
            run["updates"] += 1
        return 200, {k: v for k, v in run.items() if k != "annotations"}, {}

    def list_reviews(self, repository: str, pull: int,
                     body: Any) -> tuple[int, Any, dict[str, str]]:
        if body is not None:
            return self.invalid(400, "a GET carries no body")
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        unknown = sorted(set(query) - {"per_page", "page"})
        if unknown:
            return self.invalid(422, f"unknown query parameters: {', '.join(unknown)}")
        try:
            per_page = int(query.get("per_page", ["30"])[-1])
            page = int(query.get("page", ["1"])[-1])
        except ValueError:
            return self.invalid(422, "per_page and page must be integers")
        if not 1 <= per_page <= 100 or page < 1:
            return self.invalid(422, f"per_page must be 1-100 and page at least 1, got "
                                     f"per_page={per_page} page={page}")
        with self.server._lock:
            reviews = copy.deepcopy(self.server.reviews.get((repository, pull)))
        if reviews is None:
            return 404, {"message": "Not Found"}, {}
        last = max(math.ceil(len(reviews) / per_page), 1)
        base = f"{self.server.github_url}{urlsplit(self.path).path}"
        links = [f'<{base}?per_page={per_page}&page={n}>; rel="{rel}"'
                 for n, rel in ((page + 1, "next"), (last, "last")) if page < last]
        return 200, reviews[(page - 1) * per_page: page * per_page], (
            {"Link": ", ".join(links)} if links else {})

    def gitlab(self, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        token = self.server.token
        if token not in (self.headers.get("PRIVATE-TOKEN"), self.headers.get("JOB-TOKEN")):
            return 401, {"message": "401 Unauthorized"}, {}
        m = _GITLAB_STATUS.match(path)
        if self.command != "POST" or not m:
            return self.invalid(404, f"{self.command} {path}: no such GitLab endpoint")
        errors = sorted(self.server.gitlab_validator.iter_errors(body), key=str)
        if errors:
            problem = "; ".join(e.message for e in errors)
            self.server.note_invalid(f"{self.command} {self.path}: {problem}")
            return 400, {"error": problem}, {}
        if self.dry:
            return 0, None, {}
        with self.server._lock:
            status = {**body, "project": m[1], "sha": m[2],
                      "id": len(self.server.gitlab_statuses) + 1}
            self.server.gitlab_statuses.append(status)
        return 201, {**status, "status": body["state"]}, {}


def annotation_problem(body: Any) -> str | None:
    """GitHub's documented limit the schema leaves out: an annotation title of 255 chars."""
    for note in ((body or {}).get("output") or {}).get("annotations") or []:
        if len(note.get("title") or "") > ANNOTATION_TITLE_LIMIT:
            return "annotation title is longer than 255 characters"
    return None


@contextlib.contextmanager
def api_emulator(token: str, github_prefix: str = "",
                 gitlab_prefix: str = "/api/v4") -> Iterator[ApiEmulator]:
    server = ApiEmulator(token, github_prefix, gitlab_prefix)
    thread = threading.Thread(target=server.serve_forever, name="api-emulator", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()  # releases hanging handlers
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
