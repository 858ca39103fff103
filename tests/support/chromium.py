"""Headless Chromium (the Debian package), the real consumer of every HTML report: it opens a
file, takes a screenshot of the given size and dumps the DOM it parsed, so tests assert on
what a reviewer's browser shows rather than on the text gatekeeper wrote.

Never skipped: without Chromium the test fails and says how to install it.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

#: Generous: a loaded 2-core machine starts Chromium in seconds, sometimes tens of them.
TIMEOUT_S = 180
INSTALL = "install it with scripts/system-deps.sh (Debian package `chromium`)"


@dataclass(frozen=True)
class Rendering:
    """What Chromium made of a page: the screenshot file and the serialized DOM."""

    png: Path
    dom: str


def chromium() -> str:
    """The Chromium executable, or a failed test naming how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(f"headless Chromium not found on PATH: {INSTALL}", pytrace=False)
    return found


def render_page(page: Path, png: Path, width: int = 1280, height: int = 1600) -> Rendering:
    """Open ``page`` in headless Chromium once: screenshot it at ``width`` x ``height`` into
    ``png`` and return the DOM as the browser parsed it (after any script would have run)."""
    profile = png.parent / f".chromium-profile-{png.stem}"
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", "--disable-sync",
               f"--user-data-dir={profile}", f"--screenshot={png}",
               f"--window-size={width},{height}", "--dump-dom", page.resolve().as_uri()]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    assert png.is_file(), f"chromium wrote no screenshot: {proc.stderr[-2000:]}"
    return Rendering(png, proc.stdout)


#: Appended to a copy of a page under test: once the page has loaded, each image records the
#: size the browser decoded it to (0x0 for a picture it could not decode).
IMAGE_PROBE = ("<script>addEventListener('load', () => { for (const img of document.images) "
               "img.dataset.decoded = img.naturalWidth + 'x' + img.naturalHeight; });</script>")


def with_image_probe(page: str) -> str:
    """``page`` with :data:`IMAGE_PROBE` before ``</body>``: the test's instrument, not part of
    the report (which needs no script)."""
    assert page.count("</body>") == 1, "a page with one body"
    return page.replace("</body>", IMAGE_PROBE + "</body>")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (asserting it is one)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR", "PNG without a header chunk"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def colours(png: Path) -> int:
    """How many distinct colours the image has (1 for a blank page). Pillow comes with
    matplotlib, which draws the probe's pictures."""
    from PIL import Image

    with Image.open(png) as image:
        found = image.convert("RGB").getcolors(maxcolors=1 << 24)
    return len(found or ())


class Elements(HTMLParser):
    """Tags, attributes and text of a dumped DOM, to assert on what the browser parsed."""

    #: Elements that start a new line of text as a reader sees it.
    BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "li", "td", "th", "tr", "br", "dt", "dd",
                        "section", "header", "ul", "ol", "table", "body"})
    #: Elements whose content is not shown as text.
    HIDDEN = frozenset({"style", "title", "script", "head"})

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self._hidden = 0
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._hidden += tag in self.HIDDEN
        if tag in self.BLOCKS:
            self.texts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in self.HIDDEN
        if tag in self.BLOCKS:
            self.texts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.texts.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        """The attributes of every ``tag`` element."""
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def lines(self) -> list[str]:
        """The visible text, one entry per block (paragraph, cell, list item, ...)."""
        joined = "".join(self.texts)
        return [" ".join(line.split()) for line in joined.split("\n") if line.strip()]

    @property
    def text(self) -> str:
        """The visible text as one string, blocks separated by `` | ``."""
        return " | ".join(self.lines)
