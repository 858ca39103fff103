"""The output seam: a format is a pure function from a frozen ``Result`` to the text of one
document. It does no I/O; the CLI writes the text to stdout or a file (``cli/outputs.py``).

Adding a format is one module with a ``render`` function, one line in ``FORMATS``
(``render/__init__.py``), one test file and one row in docs/CONTRACT.md; the ``-o`` choices and
help text come from the registry.
"""

from __future__ import annotations

from typing import Protocol

from gatekeeper.decide.result import Result


class Renderer(Protocol):
    def __call__(self, result: Result, /) -> str:
        """The whole document for ``result``, ending with a newline."""
        ...
