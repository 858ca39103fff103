"""The embedded default works from any folder: a wheel built from the checkout, installed with
its dependencies and the ``demo`` extra into a fresh venv (no system site-packages), runs
``gatekeeper demo`` in an empty folder.

Slow: the install fetches MLflow, scikit-learn and their dependencies from the package index
(about 1.5 minutes with a warm pip cache on 2 idle cores, 30 s of it CPU; the demo itself
about 35 s of CPU). The timeouts are for hangs only: on a machine loaded with other work the
whole test took 9 minutes of wall time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.demo.test_demo import assert_demo_output, assert_rerun_hint_runs, demo_env

REPO = Path(__file__).parents[2]
# What the wheel is built from; copied so the build sees exactly the packaged tree and leaves
# no build/ or *.egg-info behind in the shared checkout.
SOURCES = ("pyproject.toml", "README.md", "gatekeeper")


def build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, src / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v",
                           "-w", str(tmp_path / "wheels"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Packaging warnings (license metadata, package data, deprecated config) show in the build
    # log; setuptools' note that wheels skip byte-compiling is not one of them.
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines()
                if "warn" in line.lower() and "byte-compiling is disabled" not in line]
    assert warnings == []
    (wheel,) = (tmp_path / "wheels").glob("gatekeeper-*.whl")
    return wheel


def install_wheel(wheel: Path, tmp_path: Path) -> Path:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    # --no-compile: byte-compiling MLflow's and pandas' thousands of modules is most of the
    # install time, and the demo imports only a fraction of them.
    proc = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install",
                           "--no-compile", "--disable-pip-version-check", f"{wheel}[demo]"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # A find-links or extra index of the machine's pip configuration that lacks a project is
    # reported as "WARNING: Location '...' is ignored"; that is the machine's, not the wheel's.
    warnings = [line for line in proc.stderr.splitlines()
                if "warn" in line.lower() and not line.startswith("WARNING: Location '")]
    assert warnings == []
    return env_dir / "bin" / "gatekeeper"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_installed_wheel_runs_the_demo_in_an_empty_folder(tmp_path: Path) -> None:
    exe = install_wheel(build_wheel(tmp_path), tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([str(exe), "demo"], cwd=empty, env=demo_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert_demo_output(proc.stdout, empty)
    assert_rerun_hint_runs(proc.stdout, empty, exe)
