"""Progress of a running probe: a redrawn bar on a terminal, a plain line every few seconds
elsewhere (CI logs get readable lines, never carriage returns or escape codes). Modes made of
several runs (the capacity search, the cache proof) also report each finished step as a line of
its own, ``probe: <text>``, on both.

:class:`Watch` counts what the engine has sent and finished and feeds a :class:`Progress`
from a task on the engine's own event loop, so no thread competes with the sender.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

from gatekeeper.probe.engine import Sample, StatusClass
from gatekeeper.probe.requests_mix import Planned

TICK_S = 0.2  # how often the bar is redrawn
LINE_EVERY_S = 5.0  # how often a plain progress line is written
BAR_WIDTH = 24


@dataclass(frozen=True)
class Snapshot:
    """Where a run stands."""

    elapsed_s: float
    total_s: float
    sent: int
    done: int
    errors: int

    def describe(self) -> str:
        """``12.0/30.0 s  due 1,200  done 1,199  errors 0`` (due: its send time came)."""
        return (f"{self.elapsed_s:.1f}/{self.total_s:.1f} s  due {self.sent:,}  "
                f"done {self.done:,}  errors {self.errors:,}")


class Progress(Protocol):
    """Shows snapshots while a probe runs."""

    def update(self, snapshot: Snapshot) -> None: ...

    def finish(self, snapshot: Snapshot) -> None: ...

    def step(self, text: str) -> None:
        """One finished part of a longer probe (a capacity step), shown as a line of its own."""


class Bar:
    """One line redrawn in place; for terminals only."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def update(self, snapshot: Snapshot) -> None:
        share = min(snapshot.elapsed_s / snapshot.total_s, 1.0) if snapshot.total_s else 1.0
        filled = round(share * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        # \r returns to the line start; ESC[K clears what a longer earlier line left behind.
        self.stream.write(f"\rprobe [{bar}] {snapshot.describe()}\x1b[K")
        self.stream.flush()

    def finish(self, snapshot: Snapshot) -> None:
        self.update(snapshot)
        self.stream.write("\n")
        self.stream.flush()

    def step(self, text: str) -> None:
        # Written over whatever bar is on the line, and ended, so it stays on screen.
        self.stream.write(f"\rprobe: {text}\x1b[K\n")
        self.stream.flush()


class Lines:
    """A plain line every ``every_s`` seconds of the run, and one at the end."""

    def __init__(self, stream: TextIO, every_s: float = LINE_EVERY_S) -> None:
        self.stream = stream
        self.every_s = every_s
        self.next_s = every_s

    def update(self, snapshot: Snapshot) -> None:
        if snapshot.elapsed_s >= self.next_s:
            self.write(snapshot)
            while self.next_s <= snapshot.elapsed_s:
                self.next_s += self.every_s

    def finish(self, snapshot: Snapshot) -> None:
        self.write(snapshot)

    def step(self, text: str) -> None:
        self.stream.write(f"probe: {text}\n")
        self.stream.flush()

    def write(self, snapshot: Snapshot) -> None:
        self.stream.write(f"probe: {snapshot.describe()}\n")
        self.stream.flush()


def progress_for(stream: TextIO) -> Progress:
    """A bar when ``stream`` is a terminal, plain lines otherwise."""
    return Bar(stream) if stream.isatty() else Lines(stream)


class Watch:
    """Counts the requests a plan hands to the engine and reports progress while it runs."""

    def __init__(self, progress: Progress, total_s: float) -> None:
        self.progress = progress
        self.total_s = total_s
        self.sent = 0
        self.errors = 0
        self.seen = 0
        self.started = time.monotonic()

    def count(self, plan: Iterable[Planned]) -> Iterator[Planned]:
        """The plan, unchanged, counting each request as the engine takes it."""
        for item in plan:
            self.sent += 1
            yield item

    async def tick(self, samples: Sequence[Sample]) -> None:
        """Report every TICK_S until cancelled; ``samples`` is the engine's growing list."""
        self.started = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            self.progress.update(self.snapshot(samples))

    def snapshot(self, samples: Sequence[Sample]) -> Snapshot:
        """Where the run stands; counts errors only in samples not seen before."""
        done = len(samples)
        self.errors += sum(1 for s in samples[self.seen:done] if s.status is not StatusClass.OK)
        self.seen = done
        return Snapshot(time.monotonic() - self.started, self.total_s, self.sent, done,
                        self.errors)

    def finish(self, samples: Sequence[Sample]) -> None:
        """The last report, once every request has ended."""
        self.progress.finish(self.snapshot(samples))
