"""Shared fixtures: a real MLflow registry per test (a copied SQLite database) and one real
``mlflow server`` per session.

MLflow reads its settings when it is first imported, so they are applied here, before any test
module can import it. Tests never phone MLflow's telemetry service and never touch a
developer's own tracking server, whatever the shell says.
"""

from __future__ import annotations

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
for _name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
    os.environ.pop(_name, None)

import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from gatekeeper.evidence.mlflow_env import configure_environment  # noqa: E402

configure_environment()  # the bounded HTTP timeouts and retries gatekeeper runs with

from tests.support.registry import copy_registry, create_template_db  # noqa: E402
from tests.support.server import running_mlflow_server  # noqa: E402

pytest_plugins = ["tests.support.audit_fixtures", "tests.support.postgres"]


@pytest.fixture(scope="session")
def mlflow_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow database, built once per session (migrations take ~1.5 s)."""
    return create_template_db(tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture
def tracking_uri(mlflow_template_db: Path, tmp_path: Path) -> str:
    """A ``sqlite:///`` URI of a fresh, empty registry of this test's own (artifacts included)."""
    return copy_registry(mlflow_template_db, tmp_path / "mlflow")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ``http://127.0.0.1:<port>`` URL of a real ``mlflow server`` shared by the session.

    Tests share its registry: give models names no other test uses.
    """
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture(autouse=True)
def _own_working_folder(tmp_path_factory: pytest.TempPathFactory,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in an empty folder of its own: defaults that depend on the working
    folder (``policies/``, ``.gatekeeper/``) never pick up the checkout's files by accident."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _unset_mlflow_tracking_uri() -> Iterator[None]:
    """Undo ``mlflow.set_tracking_uri`` after each test: MLflow keeps it process-wide and also
    exports it as MLFLOW_TRACKING_URI, which gatekeeper's default would then pick up."""
    yield
    if "mlflow" in sys.modules:
        import mlflow

        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None unsets (MLflow's own use)


#: MLflow keeps one SQLAlchemy engine per database URI for the life of the process, each with
#: its pooled connections open; a suite that builds a registry per test would pile up file
#: descriptors until the probe's select()-based loop (which needs descriptors below 1024) no
#: longer fits.
_ENGINE_MAPS = (("mlflow.store.tracking.sqlalchemy_store", "SqlAlchemyStore"),
                ("mlflow.store.model_registry.sqlalchemy_store", "SqlAlchemyStore"),
                ("mlflow.store.jobs.sqlalchemy_store", "SqlAlchemyJobStore"))


@pytest.fixture(autouse=True)
def _close_mlflow_connections() -> Iterator[None]:
    """Close the pooled connections of MLflow's engines after each test (an engine stays
    usable: it opens a connection again when asked)."""
    yield
    for module, name in _ENGINE_MAPS:
        store = getattr(sys.modules.get(module), name, None)
        for engine in list(getattr(store, "_engine_map", {}).values()):
            engine.dispose()


# `pytest -m "not slow"` (make test-fast) runs the rest in under a minute on a 2-core machine.
# Marked here, in one place, rather than test by test: every test that uses one of these
# fixtures, directly or through another fixture, since each starts a server or builds a real
# MLflow registry (seconds per test, many more on a loaded machine)...
SLOW_FIXTURES = frozenset({
    "tracking_uri",  # a SQLite MLflow registry: 1-10 s per test through MLflow's client
    "mlflow_server",  # `mlflow server`
    "pilot_prometheus",  # a real Prometheus
    "redis_url",  # a real Redis
    "serial_target", "fast_target", "proxy_url",  # the serve stack's targets and cache proxy
    "github_api", "gitlab_api",  # the GitHub/GitLab API emulator; retry tests wait seconds
    "osv_api",  # the loopback OSV API; each test runs the real pip-audit (1-3 s)
    "postgres_server",  # a real PostgreSQL (initdb and start: 2-5 s per session)
})
# ...and every test in these modules (paths from the repository root; a folder ends in /).
SLOW_MODULES = (
    "tests/faults/",  # each case runs the real CLI in a subprocess
    "tests/demo/test_demo.py",  # trains and gates the demo's models (minutes)
    "tests/demo/test_wheel.py",  # builds and installs the wheel
    "tests/serve/test_serve_gate.py",  # the whole serve stack end to end (minutes)
    "tests/probe/test_locust_engine.py",  # Locust master and workers, 10-30 s per test
    "tests/probe/test_engine.py",  # drives load for seconds per test
    "tests/probe/llm/test_law.py",  # the LLM target streaming; ~3 s of load per test
    "tests/probe/llm/test_gate.py",  # LLM target, SQLite MLflow, probe and check via the CLI
    "tests/probe/llm/test_capacity.py",  # an LLM capacity search (~40 s), MLflow, check
    "tests/probe/llm/test_same_workload.py",  # three LLM probes to MLflow, then check
    "tests/cli/test_probe_modes.py",  # capacity searches and Locust through the CLI
    "tests/cli/test_probe_inputs.py",  # a recording server; each test sends load for ~2 s
    "tests/serve/test_stack_signals.py",  # the reference serve stack, started and SIGTERMed
    "tests/record/test_concurrency.py",  # 8 spawned processes racing to append
    "tests/cli/test_audit_integrity.py",  # appenders SIGKILLed mid-write (1-12 s)
    "tests/render/test_html.py",  # headless Chromium renders each page (seconds per test)
    "tests/render/test_dossier.py",  # headless Chromium opens the audit dossier
    "tests/render/test_cost_breakdown.py",  # one page in headless Chromium
    "tests/render/test_probe_page_browser.py",  # a real probe run, then headless Chromium
    "tests/ci/test_precommit.py",  # pre-commit pip-installs gatekeeper and MLflow (minutes)
    "tests/probe/llm_server/test_scrape.py",  # a /metrics server; a probe run of ~2 s
    "tests/probe/llm_server/test_prometheus_window.py",  # a real Prometheus, ~10 s
    "tests/probe/llm_cache/",  # the LLM target and cache proofs through the CLI, ~2 s each
    "tests/render/test_llm_page_browser.py",  # an LLM probe run, then headless Chromium
    "tests/render/test_probe_llm_page.py",  # two LLM probe runs via the CLI (~5 s, ~13 s), Chromium
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.relative_to(config.rootpath).as_posix()
        if module.startswith(SLOW_MODULES) or not SLOW_FIXTURES.isdisjoint(item.fixturenames):
            item.add_marker(pytest.mark.slow)
