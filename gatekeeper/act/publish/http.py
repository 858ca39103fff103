"""The one HTTP client every publisher uses: a ``requests`` Session with a token, a
connect+read timeout on every request, and retries that follow what the server says.

- 2xx: the decoded JSON answer.
- 403/429 that is a rate limit (``Retry-After``, or ``X-RateLimit-Remaining: 0`` with
  ``X-RateLimit-Reset``): wait as told, within the budget; past it, fail at once with a
  message saying when to try again (never sleep an hour because a header said so).
- 5xx, connection errors and timeouts: exponential backoff, a bounded number of attempts.
- any other 4xx (401, 403, 404, 422, ...): never retried; it fails the same way every time.

The token is sent in a header only; every message this module makes has the token masked, and
no exception of ``requests`` (whose request object holds the headers) is chained onto an error.
"""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gatekeeper import __version__
from gatekeeper.act.publish.interface import HttpSettings
from gatekeeper.common.failures import exception_chain, first_line
from gatekeeper.common.redact import MASK, redact_secrets
from gatekeeper.errors import PublishError

if TYPE_CHECKING:
    import requests

#: A secondary rate limit that names no time: GitHub asks to wait at least a minute.
DEFAULT_RATE_LIMIT_WAIT_S = 60.0


@dataclass(frozen=True)
class Refusal:
    """How to explain a 4xx answer that will not change on retry: status → message."""

    messages: Mapping[int, str] = field(default_factory=dict)
    #: (text in the answer, message, hint): a more precise reading of one answer.
    special: tuple[tuple[str, str, str | None], ...] = ()


class ApiClient:
    """Requests to one API (``base_url``) as one service (``GitHub``, ``GitLab``)."""

    def __init__(self, service: str, base_url: str, headers: Mapping[str, str],
                 secret: str, settings: HttpSettings, refusal: Refusal | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import requests

        self.service = service
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.settings = settings
        self.refusal = refusal or Refusal()
        self.sleep = sleep
        self.session = requests.Session()
        # Proxies from the environment are honoured, but not .netrc: its credentials would
        # replace the token in the Authorization header.
        self.session.trust_env = False
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.headers.update({"User-Agent": f"gatekeeper/{__version__}", **headers})

    def request(self, method: str, path: str, body: Mapping[str, Any]) -> Any:
        """The decoded JSON answer to ``method path`` with ``body``, after retries; raises
        PublishError naming the service, the request and why."""
        waited = 0.0
        what = f"{method} {path}"
        for attempt in range(1, self.settings.attempts + 1):
            delay, outcome = self._attempt(method, path, body, attempt)
            if delay is None:
                return outcome  # the answer
            failure = outcome  # why this attempt failed
            if attempt == self.settings.attempts:
                raise PublishError(self.scrub(
                    f"{self.service} {what}: {failure} (gave up after {attempt} attempts)"))
            if waited + delay > self.settings.max_wait_s:
                raise PublishError(self.scrub(
                    f"{self.service} {what}: {failure}; it asks to wait {delay:.0f} s, more than "
                    f"the {self.settings.max_wait_s:g} s gatekeeper waits in all"),
                    hint="publish the stored result later: gatekeeper publish --from RESULT.json")
            self.sleep(delay)
            waited += delay
        raise AssertionError("unreachable: the loop returns or raises")

    def _attempt(self, method: str, path: str, body: Mapping[str, Any],
                 attempt: int) -> tuple[float | None, Any]:
        """(None, answer) on success, else (seconds to wait before retrying, why it failed);
        raises PublishError when retrying cannot help."""
        import requests

        timeout = self.settings.timeout_s
        try:
            response = self.session.request(method, self.base_url + path, json=body,
                                            timeout=(timeout, timeout))
        except requests.RequestException as exc:
            return self.backoff(attempt), self.unreachable(exc)
        if response.ok:
            return None, decode(response)
        status = response.status_code
        if status >= 500:
            return self.backoff(attempt), f"HTTP {status}{said(response)}"
        wait = rate_limit_wait(response)
        if wait is not None:
            return wait, f"rate limited (HTTP {status}){said(response)}"
        raise self.refused(f"{method} {path}", response)

    def backoff(self, attempt: int) -> float:
        return float(self.settings.backoff_s * 2 ** (attempt - 1))

    def unreachable(self, exc: BaseException) -> str:
        """Why a request got no answer, in a few words (never the request's headers)."""
        import requests

        chain = list(exception_chain(exc))
        if any(isinstance(e, requests.Timeout | TimeoutError | socket.timeout) for e in chain):
            return f"no answer within {self.settings.timeout_s:g} s"
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            return f"connection refused by {self.base_url}"
        if any(isinstance(e, socket.gaierror) for e in chain):
            return f"unknown host in {self.base_url}"
        return f"cannot reach {self.base_url}: {first_line(str(exc), 200)}"

    def refused(self, what: str, response: requests.Response) -> PublishError:
        """The error for a 4xx answer that retrying cannot change."""
        text = said(response)
        for needle, message, hint in self.refusal.special:
            if needle.lower() in text.lower():
                return PublishError(self.scrub(f"{self.service} {what}: {message}{text}"),
                                    hint=hint)
        reason = self.refusal.messages.get(response.status_code, "request refused")
        return PublishError(self.scrub(
            f"{self.service} {what}: HTTP {response.status_code}, {reason}{text}"))

    def scrub(self, text: str) -> str:
        masked = text.replace(self.secret, MASK) if self.secret else text
        return redact_secrets(masked)


def decode(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def said(response: requests.Response) -> str:
    """``: <the API's own message>`` (GitHub and GitLab both answer ``{"message": ...}``),
    with GitHub's validation ``errors`` when there are any; empty when it said nothing."""
    body = decode(response)
    if not isinstance(body, dict):
        return ""
    message = body.get("message") or body.get("error") or ""
    errors = body.get("errors")
    if errors:
        message = f"{message} {errors}"
    return f": {first_line(str(message), 300)}" if message else ""


def rate_limit_wait(response: requests.Response, now: float | None = None) -> float | None:
    """Seconds to wait when a 403/429 answer is a rate limit, else None.

    ``Retry-After`` (seconds or an HTTP date) wins; then ``X-RateLimit-Reset`` (UTC epoch
    seconds) when ``X-RateLimit-Remaining`` is 0; a 429, or a 403 that says "rate limit",
    without either waits a minute, as GitHub asks.
    """
    if response.status_code not in (403, 429):
        return None
    now = time.time() if now is None else now
    headers = response.headers
    retry_after = retry_after_s(headers.get("Retry-After"), now)
    if retry_after is not None:
        return retry_after
    if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset"):
        try:
            return max(float(headers["X-RateLimit-Reset"]) - now, 0.0)
        except ValueError:
            return DEFAULT_RATE_LIMIT_WAIT_S
    if response.status_code == 429 or "rate limit" in said(response).lower():
        return DEFAULT_RATE_LIMIT_WAIT_S
    return None


def retry_after_s(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - now, 0.0)


def iso_seconds(instant: str | None = None) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for an ISO 8601 instant (a result's times), or now."""
    moment = (datetime.fromisoformat(instant.replace("Z", "+00:00")) if instant
              else datetime.now(UTC))
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
