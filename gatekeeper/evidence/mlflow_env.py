"""The one door to MLflow: process settings, the shared client, and error translation.

MLflow is imported only through :func:`import_mlflow`, inside functions, so commands that do not
talk to a registry (``--help``, ``validate``, ``schema``) never pay for it or trigger its
import-time telemetry call. :func:`configure_environment` must run before the first
``import mlflow`` in a process; :func:`subprocess_env` carries the same settings into processes
gatekeeper starts.

MLflow's HTTP timeout bounds each socket read, not a call, and MLflow has no total deadline for
tracking calls; :func:`call_registry` gives all of one command's calls one
(:class:`RegistryDeadline`). Every message naming the tracking URI masks its credentials
(:func:`gatekeeper.common.redact.redact_secrets`).
"""

from __future__ import annotations

import functools
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from gatekeeper.common.failures import (
    DeadlinePassed,
    call_with_deadline,
    exception_chain,
    first_line,
)
from gatekeeper.common.redact import redact_secrets
from gatekeeper.errors import GatekeeperError, InfrastructureError, InvalidInputError
from gatekeeper.evidence.interface import EvidenceSourceError

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: Set unless the user already chose a value. MLflow's own defaults (7 retries with 2 s
#: exponential backoff, 120 s per request) can keep a gate waiting for minutes on a dead server;
#: these bound a failing call to a few seconds (refused) or ~30 s (silent host).
ENV_DEFAULTS: Mapping[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    # Integer in MLflow; urllib3 sleeps factor * 2**(n-1) s from the second retry on.
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    # Copying a version's files for the scanners would draw MLflow's download progress bars
    # on stderr, between gatekeeper's own lines.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}

#: The most one command waits on the registry, all its calls together: MLflow's timeout bounds
#: each socket read, so a server trickling bytes would otherwise hold a gate for many minutes.
DEADLINE_S = 30.0
#: Overrides :data:`DEADLINE_S` (seconds), e.g. for a registry known to be slow.
DEADLINE_ENV = "GATEKEEPER_MLFLOW_DEADLINE_S"
#: Schemes MLflow's own tracking stores accept (``+driver`` suffixes allowed for databases);
#: a URI without a scheme is a local folder.
KNOWN_SCHEMES = frozenset({"http", "https", "sqlite", "file", "postgresql", "mysql", "mssql",
                           "databricks", "databricks-uc", "uc"})

T = TypeVar("T")

DEFAULT_DB = Path(".gatekeeper") / "mlflow.db"
_SQLITE_PREFIX = "sqlite:///"
_NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"


def configure_environment(environ: MutableMapping[str, str] = os.environ) -> None:
    """Apply :data:`ENV_DEFAULTS` to ``environ`` without overriding what the user set."""
    for key, value in ENV_DEFAULTS.items():
        environ.setdefault(key, value)


def subprocess_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process (an MLflow server, a model server): telemetry off."""
    env = dict(os.environ if base is None else base)
    configure_environment(env)
    return env


def import_mlflow() -> ModuleType:
    """Import MLflow with gatekeeper's settings applied first; use instead of ``import mlflow``."""
    configure_environment()
    import mlflow

    return mlflow


def default_tracking_uri(cwd: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the embedded SQLite registry under ``.gatekeeper/``."""
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    db = (cwd or Path.cwd()).resolve() / DEFAULT_DB
    db.parent.mkdir(parents=True, exist_ok=True)
    return f"{_SQLITE_PREFIX}{db.as_posix()}"


@functools.cache
def mlflow_client(tracking_uri: str) -> MlflowClient:
    """The process's one client for ``tracking_uri`` (tracking and registry alike).

    Call inside :func:`registry_errors`. For SQLite, the first client pays for importing the
    SQL stores and checking the schema (~0.5 s); every later caller reuses it.
    """
    import_mlflow()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def check_tracking_uri(tracking_uri: str) -> None:
    """Refuse a tracking URI MLflow could not use, before any call (InvalidInputError, exit 2).

    MLflow's own errors for these (unknown scheme, a SQLite URI with a relative host part) read
    as a registry failure, which would send the user looking at a server instead of the flag.
    """
    problem = _tracking_uri_problem(tracking_uri)
    if problem:
        raise InvalidInputError(
            f"not a valid tracking URI: {redact_secrets(tracking_uri)!r}: {problem}",
            hint="check --tracking-uri (or MLFLOW_TRACKING_URI), e.g. http://host:5000 or "
                 "sqlite:////absolute/path/mlflow.db")


def _tracking_uri_problem(tracking_uri: str) -> str | None:
    if not tracking_uri.strip() or tracking_uri != tracking_uri.strip():
        return "it is empty or has surrounding spaces"
    try:
        parts = urlsplit(tracking_uri)
        parts.port  # noqa: B018  # parsing the port is what raises for a malformed one
    except ValueError as exc:
        return str(exc)
    scheme = parts.scheme.lower().split("+", 1)[0]
    if not parts.scheme:
        return None  # a local folder (MLflow's file store)
    if scheme not in KNOWN_SCHEMES:
        return f"unknown scheme {parts.scheme!r} (known: {', '.join(sorted(KNOWN_SCHEMES))})"
    if scheme in {"http", "https"} and not parts.hostname:
        return f"{scheme} URIs need a host, e.g. {scheme}://host:5000"
    if scheme == "sqlite" and not tracking_uri.startswith(_SQLITE_PREFIX):
        return "SQLite URIs are sqlite:/// followed by the database path"
    return None


def require_sqlite_file(tracking_uri: str) -> None:
    """Refuse a SQLite URI whose file does not exist.

    MLflow would silently create an empty registry there (and its folders), so a typo in
    ``--tracking-uri`` would read as "no registered models" and leave a stray database behind.
    """
    path = sqlite_path(tracking_uri)
    if path is not None and not path.is_file():
        raise InvalidInputError(
            redact_secrets(f"no MLflow registry at {tracking_uri}: {path} does not exist"),
            hint="check --tracking-uri (or MLFLOW_TRACKING_URI); `gatekeeper demo` seeds one",
        )


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, or None for other URIs and in-memory SQLite."""
    if not tracking_uri.startswith(_SQLITE_PREFIX):
        return None
    path = tracking_uri[len(_SQLITE_PREFIX):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def is_not_found(exc: BaseException) -> bool:
    """Whether MLflow raised ``exc`` because the thing asked for does not exist."""
    return getattr(exc, "error_code", None) == _NOT_FOUND


@contextmanager
def registry_errors(
    tracking_uri: str, error: type[InfrastructureError] = EvidenceSourceError, context: str = ""
) -> Iterator[None]:
    """Turn any failure to talk to the registry into ``error`` naming ``tracking_uri``.

    gatekeeper's own errors pass through; a failure reaches the user as one line and an exit
    code, never as a traceback. ``context`` prefixes the message (e.g. what was being written).
    """
    try:
        yield
    except GatekeeperError:
        raise
    except Exception as exc:
        if not _is_registry_failure(exc):
            raise
        message = describe_failure(tracking_uri, exc)
        raise error(redact_secrets(f"{context}: {message}" if context else message),
                    hint=_failure_hint(tracking_uri)) from exc


class RegistryDeadline:
    """The time one command may still spend on registry calls; starts with the first call.

    ``seconds`` defaults to :data:`DEADLINE_ENV` if set, else :data:`DEADLINE_S`.
    """

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = deadline_seconds() if seconds is None else seconds
        self._ends: float | None = None

    def remaining(self) -> float:
        if self._ends is None:
            self._ends = time.monotonic() + self.seconds
        return max(0.0, self._ends - time.monotonic())


def deadline_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """:data:`DEADLINE_S`, or the positive number of seconds :data:`DEADLINE_ENV` gives."""
    raw = environ.get(DEADLINE_ENV)
    if raw is None:
        return DEADLINE_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise InvalidInputError(f"{DEADLINE_ENV} must be a positive number of seconds, "
                                f"got {raw!r}")
    return seconds


def call_registry(tracking_uri: str, deadline: RegistryDeadline, call: Callable[[], T],
                  error: type[InfrastructureError] = EvidenceSourceError,
                  context: str = "") -> T:
    """``call()`` (registry calls inside :func:`registry_errors`) within ``deadline``;
    ``error`` naming ``tracking_uri`` once it has passed."""
    try:
        return call_with_deadline(call, deadline.remaining(), "mlflow")
    except DeadlinePassed:
        message = (f"MLflow registry at {tracking_uri} gave no complete answer within "
                   f"{deadline.seconds:g} s ({DEADLINE_ENV})")
        raise error(redact_secrets(f"{context}: {message}" if context else message),
                    hint=_failure_hint(tracking_uri)) from None


def _failure_hint(tracking_uri: str) -> str:
    if tracking_uri.startswith("sqlite:"):
        return "check --tracking-uri (or MLFLOW_TRACKING_URI): it must name an MLflow database"
    return "check --tracking-uri (or MLFLOW_TRACKING_URI) and that the server is up"


def _is_registry_failure(exc: Exception) -> bool:
    if isinstance(exc, OSError | ImportError | sqlite3.Error):
        return True
    # Only classes of modules already loaded can have been raised: checking through
    # sys.modules keeps this from importing requests or SQLAlchemy just to compare.
    for module, name in (("mlflow.exceptions", "MlflowException"),
                         ("requests", "RequestException"),
                         # A wrongly typed field in a server's JSON answer:
                         ("google.protobuf.json_format", "ParseError"),
                         ("sqlalchemy.exc", "SQLAlchemyError")):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return True
    return False


def describe_failure(tracking_uri: str, exc: BaseException) -> str:
    """One line saying what went wrong with the registry at ``tracking_uri`` (credentials in
    the URI or in the cause's text masked)."""
    return redact_secrets(_describe_failure(tracking_uri, exc))


def _describe_failure(tracking_uri: str, exc: BaseException) -> str:
    chain = list(exception_chain(exc))
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return f"cannot reach MLflow tracking server at {tracking_uri}: connection refused"
    if any(isinstance(e, TimeoutError) for e in chain):
        timeout = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "?")
        return (f"cannot reach MLflow tracking server at {tracking_uri}: "
                f"no answer within {timeout} s (MLFLOW_HTTP_REQUEST_TIMEOUT)")
    if any(isinstance(e, socket.gaierror) for e in chain):
        return f"cannot reach MLflow tracking server at {tracking_uri}: unknown host"
    detail = first_line(str(exc) or type(exc).__name__)
    if _is_connection_error(chain):
        return f"cannot reach MLflow tracking server at {tracking_uri}: {detail}"
    return f"MLflow registry at {tracking_uri} failed: {detail}"


def _is_connection_error(chain: list[BaseException]) -> bool:
    requests = sys.modules.get("requests")
    cls = getattr(requests, "ConnectionError", None)
    return isinstance(cls, type) and any(isinstance(e, cls) for e in chain)
