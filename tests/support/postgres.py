"""A real PostgreSQL server for the tests: initdb into a temporary folder, started on
127.0.0.1 at a free port with its unix socket in that folder, stopped at the end of the session.

Nothing is skipped: without Debian's ``postgresql`` package (binaries under
``/usr/lib/postgresql/<major>/bin``) the fixture fails saying to run ``make system-deps``.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user the
package creates. Durability is turned off (``fsync=off``): the tests check locking and the
chain, not crash safety of the server itself.

    def test_x(postgres_url: str) -> None:      # postgresql://gatekeeper@127.0.0.1:PORT/db_N
        store = open_store(postgres_url)
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "gatekeeper"
_databases = itertools.count(1)


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's ``bin`` folder; fails the test when there is none."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if not found:
        pytest.fail("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                    "run `make system-deps`", pytrace=False)
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user() -> dict[str, object]:
    """subprocess arguments that drop root to ``postgres`` (initdb refuses root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def _run(command: list[str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False,
                              cwd="/", **_as_server_user())  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n"
                           + log.read_text(errors="replace")[-3000:])


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """A fresh server; yields ``postgresql://gatekeeper@127.0.0.1:PORT/postgres``."""
    binaries = postgres_bin()
    # Not under pytest's tmp: that is private to root, and the server may run as postgres.
    home = Path(tempfile.mkdtemp(prefix="gatekeeper-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(home, "postgres", "postgres")
        data, log, port = home / "data", home / "setup.log", free_port()
        _run([str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
              "-E", "UTF8", "--no-sync", "--no-instructions"], log)
        settings = (f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        # The server's own log is written by the server's user, so root must not create it.
        _run([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"),
              "-o", settings, "-w", "-t", "120", "start"], log)
        try:
            yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
        finally:
            _run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                  "stop"], log)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the session's PostgreSQL server (its ``postgres`` database)."""
    with running_postgres() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A ``postgresql://`` URL of a new, empty database of this test's own."""
    import psycopg

    name = f"db_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.rsplit("/", 1)[0] + "/" + name
