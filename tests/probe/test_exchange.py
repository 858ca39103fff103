"""The HTTP exchange layer against real loopback targets: what one request's times mean, a
streamed body's first chunk, and a wait for a connection that counts against the timeout."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from gatekeeper.probe.exchange import Connection, Exchange, StatusClass, exchange, reach
from gatekeeper.probe.requests_mix import MixRequest
from tests.probe.target import Reply, Target, always
from tests.support.server import free_port

GET = MixRequest("root", "GET", "/", None)


async def exchanges(url: str, count: int, connections: int, timeout_s: float
                    ) -> list[Exchange]:
    """``count`` requests sent at once over a pool of ``connections``."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)
                                     ) as session:
        conn = Connection(session, asyncio.Semaphore(connections), url, timeout_s)
        now = asyncio.get_running_loop().time()
        return list(await asyncio.gather(*(exchange(conn, GET, now) for _ in range(count))))


def test_a_plain_answer_is_timed_from_intended_send_to_last_byte() -> None:
    with Target(always(Reply(delay_s=0.05))) as url:
        [done] = asyncio.run(exchanges(url, 1, 1, 5.0))
    assert done.status is StatusClass.OK and done.code == 200 and done.body_bytes == 2
    assert done.acquired_s is not None and done.first_byte_s is not None
    assert done.first_chunk_s is not None
    assert done.intended_s <= done.acquired_s < done.first_byte_s <= done.first_chunk_s
    assert done.first_chunk_s <= done.last_byte_s
    assert done.first_byte_s - done.acquired_s >= 0.05  # the target's delay


def test_a_streamed_body_records_its_first_chunk_apart_from_the_head() -> None:
    chunks = ((0.0, b"tok1 "), (0.2, b"tok2 "), (0.2, b"tok3"))
    with Target(always(Reply(chunks=chunks))) as url:
        [done] = asyncio.run(exchanges(url, 1, 1, 5.0))
    assert done.status is StatusClass.OK and done.body_bytes == len(b"tok1 tok2 tok3")
    assert done.first_byte_s is not None and done.first_chunk_s is not None
    # Two more chunks came 0.2 s apart after the first one: the body ends >= 0.4 s after it.
    assert done.last_byte_s - done.first_chunk_s >= 0.35


def test_waiting_for_a_free_connection_counts_against_the_timeout() -> None:
    # One connection, answers after 0.8 s, a 0.5 s timeout: the first request times out on the
    # wire; the others wait for the connection and time out without ever being sent.
    with Target(always(Reply(delay_s=0.8))) as url:
        done = asyncio.run(exchanges(url, 3, 1, 0.5))
    assert [d.status for d in done] == [StatusClass.TIMEOUT] * 3
    never_sent = [d for d in done if d.acquired_s is None]
    assert len(never_sent) >= 1
    for d in done:
        assert d.last_byte_s - d.intended_s >= 0.5
        assert d.first_byte_s is None and d.code is None


def test_a_refused_connection_and_errors_are_classified() -> None:
    refused = asyncio.run(exchanges(f"http://127.0.0.1:{free_port()}", 1, 1, 2.0))
    assert refused[0].status is StatusClass.CONNECTION
    with Target(always(Reply(status=503))) as url:
        [failed] = asyncio.run(exchanges(url, 1, 1, 2.0))
    assert failed.status is StatusClass.SERVER_ERROR and failed.code == 503


def test_reach_opens_one_connection_or_raises() -> None:
    with Target(always(Reply())) as url:
        assert reach(url, 2.0) >= 0
    with pytest.raises(ConnectionRefusedError):
        reach(f"http://127.0.0.1:{free_port()}", 2.0)
