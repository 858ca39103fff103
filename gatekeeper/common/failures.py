"""Describing why a call to a server failed, in one line a user can act on."""

from __future__ import annotations

from collections.abc import Iterator


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what caused it: requests and urllib3 keep the cause in ``args`` and
    ``reason`` rather than only in ``__cause__``."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        pending.extend((item.__cause__, item.__context__, getattr(item, "reason", None),
                        *item.args))


def first_line(text: str, limit: int = 300) -> str:
    """The first line of a (possibly long, multi-line) message, cut to ``limit`` characters."""
    lines = text.strip().splitlines()
    line = lines[0] if lines else "(no message)"
    return line if len(line) <= limit else line[: limit - 3] + "..."
