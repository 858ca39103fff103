"""Eight processes appending to one PostgreSQL store at once still leave one whole chain."""

from __future__ import annotations

import json
import multiprocessing
from multiprocessing.synchronize import Event

import psycopg

from gatekeeper.record import Verification
from gatekeeper.record.postgres import PostgresStore

WORKERS = 8
APPENDS = 250


def append_many(url: str, worker: int, start: Event) -> None:
    """Runs in a child process: wait for the others, then append ``APPENDS`` records, every
    fifth through a session (as a promotion does), the rest one transaction each."""
    store = PostgresStore(url, env={}, lock_timeout=300)
    start.wait()
    for n in range(APPENDS):
        if n % 5:
            store.append({"action": "decision", "worker": worker, "n": n})
        else:
            with store.session() as session:
                session.append({"action": "decision", "worker": worker, "n": n})


def test_concurrent_appends_keep_the_chain(postgres_url: str) -> None:
    # spawn: each worker is a fresh interpreter, like separate `gatekeeper` invocations on
    # separate CI runners; the first appends race to create the table too.
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=append_many, args=(postgres_url, w, start))
               for w in range(WORKERS)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=600)

    assert [p.exitcode for p in workers] == [0] * WORKERS
    total = WORKERS * APPENDS
    assert PostgresStore(postgres_url, env={}).verify() == Verification(ok=True, count=total)
    with psycopg.connect(postgres_url) as connection:
        stored = connection.execute("SELECT seq, raw FROM gatekeeper_audit ORDER BY seq"
                                    ).fetchall()
    assert [seq for seq, _ in stored] == list(range(1, total + 1))
    records = [json.loads(raw) for _, raw in stored]
    assert [r["seq"] for r in records] == list(range(1, total + 1))
    assert len({r["hash"] for r in records}) == total
    for worker in range(WORKERS):
        # Each worker's own appends land in the order it made them, none lost or repeated.
        assert [r["n"] for r in records if r["worker"] == worker] == list(range(APPENDS))
