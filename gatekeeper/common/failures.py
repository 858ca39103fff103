"""Describing why a call to a server failed, in one line a user can act on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


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


class DeadlinePassed(Exception):
    """A call given to :func:`call_with_deadline` did not return in time."""


def call_with_deadline(call: Callable[[], T], seconds: float, what: str = "call") -> T:
    """``call()``, or DeadlinePassed once ``seconds`` have passed without it returning.

    Timeouts of HTTP clients bound each socket read, not a whole exchange: a server that
    trickles one byte every few seconds never trips them. So ``call`` runs in a daemon thread
    and the caller stops waiting at the deadline; the abandoned thread ends with its socket's
    own timeout, or with the process (it never keeps the process alive).
    """
    outcome: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the caller's thread, re-raised there
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"gatekeeper-deadline-{what}", daemon=True).start()
    if not done.wait(max(seconds, 0.0)):
        raise DeadlinePassed(f"{what}: no complete answer within {seconds:g} s")
    if failure:
        raise failure[0]
    return outcome[0]
