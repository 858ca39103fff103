"""A local stand-in for the OSV API (https://google.github.io/osv.dev/api/), strict enough
that a client bug fails a test, holding one known vulnerability.

:func:`osv_server` serves on 127.0.0.1 (a random port, a thread of the test's own process):

- ``POST /v1/query``: the body must be a JSON object ``{"package": {"name", "ecosystem"},
  "version"}`` (or ``{"commit"}``, with optional ``page_token``) and nothing else; the answer
  is ``{"vulns": [...]}`` with every record affecting that version, or ``{}`` when none does,
  as the real service answers. pip-audit (``--vulnerability-service osv``) asks this once per
  dependency.
- ``GET /v1/vulns/{id}``: one record, or 404.

A bad request is answered 400 with OSV's error shape (``{"code": 3, "message": ...}``) and
noted in ``invalid``; every valid query is recorded in ``queries``. ``fail_with(status)``
makes every later request answer that HTTP status (a broken mirror).

The one record is modelled on the real PYSEC-2018-28 (CVE-2018-18074): ``requests`` before
2.20.0 sends an Authorization header across an https-to-http redirect. So ``requests==2.19.0``
is vulnerable and ``requests==2.20.0`` is not.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

KNOWN_ID = "PYSEC-2018-28"
KNOWN_ALIASES = ("CVE-2018-18074", "GHSA-x84v-xcm2-53pg")
VULNERABLE = ("requests", "2.19.0")
FIXED_IN = "2.20.0"

RECORD: dict[str, Any] = {
    "schema_version": "1.6.0",
    "id": KNOWN_ID,
    "modified": "2024-11-21T14:22:51Z",
    "published": "2018-10-09T00:29:00Z",
    "aliases": list(KNOWN_ALIASES),
    "details": "The Requests package before 2.20.0 for Python sends an HTTP Authorization "
               "header to an http URI upon receiving a same-hostname https-to-http redirect, "
               "which makes it easier for remote attackers to discover credentials by "
               "sniffing the network.",
    "affected": [{
        "package": {"name": "requests", "ecosystem": "PyPI", "purl": "pkg:pypi/requests"},
        "ranges": [{"type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": FIXED_IN}]}],
    }],
    "references": [{"type": "ADVISORY",
                    "url": "https://nvd.nist.gov/vuln/detail/CVE-2018-18074"}],
}

#: Ecosystems the real API knows that a Python client could ask for.
ECOSYSTEMS = frozenset({"PyPI"})
_VULN_PATH = re.compile(r"^/v1/vulns/(?P<id>[A-Za-z0-9.:_-]+)$")


@dataclass
class OsvServer:
    """What the server saw; ``url`` is the query endpoint (pip-audit's ``--osv-url``)."""

    base: str
    records: tuple[dict[str, Any], ...] = (RECORD,)
    queries: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    status: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.base}/v1/query"

    def fail_with(self, status: int) -> None:
        self.status = status

    def asked(self) -> list[tuple[str, str]]:
        """The (package, version) pairs queried, in order."""
        return [(q["package"]["name"], q["version"]) for q in self.queries if "package" in q]

    def affecting(self, name: str, version: str) -> list[dict[str, Any]]:
        """Every record whose ECOSYSTEM range holds ``name`` at ``version``."""
        try:
            wanted = Version(version)
        except InvalidVersion:
            return []
        return [r for r in self.records if any(
            canonicalize_name(a["package"]["name"]) == canonicalize_name(name)
            and a["package"]["ecosystem"] == "PyPI" and _in_ranges(wanted, a.get("ranges", []))
            for a in r["affected"])]


def _in_ranges(version: Version, ranges: list[dict[str, Any]]) -> bool:
    for rng in ranges:
        if rng["type"] != "ECOSYSTEM":
            continue
        introduced = fixed = None
        for event in rng["events"]:
            introduced = event.get("introduced", introduced)
            fixed = event.get("fixed", fixed)
        low = Version("0") if introduced in (None, "0") else Version(introduced)
        if low <= version and (fixed is None or version < Version(fixed)):
            return True
    return False


def query_problem(body: object) -> str | None:
    """Why ``body`` is not a query the OSV API accepts, or None."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    unknown = set(body) - {"package", "version", "commit", "page_token"}
    if unknown:
        return f"unknown fields {sorted(unknown)}"
    if "commit" in body:
        return "version and commit are exclusive" if "version" in body else None
    package = body.get("package")
    if not isinstance(package, dict) or set(package) - {"name", "ecosystem", "purl"}:
        return "package must be an object of name, ecosystem (and purl)"
    if not isinstance(package.get("name"), str) or not package["name"]:
        return "package.name is required"
    if package.get("ecosystem") not in ECOSYSTEMS:
        return f"unknown ecosystem {package.get('ecosystem')!r}"
    if not isinstance(body.get("version"), str) or not body["version"]:
        return "version is required (a query by package alone lists every version)"
    return None


def _handler(server: OsvServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if server.status is not None:
                return self._answer(server.status, {"code": 13, "message": "internal error"})
            if self.path != "/v1/query":
                return self._answer(404, {"code": 5, "message": "Not Found"})
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if problem := query_problem(body):
                with server.lock:
                    server.invalid.append(problem)
                return self._answer(400, {"code": 3, "message": problem})
            with server.lock:
                server.queries.append(body)
            found = server.affecting(body["package"]["name"], body["version"]) \
                if "package" in body else []
            self._answer(200, {"vulns": found} if found else {})

        def do_GET(self) -> None:
            if server.status is not None:
                return self._answer(server.status, {"code": 13, "message": "internal error"})
            match = _VULN_PATH.match(self.path)
            record = next((r for r in server.records if match and r["id"] == match["id"]), None)
            if record is None:
                return self._answer(404, {"code": 5, "message": "Bug not found."})
            self._answer(200, record)

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextlib.contextmanager
def osv_server() -> Iterator[OsvServer]:
    """An OSV API on 127.0.0.1 holding :data:`RECORD`, stopped on exit."""
    state = OsvServer(base="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
