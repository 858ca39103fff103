"""The command line: an adapter. Each command group is one module; every command parses its
options, calls one domain function, renders, and returns the exit code.

``main`` (the console entry point) and ``run`` (the same, returning the code) live in
:mod:`gatekeeper.cli.main`.
"""

from __future__ import annotations

from gatekeeper.cli.main import cli, main, run

__all__ = ["cli", "main", "run"]
