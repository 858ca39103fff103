"""MLflow's process settings, the default tracking URI, and keeping MLflow out of light commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gatekeeper.errors import InvalidInputError
from gatekeeper.evidence.mlflow_env import (
    ENV_DEFAULTS,
    configure_environment,
    default_tracking_uri,
    describe_failure,
    mlflow_client,
    require_sqlite_file,
    sqlite_path,
    subprocess_env,
)

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_fill_in_but_never_override() -> None:
    environ = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}
    configure_environment(environ)
    assert environ == {**ENV_DEFAULTS, "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}
    assert environ["MLFLOW_DISABLE_TELEMETRY"] == environ["DO_NOT_TRACK"] == "true"


def test_defaults_name_variables_mlflow_reads() -> None:
    import mlflow.environment_variables as variables

    names = {getattr(variables, attr).name for attr in dir(variables)
             if isinstance(getattr(variables, attr), variables._EnvironmentVariable)}
    assert set(ENV_DEFAULTS) - {"DO_NOT_TRACK"} <= names


def test_subprocess_env_copies_and_disables_telemetry() -> None:
    env = subprocess_env({"PATH": "/bin", "DO_NOT_TRACK": "false"})
    assert env["PATH"] == "/bin"
    assert env["DO_NOT_TRACK"] == "false"  # the user's choice stands
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"


def test_default_tracking_uri_is_the_embedded_sqlite_registry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/.gatekeeper/mlflow.db"
    assert (tmp_path / ".gatekeeper").is_dir()


def test_default_tracking_uri_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert default_tracking_uri() == "http://mlflow.internal:5000"


@pytest.mark.parametrize(("uri", "path"), [
    ("sqlite:////abs/mlflow.db", "/abs/mlflow.db"),
    ("sqlite:///rel/mlflow.db?mode=ro", "rel/mlflow.db"),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("http://127.0.0.1:5000", None),
])
def test_sqlite_path(uri: str, path: str | None) -> None:
    assert sqlite_path(uri) == (Path(path) if path else None)


def test_require_sqlite_file_lets_other_uris_through() -> None:
    require_sqlite_file("http://127.0.0.1:5000")
    with pytest.raises(InvalidInputError):
        require_sqlite_file("sqlite:////no/such/mlflow.db")


def test_one_client_per_tracking_uri(tracking_uri: str) -> None:
    assert mlflow_client(tracking_uri) is mlflow_client(tracking_uri)


def test_describe_failure_of_an_unclassified_error() -> None:
    error = RuntimeError("first line\nsecond line")
    assert describe_failure("http://x", error) == "MLflow registry at http://x failed: first line"


@pytest.mark.parametrize("argv", [["--help"], ["schema"], ["validate", "playbooks", "policies"]])
def test_light_commands_never_import_mlflow(argv: list[str]) -> None:
    probe = ("import sys\n"
             "from gatekeeper.cli import run\n"
             f"code = run({argv!r})\n"
             "print(code, 'mlflow' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True, env=subprocess_env()).stdout
    assert out.splitlines()[-1] == "0 False"
