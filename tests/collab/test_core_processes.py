"""Defects 2 and 3 of the document core, on PostgreSQL and Redis, with two servers.

The two servers are two apps in this test's process, each with its own store connection
pool and its own Redis connection, as two processes would have: what they share is the
database and Redis, nothing in memory. Being in one process lets a test hold one server's
store calls at a gate, which is how the unload/reload race of defect 2 is made to happen
every time instead of once in a while.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from collab.pubsub.redis import RedisPubSub
from collab.settings import Settings
from collab.store.sql import SqlStore
from tests.collab.conftest import RunningServer, start_server
from tests.collab.faults import FaultyStore
from tests.collab.helpers import eventually, http_client, raw_client
from tests.collab.services import (
    REDIS_URL,
    fresh_database,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with fresh_database("collab_core", with_redis=True) as url:
        yield url


@pytest.fixture
async def two(database: str) -> AsyncIterator[tuple[RunningServer, RunningServer, FaultyStore]]:
    """Two servers on one database and one Redis; the first one's store can be held."""
    settings = Settings.from_env({}, database_url=database, redis_url=REDIS_URL, unload_grace=0.05)
    faulty = FaultyStore(SqlStore(database))
    s1 = await start_server(settings, store=faulty, pubsub=RedisPubSub(REDIS_URL))
    s2 = await start_server(settings, store=SqlStore(database), pubsub=RedisPubSub(REDIS_URL))
    try:
        yield s1, s2, faulty
    finally:
        await s1.stop()
        await s2.stop()


def new_doc() -> str:
    return "core-" + uuid.uuid4().hex[:10]


async def test_a_document_reopened_while_it_unloads_hears_other_processes(
    two: tuple[RunningServer, RunningServer, FaultyStore],
) -> None:
    s1, s2, store = two
    doc = new_doc()
    async with raw_client(s1, doc, client="first") as a:
        assert await a.commit(0, 1, ["a"]) == 1
        # The room unloads once the grace period is over; its final snapshot is held, so
        # the unload is in progress when a client comes back.
        gate_snapshot = store.hold("save_snapshot")
    await store.arrived("save_snapshot")
    gate_load = store.hold("load")
    loads = store.calls["load"]
    async with raw_client(s1, doc, client="back", hello=False) as b:
        await b.hello_nowait(rev=1)

        async def reopening() -> bool:
            # The reload is either waiting for the store (before the fix it did not wait for
            # the unload) or waiting for the unload to be over.
            retiring = getattr(s1.services.rooms, "_retiring", {})
            return store.calls["load"] > loads or doc in retiring

        await eventually(reopening)
        gate_snapshot.set()  # the unload finishes (and drops its subscription) ...
        gate_load.set()  # ... and the reload goes on
        welcome = await b.recv_type("welcome")
        assert welcome["rev"] == 1
        # An edit through the other process reaches the reopened room.
        async with raw_client(s2, doc, client="other") as c:
            assert await c.commit(1, 1, [1, "b"]) == 2
        op = await b.recv_type("op")
        assert (op["rev"], op["client"]) == (2, "other")
        assert await b.commit(2, 1, [2, "c"]) == 3


async def test_a_document_deleted_and_created_again_elsewhere_leaves_no_ghost(
    two: tuple[RunningServer, RunningServer, FaultyStore],
) -> None:
    s1, s2, store = two
    doc = new_doc()
    async with raw_client(s1, doc, client="alice") as a:
        assert await a.commit(0, 1, ["old text"]) == 1
        # The first server is slow to look at the store: by the time it does, the
        # document exists again.
        gate = store.hold("get_document")
        async with http_client(s2) as http:
            assert (await http.delete(f"/api/docs/{doc}")).status_code == 204
            r = await http.post("/api/docs", json={"id": doc, "text": "new"})
            assert r.status_code == 201
        gate.set()
        assert await a.closed() == 4410
    async with raw_client(s1, doc, client="bob") as b:
        assert (b.welcome["rev"], b.welcome["text"]) == (0, "new")
        assert await b.commit(0, 1, [3, "!"]) == 1
    async with http_client(s2) as http:
        body = (await http.get(f"/api/docs/{doc}")).json()
        assert (body["rev"], body["text"]) == (1, "new!")


async def test_a_ghost_found_by_its_next_commit_when_the_notice_was_lost(
    two: tuple[RunningServer, RunningServer, FaultyStore],
) -> None:
    s1, s2, _ = two
    doc = new_doc()
    async with raw_client(s1, doc, client="alice") as a:
        assert await a.commit(0, 1, ["old text"]) == 1
        # Deleted and created again by another process whose notice never arrived.
        other = s2.services.store
        assert await other.delete_document(doc)
        await other.create_document(doc, "new")
        await a.op(1, 2, [8, "?"])
        assert await a.closed() == 4410

    async def fresh() -> bool:
        async with raw_client(s1, doc, client="bob") as b:
            return bool(b.welcome.get("text") == "new")

    await eventually(fresh)
    async with raw_client(s1, doc, client="bob2") as b:
        assert await b.commit(0, 1, [3, "!"]) == 1
