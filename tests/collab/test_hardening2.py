"""Hardening, second round: what a single message or request can make the server do, and
what stays behind once a client has gone (one test per finding, each failing on the server
before its fix)."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from collab.jwt_auth import mint
from collab.room import Room
from collab.session import Session
from tests.collab.conftest import ServerFactory
from tests.collab.helpers import eventually, http_client, raw_client

SECRET = "collab-hardening-secret-" + "0123456789abcdef" * 3
JSON = {"content-type": "application/json"}


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


# -- log redaction runs in linear time -------------------------------------------------------


def _logged(path: str) -> str:
    import logging

    from collab.app import RedactTokens

    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]', None, None
    )
    record.args = ("127.0.0.1:5000", path)
    RedactTokens().filter(record)
    return record.getMessage()


@pytest.mark.timeout(10)
@pytest.mark.parametrize("filler", ["?", "?a", "&token", "x" * 7 + "&", "bearer "])
def test_redaction_of_a_long_hostile_path_is_linear(filler: str) -> None:
    """One handshake to ``/ws/x?`` followed by 8,000 ``?`` stalled the event loop for about
    290 ms (the pattern was quadratic); 200,000 characters took minutes."""
    line = _logged("/ws/x?" + filler * (200_000 // len(filler)))
    assert len(line) < 3000  # and it is cut to a bounded length


def test_redaction_still_hides_tokens() -> None:
    tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl"
    for path in (
        f"/ws/doc?token={tok}",
        f"/ws/doc?a=1&access_token={tok}&b=2",
        "/ws/doc?Token=secret-value&b=2",
        f"/ws/doc?authorization=Bearer%20{tok}",
    ):
        line = _logged(path)
        assert tok not in line and "secret-value" not in line, line
        assert "[redacted]" in line
    assert "b=2" in _logged("/ws/doc?Token=secret-value&b=2")


# -- HTTP bodies: authenticated first, bounded ------------------------------------------------


async def test_without_a_token_a_malformed_body_is_401_not_parsed(
    server_factory: ServerFactory,
) -> None:
    srv = await server_factory(jwt_secret=SECRET)
    async with http_client(srv) as http:
        r = await http.post("/api/docs", content=b"{not json", headers=JSON)
        assert r.status_code == 401, r.text
        r = await http.post("/api/docs", content=b"x" * 100_000, headers=JSON)
        assert r.status_code == 401, r.text


async def test_a_body_over_the_limit_is_413_and_creates_nothing(
    server_factory: ServerFactory,
) -> None:
    srv = await server_factory(max_body_bytes=1000)
    body = json.dumps({"id": "big", "text": "x" * 2000}).encode()
    async with http_client(srv) as http:
        r = await http.post("/api/docs", content=body, headers=JSON)
        assert r.status_code == 413, r.text

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for i in range(0, len(body), 100):
                yield body[i : i + 100]

        r = await http.post("/api/docs", content=chunks(), headers=JSON)
        assert r.status_code == 413, r.text
        assert (await http.get("/api/docs/big")).status_code == 404
        small = {"id": "small", "text": "x" * 100}
        assert (await http.post("/api/docs", json=small)).status_code == 201


# -- DNS rebinding: the Host header in open mode -----------------------------------------------


async def test_open_mode_serves_only_its_own_host_names(server_factory: ServerFactory) -> None:
    srv = await server_factory()
    evil = f"evil.example:{srv.port}"
    async with http_client(srv) as http:
        r = await http.get("/api/docs", headers={"host": evil})
        assert r.status_code == 403
        for good in (f"127.0.0.1:{srv.port}", f"localhost:{srv.port}", f"[::1]:{srv.port}"):
            assert (await http.get("/api/docs", headers={"host": good})).status_code == 200
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            srv.ws("rebound"),
            additional_headers={"Host": evil},
            origin=Origin(f"http://{evil}"),
            open_timeout=5,
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_configured_host_names_are_served(server_factory: ServerFactory) -> None:
    srv = await server_factory(allowed_hosts=("collab.example",))
    async with http_client(srv) as http:
        r = await http.get("/api/docs", headers={"host": f"collab.example:{srv.port}"})
        assert r.status_code == 200
        r = await http.get("/api/docs", headers={"host": f"evil.example:{srv.port}"})
        assert r.status_code == 403


async def test_with_tokens_any_host_name_is_served(server_factory: ServerFactory) -> None:
    srv = await server_factory(jwt_secret=SECRET)
    tok = mint(SECRET, "ada", "Ada", {"*": "edit"})
    headers = {"host": f"collab.example:{srv.port}", "authorization": f"Bearer {tok}"}
    async with http_client(srv) as http:
        assert (await http.get("/api/docs", headers=headers)).status_code == 200


# -- presence: the work it asks for is bounded and paid for -------------------------------------


async def test_presence_far_behind_is_refused_and_costly_presence_is_charged(
    server_factory: ServerFactory,
) -> None:
    srv = await server_factory(ops_per_second=100_000)
    async with raw_client(srv, "p", client="w") as w, raw_client(srv, "p", client="v") as v:
        for i in range(150):
            await w.op(0, i + 1, ["x"])  # all typed at revision 0, rebased by the server
        for _ in range(150):
            await w.recv_type("ack")
        # 150 revisions behind: not moved, refused.
        await v.presence(0, [[0, 0]])
        err = await v.error()
        assert err["code"] == "bad_rev" and "behind" in err["message"]
        # 100 ranges across 50 revisions is too much work for one message.
        ranges = [[i % 100, i % 100] for i in range(100)]
        await v.presence(100, ranges)
        assert (await v.error())["code"] == "bad_rev"
        # 100 ranges across 25 revisions: allowed a few times, then the budget is spent.
        ranges = [[i % 125, i % 125] for i in range(100)]
        await v.presence(125, ranges)
        seen = await w.recv_type("presence")
        assert seen["client"] == "v" and seen["rev"] == 150
        for _ in range(3):  # each costs 26 of the 100 tokens
            await v.presence(125, ranges)
        assert (await v.error())["code"] == "rate_limited"
        await v.presence(150, [[3, 3]])  # a caret at the current revision costs one
        await v.ping()
