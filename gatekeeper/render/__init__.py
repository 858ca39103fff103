"""Render: every picture and document gatekeeper shows, as pure functions (no I/O).

- ``FORMATS``: the ``-o FMT`` registry, ``Result → str`` (see ``interface.py``).
- ``audit``: audit records and verification lines for `gatekeeper audit`.
- ``probe``: the probe's plots, HTML page and summary.
"""

from __future__ import annotations

from gatekeeper.render import github, html, json_format, junit, markdown, sarif, text
from gatekeeper.render.interface import Renderer

FORMATS: dict[str, Renderer] = {
    "github": github.render,
    "html": html.render,
    "json": json_format.render,
    "junit": junit.render,
    "markdown": markdown.render,
    "sarif": sarif.render,
    "text": text.render,
}
