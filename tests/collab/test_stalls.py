"""Redis or the database hangs: the work the server takes on stays bounded.

A :class:`~tests.collab.proxy.StallingProxy` between the server and PostgreSQL or Redis
stops forwarding without closing anything, as a network black hole does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from collab.pubsub.redis import RedisPubSub
from collab.settings import Settings
from collab.store.sql import SqlStore
from tests.collab.conftest import start_server
from tests.collab.helpers import eventually, raw_client
from tests.collab.proxy import StallingProxy
from tests.collab.services import (
    REDIS_URL,
    fresh_database,
    redis_problem,
    unavailable,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with fresh_database("collab_stall") as url:
        yield url


@pytest.fixture
async def redis_proxy() -> AsyncIterator[StallingProxy]:
    problem = await redis_problem(REDIS_URL)
    if problem is not None:
        unavailable(problem)
    parsed = urlsplit(REDIS_URL)
    proxy = await StallingProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379).start()
    yield proxy
    await proxy.close()


def _via(proxy: StallingProxy) -> str:
    return f"redis://127.0.0.1:{proxy.port}/0"


async def test_publishing_while_redis_hangs_holds_one_notice_per_document(
    redis_proxy: StallingProxy,
) -> None:
    """One background task per commit, without a bound, while Redis did not answer."""
    pubsub = RedisPubSub(_via(redis_proxy))
    await pubsub.start(lambda doc, msg: None)
    try:
        redis_proxy.stall()
        before = len(asyncio.all_tasks())
        for i in range(5000):
            pubsub.publish_nowait(f"doc{i % 50}", {"rev": i + 1})
        await asyncio.sleep(0)  # let the publisher start
        assert len(asyncio.all_tasks()) - before <= 3
        assert pubsub.publishing
    finally:
        redis_proxy.resume()
        await pubsub.close()


async def test_a_subscription_lost_to_a_hang_is_made_again(redis_proxy: StallingProxy) -> None:
    """A subscribe that timed out left the document marked subscribed on a connection that
    had dropped the request: the room never heard another process again."""
    heard: list[dict[str, Any]] = []
    pubsub = RedisPubSub(_via(redis_proxy))
    other = RedisPubSub(REDIS_URL)
    await pubsub.start(lambda doc, msg: heard.append(msg))
    await other.start(lambda doc, msg: None)
    try:
        redis_proxy.stall()
        await asyncio.wait_for(pubsub.subscribe("stalled-doc"), 10)  # gives up, bounded
        redis_proxy.resume()
        rev = 0

        async def heard_one() -> bool:
            nonlocal rev
            rev += 1
            other.publish_nowait("stalled-doc", {"rev": rev})
            return any("rev" in m for m in heard)

        await eventually(heard_one, timeout=20, interval=0.2)
    finally:
        await pubsub.close()
        await other.close()


async def test_shutdown_is_bounded_while_the_database_hangs(database: str) -> None:
    """Shutdown waited on the room's queue with no bound while a commit hung."""
    url = make_url(database)
    proxy = await StallingProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = Settings.from_env({}, database_url=proxied, shutdown_timeout=1.0)
    srv = await start_server(settings, store=SqlStore(proxied, pool_timeout=5))
    try:
        async with raw_client(srv, "hang", client="a") as a:
            assert await a.commit(0, 1, ["x"]) == 1
            proxy.stall()
            await a.op(1, 2, [1, "y"])  # its commit hangs

            async def queued() -> bool:
                room = srv.services.rooms.get("hang")
                return room is not None and room.queue.qsize() == 0

            await eventually(queued)
            await asyncio.wait_for(srv.services.rooms.close_all(), 15)
            code = await a.closed()
            assert code in (1001, 1011)
    finally:
        proxy.resume()
        await proxy.close()
        srv.server.should_exit = True
        await asyncio.wait_for(asyncio.gather(srv.task, return_exceptions=True), 30)
