"""Hardening, second round: what a single message or request can make the server do, and
what stays behind once a client has gone (one test per finding, each failing on the server
before its fix)."""

from __future__ import annotations

import gc

from collab.jwt_auth import mint
from collab.room import Room
from collab.session import Session
from tests.collab.conftest import ServerFactory
from tests.collab.helpers import eventually, raw_client

SECRET = "collab-hardening-secret-" + "0123456789abcdef" * 3


def _alive(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is kind)


async def test_closed_sessions_and_their_rooms_are_released(server_factory: ServerFactory) -> None:
    """The token-expiry timer held every closed session, and the rooms they point to, until
    the token would have expired (an hour here)."""
    srv = await server_factory(jwt_secret=SECRET, unload_grace=0.05)
    tok = mint(SECRET, "ada", "Ada", {"*": "edit"}, ttl=3600)
    sessions, rooms = _alive(Session), _alive(Room)
    for i in range(50):
        async with raw_client(srv, f"doc{i % 5}", hello=False) as c:
            await c.send({"type": "hello", "protocol": 1, "client": c.client, "token": tok})
            await c.recv_type("welcome")

    async def released() -> bool:
        return len(srv.services.rooms) == 0 and _alive(Session) == sessions

    await eventually(released)
    assert _alive(Room) == rooms
