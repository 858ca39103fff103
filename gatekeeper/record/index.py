"""The sidecar index of a JSONL audit log: where the chain was last seen whole, and where the
latest decision of each model version, run and milestone is.

``<log>.index`` is an SQLite file (stdlib) kept under the log's own lock. It is a cache: the
log alone is authoritative. The index is trusted only as far as the log still agrees with it
(the record at its head offset still has its head hash, checked on every open), and each
record found through it is read back from the log and checked (its own hash, its place) before
it is used; a missing, stale or unreadable index is rebuilt from the log by a full verification.
So a gate's cost depends on what it reads, not on how long the log is.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".index"
_SCHEMA = 1


@dataclass(frozen=True)
class Head:
    """The chain's verified end: ``bytes`` of the file hold ``lines`` lines and records up
    to ``seq`` whose hash is ``hash``, the last starting at ``offset``; ``origin`` is the
    log's id and ``signed`` whether any record so far is signed."""

    bytes: int = 0
    lines: int = 0
    seq: int = 0
    hash: str | None = None
    offset: int = 0
    origin: str | None = None
    signed: bool = False


def index_path(log: Path) -> Path:
    return Path(f"{os.path.realpath(log)}{SUFFIX}")


def decision_key(model: object, version: object, run_id: object, milestone: object) -> str:
    return json.dumps([model, version, run_id, milestone], separators=(",", ":"))


class Index:
    """An open index; use as a context manager. Every failure degrades to "no index"."""

    def __init__(self, log: Path) -> None:
        self.path = index_path(log)
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> Index:
        try:
            self._db = self._connect()
        except sqlite3.Error:
            # An unreadable index (a torn write of the cache itself): start it afresh.
            with contextlib.suppress(OSError):
                self.path.unlink()
            try:
                self._db = self._connect()
            except sqlite3.Error:
                self._db = None
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=5)
        # A cache: durability is the log's job, and a lost index is rebuilt.
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS decisions (key TEXT PRIMARY KEY, "
                   "seq INTEGER NOT NULL, offset INTEGER NOT NULL)")
        return db

    def head(self) -> Head | None:
        """The recorded head; None when there is none (or it is unreadable)."""
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT v FROM meta WHERE k='head'").fetchone()
            data = json.loads(row[0]) if row else None
            if not isinstance(data, dict) or data.get("schema") != _SCHEMA:
                return None
            return Head(int(data["bytes"]), int(data["lines"]), int(data["seq"]),
                        data["hash"], int(data["offset"]), data["origin"], bool(data["signed"]))
        except (sqlite3.Error, ValueError, KeyError, TypeError):
            return None

    def update(self, head: Head, decisions: dict[str, tuple[int, int]],
               reset: bool = False) -> None:
        """Record a new head and the decisions found since the old one (``reset``: forget
        every entry first, for a rebuild)."""
        if self._db is None:
            return
        data = {"schema": _SCHEMA, "bytes": head.bytes, "lines": head.lines, "seq": head.seq,
                "hash": head.hash, "offset": head.offset, "origin": head.origin,
                "signed": head.signed}
        try:
            with self._transaction():
                if reset:
                    self._db.execute("DELETE FROM decisions")
                self._db.executemany(
                    "INSERT OR REPLACE INTO decisions (key, seq, offset) VALUES (?, ?, ?)",
                    [(k, s, o) for k, (s, o) in decisions.items()])
                self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('head', ?)",
                                 (json.dumps(data),))
        except sqlite3.Error:
            self.forget()

    def forget(self) -> None:
        """Drop the head, so the next open rebuilds."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("DELETE FROM meta")

    @contextlib.contextmanager
    def _transaction(self):  # type: ignore[no-untyped-def]
        assert self._db is not None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def decision(self, key: str) -> tuple[int, int] | None:
        """(seq, offset) of the latest decision under ``key``."""
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT seq, offset FROM decisions WHERE key=?",
                                   (key,)).fetchone()
        except sqlite3.Error:
            return None
        return (int(row[0]), int(row[1])) if row else None
