"""Evidence from Prometheus: PromQL instant queries over its HTTP API (``/api/v1/query``).

A pilot window is covered by range functions inside the PromQL (``rate(x[1h])``,
``increase(x[1h])``), evaluated once at the window's end, so every question is one instant
query. Only the configured URL is contacted: redirects are not followed, and proxies and
``.netrc`` credentials from the environment are not used. Each query has a timeout per read, a
bounded number of retries, and a deadline for the whole exchange (a server trickling bytes
resets every read timeout); what still fails raises :class:`EvidenceSourceError` with a
one-line message naming the URL, which :mod:`gatekeeper.evidence.external` hands to the checks
as an ``error``. Credentials in the URL (``user:pass@``, ``?token=``) are masked in every
message and every reference an answer carries (:func:`redact_secrets`).

``requests`` is imported when a query runs, not with this module: commands that never query
Prometheus (``validate``, ``schema``) do not pay for it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from gatekeeper.common.failures import (
    DeadlinePassed,
    call_with_deadline,
    exception_chain,
    first_line,
)
from gatekeeper.common.redact import redact_secrets
from gatekeeper.evidence.interface import EvidenceSourceError, ExternalQuery

if TYPE_CHECKING:
    import requests

SOURCE = "prometheus"
#: Used when a check names no ``prometheus_url``.
URL_ENV = "GATEKEEPER_PROMETHEUS_URL"
TIMEOUT_S = 5.0
#: Retries after the first attempt, for connection failures and 5xx answers only: a rejected
#: query (4xx) fails the same way every time.
RETRIES = 2
BACKOFF_S = 0.25
#: The most one query may take, retries included, from connecting to the body's last byte.
DEADLINE_S = 20.0
API_PATH = "/api/v1/query"


@dataclass(frozen=True)
class PromSample:
    """One element of an instant vector (a scalar result has no labels)."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class PromAnswer:
    """What Prometheus at ``url`` answered to ``query``, evaluated at ``time`` (Unix s).

    ``url`` has its credentials masked: answers end up in results and audit records.
    """

    url: str
    query: str
    time: float
    samples: tuple[PromSample, ...]

    def ref(self) -> str:
        """The API call that reproduces this answer, cited in results and audit records."""
        params = urlencode({"query": self.query, "time": f"{self.time:.3f}"})
        return redact_secrets(_with_params(f"{SOURCE}:{api_url(self.url)}", params))

    def evaluated_at(self) -> str:
        moment = datetime.fromtimestamp(self.time, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def external_query(key: str, promql: str, url: str | None = None,
                   at: datetime | None = None) -> ExternalQuery:
    """The request for one PromQL query: at ``at`` (the window's end; None: when the gate
    runs), against ``url`` (None: :data:`URL_ENV`)."""
    params = {"query": promql, "url": url,
              "time": None if at is None else time_param(at)}
    return ExternalQuery(SOURCE, key, tuple((k, v) for k, v in sorted(params.items())
                                            if v is not None))


def query_ref(query: ExternalQuery) -> str:
    """Where an unanswered query was to be asked, for the evidence of an ``error``."""
    url = query.param("url")
    where = api_url(url) if url else f"${URL_ENV}{API_PATH}"
    params = {k: v for k, v in query.params if k != "url"}
    return redact_secrets(_with_params(f"{SOURCE}:{where}", urlencode(params)))


def time_param(at: datetime) -> str:
    """Unix seconds to the millisecond, Prometheus' own resolution (no zone means UTC)."""
    moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    return f"{moment.timestamp():.3f}"


def answer(query: ExternalQuery, env: Mapping[str, str]) -> PromAnswer:
    """The evidence source: run ``query`` (see :func:`external_query`) against its URL."""
    url = query.param("url") or env.get(URL_ENV)
    if not url:
        raise EvidenceSourceError(f"no Prometheus URL: set 'prometheus_url' on the check or "
                                  f"{URL_ENV}")
    promql = query.param("query")
    if not promql:
        raise ValueError(f"external query {query.key} has no PromQL")
    return run_query(url, promql, query.param("time"))


def run_query(url: str, promql: str, at: str | None = None, *, timeout: float = TIMEOUT_S,
              retries: int = RETRIES, deadline: float = DEADLINE_S) -> PromAnswer:
    """One instant query; EvidenceSourceError when it cannot be answered with data within
    ``deadline`` seconds, all attempts together."""
    params = {"query": promql} if at is None else {"query": promql, "time": at}
    try:
        body = call_with_deadline(lambda: fetch(url, params, timeout, retries), deadline,
                                  "prometheus")
    except DeadlinePassed:
        raise EvidenceSourceError(f"Prometheus at {shown(url)} gave no complete answer within "
                                  f"{deadline:g} s") from None
    return parse_answer(url, promql, body)


def api_url(url: str) -> str:
    """The query endpoint under ``url`` (which may carry a path prefix, e.g. /prometheus, and
    a query string, e.g. a proxy's ``?token=``)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + API_PATH))


def shown(url: str) -> str:
    """``url`` as messages show it: credentials masked."""
    return redact_secrets(url)


def _with_params(where: str, params: str) -> str:
    return f"{where}&{params}" if "?" in where else f"{where}?{params}"


def fetch(url: str, params: Mapping[str, str], timeout: float, retries: int) -> Any:
    """The decoded JSON ``data`` of a successful answer, after at most ``retries`` retries."""
    import requests

    failure = EvidenceSourceError(f"no attempt made to query Prometheus at {shown(url)}")
    with requests.Session() as session:
        session.trust_env = False  # only the configured URL: no env proxies, no .netrc
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                response = session.get(api_url(url), params=params, timeout=timeout,
                                       allow_redirects=False)
            except requests.RequestException as exc:
                failure = EvidenceSourceError(redact_secrets(
                    f"cannot reach Prometheus at {url}: {why_unreachable(exc, timeout)}"))
                continue
            if response.status_code < 500:
                return decode(url, response)
            failure = EvidenceSourceError(api_error(url, response))
    raise failure


def decode(url: str, response: requests.Response) -> Any:
    """The ``data`` of an answer that did not fail on the server's side (status < 500)."""
    if response.is_redirect:
        raise EvidenceSourceError(redact_secrets(
            f"Prometheus at {url} answered HTTP {response.status_code} (redirect to "
            f"{response.headers.get('Location', '?')}), not followed: configure that URL"))
    if response.status_code != 200:
        raise EvidenceSourceError(api_error(url, response))
    try:
        body = response.json()
    except ValueError:
        raise EvidenceSourceError(f"Prometheus at {shown(url)} answered with no JSON: is it "
                                  "the Prometheus server's base URL?") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        raise EvidenceSourceError(api_error(url, response))
    return body.get("data")


def api_error(url: str, response: requests.Response) -> str:
    """One line for an answer that is not a success: Prometheus' own error when it gave one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return redact_secrets(
            f"Prometheus at {url} rejected the query: {body.get('errorType', 'error')}: "
            f"{first_line(str(body['error']))}")
    return (f"Prometheus at {shown(url)} answered HTTP {response.status_code}: is it the base "
            "URL?")


def parse_answer(url: str, promql: str, data: Any) -> PromAnswer:
    """An instant vector or scalar as samples; nothing (or another result type) is an error,
    never an empty answer a check might read as zero. So is any malformed part of it."""
    kind = data.get("resultType") if isinstance(data, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if kind not in ("scalar", "vector") or not isinstance(result, list):
        shape = kind if isinstance(kind, str) and kind else "malformed"
        raise EvidenceSourceError(f"Prometheus at {shown(url)} answered a {shape} result to "
                                  f"`{promql}`: expected an instant vector or a scalar")
    if kind == "vector" and not result:
        raise EvidenceSourceError(f"Prometheus at {shown(url)} returned no data for `{promql}`")
    try:
        at, samples = _scalar(result) if kind == "scalar" else _vector(result)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise EvidenceSourceError(f"Prometheus at {shown(url)} answered a malformed {kind} to "
                                  f"`{promql}`: {first_line(str(exc), 120)}") from None
    return PromAnswer(shown(url), promql, at, samples)


def _scalar(result: list[Any]) -> tuple[float, tuple[PromSample, ...]]:
    at, value = _point(result)
    return at, (PromSample({}, value),)


def _vector(result: list[Any]) -> tuple[float, tuple[PromSample, ...]]:
    points = [(_labels(item["metric"]), _point(item["value"])) for item in result]
    return points[0][1][0], tuple(PromSample(labels, value) for labels, (_, value) in points)


def _point(pair: Any) -> tuple[float, float]:
    """``[<unix time>, "<value>"]``; the value is a string in Prometheus' API, never a bool."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise ValueError(f"expected [time, value], got {pair!r}"[:120])
    at, value = pair
    if isinstance(at, bool) or not isinstance(at, int | float) or not isinstance(value, str):
        raise ValueError(f"expected [time, \"value\"], got {pair!r}"[:120])
    return float(at), float(value)


def _labels(metric: Any) -> dict[str, str]:
    if not isinstance(metric, dict) or not all(isinstance(v, str) for v in metric.values()):
        raise ValueError(f"expected a label set, got {metric!r}"[:120])
    return {str(k): v for k, v in metric.items()}


def why_unreachable(exc: BaseException, timeout: float) -> str:
    """The reason a request never got an answer, in a few words."""
    import requests

    chain = list(exception_chain(exc))
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "unknown host"
    if any(isinstance(e, TimeoutError | requests.Timeout) for e in chain):
        return f"no answer within {timeout:g} s"
    return first_line(str(exc))


# The PromQL the check kinds ask. ``selectors`` are label matchers such as ``arm="full"``;
# empty ones are dropped, so a check without a selector reads every series of the metric.

def series(metric: str, *selectors: str) -> str:
    """``metric{a="1", b="2"}``, or the bare name when there is nothing to match."""
    matchers = ", ".join(s.strip() for s in selectors if s.strip())
    return f"{metric}{{{matchers}}}" if matchers else metric


def total_in_window(metric: str, selectors: tuple[str, ...], window: str) -> str:
    """How much a counter grew over the window, summed over the matching series."""
    return f"sum(increase({series(metric, *selectors)}[{window}]))"


def quantile_in_window(q: float, histogram: str, selectors: tuple[str, ...],
                       window: str) -> str:
    """The ``q``-quantile of a classic histogram over the window, as dashboards compute it."""
    rate = f"rate({series(histogram + '_bucket', *selectors)}[{window}])"
    return f"histogram_quantile({q:g}, sum by (le) ({rate}))"


def buckets_in_window(histogram: str, selectors: tuple[str, ...], window: str) -> str:
    """The histogram's bucket counts over the window, one sample per ``le``."""
    return f"sum by (le) (increase({series(histogram + '_bucket', *selectors)}[{window}]))"


def bucket_counts(found: PromAnswer) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) per bucket of a :func:`buckets_in_window` answer."""
    if any("le" not in s.labels for s in found.samples):
        raise ValueError(f"`{found.query}` returned series without an 'le' label")
    return [(float(s.labels["le"]), s.value) for s in found.samples]
