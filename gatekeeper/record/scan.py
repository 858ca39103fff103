"""Parsing a whole log's lines for verification, on every core when the log is large.

Each line's own checks (parse, hash over the stored bytes, the integrity fields' types) do not
depend on any other line, so ``scan`` splits a large file at line boundaries into chunks that
worker processes parse in parallel; only what verification reads of each record comes back
(``verify.slim``), in file order, and the chain itself is judged in one process by the
``Inspector``. A small file, or a process with threads (where fork is unsafe), is scanned in
this process.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from gatekeeper.record.verify import _Parsed, _Unusable, parse_line, slim

#: Below this many bytes one process is faster than starting workers.
PARALLEL_FROM = 32 << 20
CHUNK = 16 << 20

Line = tuple[int, "_Parsed | str", bool]  # (offset, the parsed line or why not, terminated)


def scan(path: Path, size: int | None) -> Iterator[Line]:
    """Every line starting within the first ``size`` bytes (all if None), in order. Raises
    OSError."""
    total = os.path.getsize(path) if size is None else size
    workers = os.cpu_count() or 1
    if total < PARALLEL_FROM or workers < 2 or threading.active_count() > 1:
        yield from lines_of(str(path), 0, total, slimmed=False)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        for lines in pool.imap(scan_chunk, chunks(path, total)):
            yield from lines


def chunks(path: Path, total: int) -> list[tuple[str, int, int]]:
    """Byte ranges of about CHUNK bytes, each starting at a line's start."""
    starts = [0]
    with open(path, "rb") as file:
        while starts[-1] + CHUNK < total:
            file.seek(starts[-1] + CHUNK)
            file.readline()  # to the end of the line the cut fell in
            at = file.tell()
            if at >= total:
                break
            starts.append(at)
    ends = [*starts[1:], total]
    return [(str(path), s, e) for s, e in zip(starts, ends, strict=True)]


def scan_chunk(task: tuple[str, int, int]) -> list[Line]:
    """The lines starting in ``[start, end)`` of the file, each parsed and slimmed (a
    worker's share: only what verification reads goes back to the parent)."""
    return list(lines_of(*task, slimmed=True))


def lines_of(path: str, start: int, end: int, *, slimmed: bool) -> Iterator[Line]:
    """The lines starting in ``[start, end)`` of the file, each parsed."""
    offset = start
    with open(path, "rb", buffering=1 << 20) as file:
        file.seek(start)
        for line in file:
            if offset >= end:
                break
            terminated = line.endswith(b"\n")
            raw = line[:-1] if terminated else line
            try:
                parsed = parse_line(raw)
                outcome: _Parsed | str = slim(parsed) if slimmed else parsed
            except _Unusable as bad:
                outcome = str(bad)
            yield offset, outcome, terminated
            offset += len(line)
