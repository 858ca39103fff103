"""Render: every picture and document gatekeeper shows, as pure functions (no I/O).

- ``FORMATS``: the ``-o FMT`` registry, ``Result → str`` (see ``interface.py``).
- ``audit``: audit records and verification lines for `gatekeeper audit`.
- ``probe``: the probe's plots, HTML page and summary.
"""

from __future__ import annotations

from gatekeeper.render import json_format, text
from gatekeeper.render.interface import Renderer

FORMATS: dict[str, Renderer] = {
    "json": json_format.render,
    "text": text.render,
}
