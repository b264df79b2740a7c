"""Authentication and authorization over real WebSockets and HTTP (PROTOCOL §5, docs/security.md
"Identity and access"): each row of the threat model's table is a test here.

The module shares one server started with a JWT secret (each test on its own documents);
tests that need other settings (an origin allow-list, a per-address limit, debug logging)
start their own. Tokens come from :func:`collab.jwt_auth.mint` (what ``collab token``
prints) or are made by hand with PyJWT when a test needs a claim ``mint`` would not write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from fastapi.routing import APIRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from collab import cli
from collab.api import router as api_router
from collab.jwt_auth import mint
from collab.settings import Settings
from ot import TextOperation
from tests.collab.conftest import RunningServer, start_server
from tests.collab.helpers import TIMEOUT, RawClient, eventually, new_client_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "collab-test-secret-" + "0123456789abcdef" * 3  # 67 bytes: enough even for HS512
OTHER_SECRET = "not-the-server-secret-" + "0123456789abcdef" * 3
ALL = {"*": "edit"}


# -- tokens -----------------------------------------------------------------------------------


def token(user: str = "ada", name: str = "Ada", docs: dict[str, str] | None = None) -> str:
    """A valid token, as ``collab token`` makes it."""
    return mint(SECRET, user, name, ALL if docs is None else docs)


def forge(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    """A hand-made token: any claims, any key, any algorithm."""
    full = {"sub": "ada", "name": "Ada", "docs": ALL, "exp": int(time.time()) + 3600}
    full.update(claims)
    return jwt.encode({k: v for k, v in full.items() if v is not None}, secret, algorithm)


def alg_none_token() -> str:
    """An unsigned token (``alg: none``) with generous claims."""
    return forge({}, secret="", algorithm="none")


BAD_TOKENS: dict[str, Any] = {
    "expired": lambda: forge({"exp": int(time.time()) - 10}),
    "wrong signature": lambda: forge({}, secret=OTHER_SECRET),
    "tampered payload": lambda: _tamper(token(docs={"own-*": "view"})),
    "alg none": alg_none_token,
    "alg HS512 with the right secret": lambda: forge({}, algorithm="HS512"),
    "no exp": lambda: forge({"exp": None}),
    "no sub": lambda: forge({"sub": None}),
    "docs not an object": lambda: forge({"docs": ["*"]}),
    "docs with an unknown grant": lambda: forge({"docs": {"*": "admin"}}),
    "garbage": lambda: "not-a-token",
    "lone surrogate": lambda: "eyJ\ud800.x.y",
}


def _tamper(tok: str) -> str:
    """The same signature over a payload that grants everything."""
    header, _, sig = tok.split(".")
    claims = jwt.decode(tok, SECRET, algorithms=["HS256"])
    claims["docs"] = ALL
    body = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{body}.{sig}"


# -- servers and clients ----------------------------------------------------------------------


def _settings(path: Path, **overrides: Any) -> Settings:
    overrides.setdefault("jwt_secret", SECRET)
    return Settings.from_env(
        {}, database_url=f"sqlite+aiosqlite:///{path}", unload_grace=0.2, **overrides
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def srv(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    """A server with a JWT secret, shared by the module."""
    server = await start_server(_settings(tmp_path_factory.mktemp("auth") / "collab.db"))
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, **overrides: Any) -> AsyncIterator[RunningServer]:
    """A server of this test's own, with a JWT secret and ``overrides``."""
    server = await start_server(_settings(tmp_path / f"{uuid.uuid4().hex}.db", **overrides))
    try:
        yield server
    finally:
        await server.stop()


def new_doc(prefix: str = "d") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.asynccontextmanager
async def ws(
    server: RunningServer,
    doc: str,
    *,
    header_token: str | None = None,
    origin: str | None = None,
    query: str = "",
    client: str | None = None,
) -> AsyncIterator[RawClient]:
    """A connected, not yet welcomed RawClient (``header_token``: Authorization: Bearer)."""
    headers = {"Authorization": f"Bearer {header_token}"} if header_token else None
    async with connect(
        server.ws(doc) + query,
        additional_headers=headers,
        origin=Origin(origin) if origin is not None else None,
        compression=None,
        max_queue=None,
        open_timeout=TIMEOUT,
    ) as conn:
        yield RawClient(conn, client or new_client_id())


async def send_hello(c: RawClient, tok: str | None, user: dict[str, Any] | None = None) -> None:
    await c.send(
        {
            "type": "hello",
            "protocol": 1,
            "client": c.client,
            "token": tok,
            "user": user if user is not None else {"name": c.client},
        }
    )


async def refused(c: RawClient) -> tuple[int | None, list[Any]]:
    """Wait for the server to close; the close code and every frame that came before it."""
    frames: list[Any] = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(TIMEOUT):
            while True:
                frames.append(await c.ws.recv())
    return c.ws.close_code, frames


@contextlib.asynccontextmanager
async def welcomed(
    server: RunningServer, doc: str, tok: str, user: dict[str, Any] | None = None, **kw: Any
) -> AsyncIterator[RawClient]:
    async with ws(server, doc, **kw) as c:
        await send_hello(c, tok, user)
        c.welcome = await c.recv_type("welcome")
        yield c


@contextlib.asynccontextmanager
async def http(server: RunningServer, tok: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {tok}"} if tok is not None else {}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=TIMEOUT) as h:
        yield h


async def make_doc(server: RunningServer, doc: str, text: str) -> None:
    async with http(server, token(user="admin")) as h:
        r = await h.post("/api/docs", json={"id": doc, "text": text})
        assert r.status_code == 201, r.text


async def state(server: RunningServer, doc: str) -> tuple[int, str, list[dict[str, Any]]]:
    """``(rev, text, op log)`` as an administrator sees them."""
    async with http(server, token(user="admin")) as h:
        r = await h.get(f"/api/docs/{doc}")
        assert r.status_code == 200, r.text
        ops = await h.get(f"/api/docs/{doc}/ops", params={"limit": 1000})
        assert ops.status_code == 200, ops.text
        return r.json()["rev"], r.json()["text"], ops.json()


def api_calls(server: RunningServer, doc: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """One request per method of every ``/api`` route of the app, aimed at ``doc``: a route
    added later is covered without editing this list."""
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/docs"): {"id": doc, "text": "planted"},
        ("POST", "/api/docs/{doc_id}/versions"): {"label": "mine"},
        ("POST", "/api/docs/{doc_id}/restore"): {"rev": 0},
    }
    calls = []
    routes = {
        (method, route.path)
        for route in [*server.app.routes, *api_router.routes]
        if isinstance(route, APIRoute) and route.path.startswith("/api/")
        for method in route.methods or ()
    }
    for method, route_path in sorted(routes):
        path = route_path.replace("{doc_id}", doc).replace("{rev}", "0")
        calls.append((method, path, bodies.get((method, route_path))))
    assert len(calls) >= 9, calls  # create, list, get, delete, ops, revision, versions x2, restore
    return calls


async def call(h: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    return await h.request(method, path, json=body)


# -- no token, bad tokens ---------------------------------------------------------------------


async def test_no_token_is_refused_everywhere_but_healthz(srv: RunningServer) -> None:
    doc = new_doc()
    await make_doc(srv, doc, "private text")
    async with ws(srv, doc) as c:
        await send_hello(c, None)
        assert await refused(c) == (4401, [])
    async with http(srv) as h:
        for method, path, body in api_calls(srv, doc):
            r = await call(h, method, path, body)
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert "private text" not in r.text
        assert (await h.get("/healthz")).status_code == 200
        assert (await h.get("/metrics")).status_code == 401
        # No API description either (it would tell an anonymous caller the routes).
        for page in ("/docs", "/redoc", "/openapi.json"):
            assert (await h.get(page)).status_code == 404, page
    async with http(srv, token()) as h:
        assert (await h.get("/metrics")).status_code == 200
    assert (await state(srv, doc))[:2] == (0, "private text")


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_a_bad_token_is_4401_and_401(srv: RunningServer, kind: str) -> None:
    doc = new_doc()
    await make_doc(srv, doc, "private text")
    bad = BAD_TOKENS[kind]()
    async with ws(srv, doc) as c:
        await send_hello(c, bad)
        assert await refused(c) == (4401, [])
    if kind != "lone surrogate":  # not encodable in a header at all
        async with ws(srv, doc, header_token=bad) as c:
            await send_hello(c, None)
            assert await refused(c) == (4401, [])
        async with http(srv, bad) as h:
            for method, path, body in api_calls(srv, doc):
                r = await call(h, method, path, body)
                assert r.status_code == 401, (method, path, r.status_code)
                assert bad not in r.text and "private text" not in r.text
            assert (await h.get("/metrics")).status_code == 401
    assert (await state(srv, doc))[:2] == (0, "private text")


async def test_the_token_works_in_hello_and_in_the_authorization_header(
    srv: RunningServer,
) -> None:
    doc = new_doc()
    tok = token()
    async with welcomed(srv, doc, tok) as a:
        assert a.welcome["role"] == "edit"
        assert await a.commit(a.welcome["rev"], 1, ["by hello"]) == 1
    async with ws(srv, doc, header_token=tok) as b:
        await send_hello(b, None)
        welcome = await b.recv_type("welcome")
        assert welcome["role"] == "edit" and welcome["text"] == "by hello"
        assert await b.commit(welcome["rev"], 1, [8, " and header"]) == 2
    async with http(srv, tok) as h:
        r = await h.get(f"/api/docs/{doc}")
        assert r.status_code == 200 and r.json()["text"] == "by hello and header"


async def test_a_token_in_the_url_query_is_not_accepted(srv: RunningServer) -> None:
    doc = new_doc()
    await make_doc(srv, doc, "private text")
    tok = token()
    for query in (f"?token={tok}", f"?access_token={tok}", f"?authorization=Bearer%20{tok}"):
        async with ws(srv, doc, query=query) as c:
            await send_hello(c, None)
            assert await refused(c) == (4401, []), query
        async with httpx.AsyncClient(timeout=TIMEOUT) as h:
            r = await h.get(f"{srv.url}/api/docs/{doc}{query}")
            assert r.status_code == 401, query


# -- roles ------------------------------------------------------------------------------------


async def test_a_view_grant_receives_everything_and_changes_nothing(srv: RunningServer) -> None:
    doc = new_doc()
    await make_doc(srv, doc, "base")
    viewer_tok = token(user="vic", name="Vic", docs={doc: "view"})
    async with (
        welcomed(srv, doc, token(user="ed", name="Ed")) as editor,
        welcomed(srv, doc, viewer_tok) as viewer,
    ):
        assert viewer.welcome["role"] == "view" and viewer.welcome["text"] == "base"
        assert editor.welcome["role"] == "edit"
        await editor.recv_type("join")

        # It receives operations and presence like any session ...
        assert await editor.commit(0, 1, [4, "!"]) == 1
        op = await viewer.recv_type("op")
        assert (op["rev"], op["op"], op["client"]) == (1, [4, "!"], editor.client)
        await editor.presence(1, [[2, 2]])
        presence = await viewer.recv_type("presence")
        assert presence["client"] == editor.client and presence["selection"] == [[2, 2]]

        # ... and its operation is refused with its seq, changing nothing.
        await viewer.op(1, 1, [5, " vandal"])
        err = await viewer.error()
        assert (err["code"], err["seq"]) == ("forbidden", 1)
        await viewer.op(1, 2, [-5])  # nor any other operation
        assert (await viewer.error())["code"] == "forbidden"
        await editor.expect_quiet(ignore=("presence",))
        await viewer.ping()

    rev, text, log = await state(srv, doc)
    assert (rev, text) == (1, "base!")
    assert [(r["client"], r["seq"]) for r in log] == [(editor.client, 1)]

    async with http(srv, viewer_tok) as h:
        for method, path, body in api_calls(srv, doc):
            r = await call(h, method, path, body)
            if method == "GET":
                assert r.status_code == 200, (method, path, r.text)
            else:
                assert r.status_code == 403, (method, path, r.status_code, r.text)
    rev, text, log = await state(srv, doc)
    assert (rev, text, len(log)) == (1, "base!", 1)
    async with http(srv, token(user="admin")) as h:
        versions = (await h.get(f"/api/docs/{doc}/versions")).json()
        assert [v for v in versions if v["kind"] != "auto"] == []


async def test_another_document_gets_4403_and_not_a_byte(srv: RunningServer) -> None:
    secret_doc = new_doc("secret")
    await make_doc(srv, secret_doc, "TOP SECRET plans")
    async with welcomed(srv, secret_doc, token(user="admin")) as owner:
        await owner.commit(0, 1, [16, " (rev 1)"])
    tok = token(user="eve", name="Eve", docs={"notes-*": "edit"})

    for hello_token, header in ((tok, None), (None, tok)):
        async with ws(srv, secret_doc, header_token=header) as c:
            await send_hello(c, hello_token)
            code, frames = await refused(c)
        assert (code, frames) == (4403, [])  # no welcome, no op, nothing

    # A document that does not exist is not created by someone without a grant for it.
    missing = new_doc("secret")
    async with ws(srv, missing) as c:
        await send_hello(c, tok)
        assert await refused(c) == (4403, [])

    async with http(srv, tok) as h:
        for doc in (secret_doc, missing):
            for method, path, body in api_calls(srv, doc):
                r = await call(h, method, path, body)
                if (method, path) == ("GET", "/api/docs"):
                    assert r.status_code == 200
                    assert [d for d in r.json() if d["id"] in (secret_doc, missing)] == []
                else:
                    # 403 whether or not it exists: no existence oracle either.
                    assert r.status_code == 403, (method, path, r.status_code)
                assert "SECRET" not in r.text and "rev 1" not in r.text
        # The static editor shell answers without a token but carries no document data.
        shell = await h.get(f"/d/{secret_doc}", follow_redirects=False)
        assert "SECRET" not in shell.text

    assert (await state(srv, secret_doc))[:2] == (1, "TOP SECRET plans (rev 1)")
    async with http(srv, token(user="admin")) as h:
        assert (await h.get(f"/api/docs/{missing}")).status_code == 404


@pytest.mark.parametrize(
    "grants",
    [
        {"notes-*": "edit", "*": "view"},
        {"*": "view", "notes-*": "edit"},  # order does not matter: the highest grant wins
    ],
    ids=["specific-first", "wildcard-first"],
)
async def test_wildcard_grants_and_the_highest_grant_wins(
    srv: RunningServer, grants: dict[str, str]
) -> None:
    notes, other = new_doc("notes"), new_doc("misc")
    await make_doc(srv, other, "read only")
    tok = token(user="gus", name="Gus", docs=grants)
    async with welcomed(srv, notes, tok) as a:  # created: an edit grant may create
        assert a.welcome["role"] == "edit"
        assert await a.commit(0, 1, ["mine"]) == 1
    async with welcomed(srv, other, tok) as b:
        assert b.welcome["role"] == "view" and b.welcome["text"] == "read only"
        await b.op(0, 1, [9, "!"])
        assert (await b.error())["code"] == "forbidden"
    async with http(srv, tok) as h:
        assert (await h.post(f"/api/docs/{notes}/versions", json={"label": "v"})).status_code == 201
        assert (await h.post(f"/api/docs/{other}/versions", json={"label": "v"})).status_code == 403
        assert (await h.get(f"/api/docs/{other}")).json()["text"] == "read only"
        assert (await h.post("/api/docs", json={"id": new_doc("notes")})).status_code == 201
        assert (await h.post("/api/docs", json={"id": new_doc("misc")})).status_code == 403
    assert (await state(srv, other))[:2] == (0, "read only")


async def test_an_edit_wildcard_beats_a_more_specific_view_grant(srv: RunningServer) -> None:
    notes = new_doc("notes")
    tok = token(docs={"*": "edit", "notes-*": "view"})
    async with welcomed(srv, notes, tok) as a:
        assert a.welcome["role"] == "edit"


@pytest.mark.parametrize(
    ("pattern", "doc", "role"),
    [
        ("notes-?", "notes-a", "view"),
        ("notes-[ab]", "notes-b", "view"),
        ("notes-[ab]", "notes-c", None),
        ("notes-*", "Notes-1", None),  # case-sensitive
        ("notes-*", "xnotes-1", None),  # anchored at the start
        ("notes", "notes-1", None),  # a plain pattern is the exact id
    ],
)
async def test_glob_patterns(srv: RunningServer, pattern: str, doc: str, role: str | None) -> None:
    doc = f"{doc}{uuid.uuid4().hex[:6]}" if pattern.endswith("*") or pattern == "notes" else doc
    if role is not None:
        await make_doc(srv, doc, "")
    async with ws(srv, doc) as c:
        await send_hello(c, token(docs={pattern: "view"}))
        if role is None:
            assert await refused(c) == (4403, [])
        else:
            welcome = await c.recv_type("welcome")
            assert welcome["role"] == role


async def test_the_user_name_comes_from_the_token(srv: RunningServer) -> None:
    doc = new_doc()
    async with welcomed(srv, doc, token(user="obs", name="Observer")) as observer:
        spoof = {"name": "Mallory the Admin", "color": "#00ff00"}
        async with welcomed(srv, doc, token(user="ada", name="Ada"), user=spoof) as ada:
            join = await observer.recv_type("join")
            assert join["user"] == {"name": "Ada", "color": "#00ff00"}
            assert await ada.commit(0, 1, ["hi"]) == 1
            op = await observer.recv_type("op")
            assert op["user"]["name"] == "Ada"
        # A token without a name: the user id stands in for it.
        nameless = forge({"sub": "u-42", "name": None})
        async with welcomed(srv, doc, nameless, user={"name": "Someone Else"}):
            join = await observer.recv_type("join")
            assert join["user"]["name"] == "u-42"
    _, _, log = await state(srv, doc)
    assert [r["user"]["name"] for r in log] == ["Ada"]


async def test_a_session_ends_with_4401_when_its_token_expires(srv: RunningServer) -> None:
    doc = new_doc()
    short = mint(SECRET, "temp", "Temp", ALL, ttl=1.5)
    exp = jwt.decode(short, SECRET, algorithms=["HS256"])["exp"]  # 0.5 to 1.5 s away
    async with (
        welcomed(srv, doc, token(user="stay")) as stays,
        welcomed(srv, doc, short) as temp,
    ):
        assert await temp.commit(temp.welcome["rev"], 1, ["before expiry"]) == 1
        code = await temp.closed(timeout=exp - time.time() + 3.0)
        ended = time.time()
        assert code == 4401
        assert exp - 0.05 <= ended <= exp + 2.0, (exp, ended)
        await stays.ping()  # only that session ended
    _, text, _ = await state(srv, doc)
    assert text == "before expiry"


# -- client ids -------------------------------------------------------------------------------


async def test_a_client_id_belongs_to_the_user_who_used_it_first(srv: RunningServer) -> None:
    doc = new_doc()
    cid = new_client_id()
    ada, bob = token(user="ada", name="Ada"), token(user="bob", name="Bob")
    async with welcomed(srv, doc, ada, client=cid) as a:
        assert await a.commit(0, 1, ["A1 "]) == 1
        # Bob presenting Ada's id while she is connected: refused, and her session is not
        # replaced (no 4409) ...
        async with ws(srv, doc, client=cid) as b:
            await send_hello(b, bob)
            assert await refused(b) == (4400, [])
        # ... nor are her operations taken for duplicates: seq 2 is hers and new.
        assert await a.commit(1, 2, [3, "A2 "]) == 2

    # With Ada gone, Bob still cannot take the id (she committed with it).
    async with ws(srv, doc, client=cid) as b:
        await send_hello(b, bob)
        assert await refused(b) == (4400, [])
    # Ada comes back with her id: welcomed with her last seq; a resend is deduplicated.
    async with welcomed(srv, doc, ada, client=cid) as a:
        assert a.welcome["seq"] == 2
        assert await a.commit(0, 2, [3, "A2 "]) == 2
        assert await a.commit(2, 3, [6, "A3"]) == 3
    # Another id of Bob's own works as usual.
    async with welcomed(srv, doc, bob) as b2:
        assert await b2.commit(3, 1, [8, "!"]) == 4

    rev, text, log = await state(srv, doc)
    assert (rev, text) == (4, "A1 A2 A3!")
    assert [r["user"]["name"] for r in log] == ["Ada", "Ada", "Ada", "Bob"]
    assert [(r["client"], r["seq"]) for r in log[:3]] == [(cid, 1), (cid, 2), (cid, 3)]


async def test_a_live_session_is_not_replaced_by_another_users_connection(
    srv: RunningServer,
) -> None:
    """Before Ada has committed anything with her id, it is hers while she is connected."""
    doc = new_doc()
    cid = new_client_id()
    async with welcomed(srv, doc, token(user="ada", name="Ada"), client=cid) as a:
        async with ws(srv, doc, client=cid) as b:
            await send_hello(b, token(user="bob", name="Bob"))
            assert await refused(b) == (4400, [])
        await a.ping()  # not closed with 4409
        assert await a.commit(0, 1, ["still Ada's"]) == 1
    # The same user reconnecting with the id replaces her own older session, as usual.
    ada = token(user="ada", name="Ada")
    async with (
        welcomed(srv, doc, ada, client=cid) as old,
        welcomed(srv, doc, ada, client=cid) as new,
    ):
        assert await old.closed() == 4409
        assert new.welcome["seq"] == 1


# -- origins ----------------------------------------------------------------------------------


async def test_a_foreign_origin_is_refused_before_the_websocket_is_accepted(
    srv: RunningServer,
) -> None:
    doc = new_doc()
    own = f"http://127.0.0.1:{srv.port}"
    for origin in (
        "https://evil.example",
        f"http://127.0.0.1:{srv.port + 1}",
        f"http://127.0.0.1:{srv.port}.evil.example",
        "null",
    ):
        with pytest.raises(InvalidStatus) as info:
            async with ws(srv, doc, origin=origin):
                pass
        assert info.value.response.status_code == 403, origin
    # The server's own origin, and no Origin at all (a non-browser client), are accepted.
    async with welcomed(srv, doc, token(), origin=own) as a:
        assert a.welcome["role"] == "edit"
    async with welcomed(srv, doc, token()) as b:
        assert b.welcome["role"] == "edit"


async def test_the_allowed_origins_list_replaces_the_default(tmp_path: Path) -> None:
    async with running(tmp_path, allowed_origins=("http://a.example",)) as server:
        doc = new_doc()
        async with welcomed(server, doc, token(), origin="http://a.example") as a:
            assert a.welcome["role"] == "edit"
        for origin in (
            "http://b.example",
            f"http://127.0.0.1:{server.port}",
            "http://a.example:80",
        ):
            with pytest.raises(InvalidStatus) as info:
                async with ws(server, doc, origin=origin):
                    pass
            assert info.value.response.status_code == 403, origin
        async with welcomed(server, doc, token()) as b:  # no Origin: still fine
            assert b.welcome["role"] == "edit"


# -- connections per address ------------------------------------------------------------------


async def test_connections_per_address_are_limited(tmp_path: Path) -> None:
    async with running(tmp_path, ws_per_address=2) as server:
        doc = new_doc()
        tok = token()
        async with welcomed(server, doc, tok) as a:
            async with welcomed(server, doc, tok) as b:
                async with ws(server, doc) as c:
                    await send_hello(c, tok)
                    assert await refused(c) == (4429, [])
                await a.ping()
                await b.ping()

            # b has gone: a new connection is accepted again (once the server has noticed).
            async def accepted() -> bool:
                async with ws(server, doc) as d:
                    await send_hello(d, tok)
                    try:
                        return bool((await d.recv())["type"] == "welcome")
                    except ConnectionClosed:
                        return False

            await eventually(accepted)


# -- logs and settings ------------------------------------------------------------------------


async def test_tokens_never_appear_in_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    uvicorn_logs = [logging.getLogger("uvicorn"), logging.getLogger("uvicorn.access")]
    try:
        async with running(tmp_path) as server:
            # Also what `collab serve --log-level debug` turns on: uvicorn's logger, which the
            # WebSocket protocol uses for its handshake and frame traces. (Hooked up after the
            # start: uvicorn's logging setup replaces the handlers of its loggers.)
            caplog.set_level(logging.DEBUG, logger="uvicorn.error")
            caplog.set_level(logging.INFO, logger="uvicorn.access")  # as with --access-log
            for logger in uvicorn_logs:  # neither propagates to the root logger
                logger.addHandler(caplog.handler)
            doc = new_doc()
            good = token(docs={doc: "edit"})
            other = token(user="eve", docs={"nothing-*": "edit"})
            bad = [f() for kind, f in BAD_TOKENS.items() if kind != "lone surrogate"]
            secrets_seen = [good, other, *bad]
            for tok in [good, other, *bad]:
                for in_hello in (True, False):
                    async with ws(server, doc, header_token=None if in_hello else tok) as c:
                        await send_hello(c, tok if in_hello else None)
                        if tok == good:
                            await c.recv_type("welcome")
                        else:
                            await refused(c)
                async with http(server, tok) as h:
                    await h.get(f"/api/docs/{doc}")
                    await h.post("/api/docs", json={"id": doc})
                async with http(server) as h:  # refused, and kept out of the access log
                    await h.get(f"/api/docs/{doc}", params={"token": tok})
            async with welcomed(server, doc, good) as a:
                await a.op(0, 1, ["x"])
                await a.op(0, 9, ["x"])  # bad_seq: an error logged at INFO
                await a.error()
    finally:
        for logger in uvicorn_logs:
            logger.removeHandler(caplog.handler)

    # What the test's own clients log (their frames, httpx's request lines) is not the
    # server's doing; everything else in this process is the server.
    client_side = ("websockets.client", "httpx", "httpcore")
    records = [r for r in caplog.records if not r.name.startswith(client_side)]
    assert any(r.name.startswith("collab") for r in records)
    assert any(r.name == "uvicorn.error" for r in records)  # the debug traces are on
    assert any(r.name == "uvicorn.access" for r in records)
    leaks = []
    for r in records:
        seen = " ".join(
            [r.getMessage(), repr(r.args), str(r.msg), r.exc_text or "", repr(r.exc_info)]
        )
        for tok in secrets_seen:
            # The whole token, or its signature (the part that makes it usable).
            sig = tok.rsplit(".", 1)[-1]
            if tok in seen or (len(sig) >= 16 and sig in seen):
                leaks.append(f"{r.name} {r.levelname}: {r.getMessage()[:200]}")
    assert leaks == [], "\n".join(leaks)
    assert SECRET not in caplog.text


async def test_settings_masked_hides_the_secret_and_passwords() -> None:
    s = Settings(
        jwt_secret=SECRET,
        database_url="postgresql+asyncpg://collab:db-pass-123@db.internal:5432/collab",
        redis_url="redis://:redis-pass-456@cache.internal:6379/0",
    )
    masked = s.masked()
    text = repr(masked)
    for secret in (SECRET, "db-pass-123", "redis-pass-456"):
        assert secret not in text
    assert masked["jwt_secret"] == "***"
    assert masked["database_url"] == "postgresql+asyncpg://collab:***@db.internal:5432/collab"
    assert "db.internal" in masked["database_url"] and "cache.internal" in masked["redis_url"]
    assert SECRET not in repr(s)
    assert Settings().masked()["jwt_secret"] is None  # open mode says so


# -- collab token -----------------------------------------------------------------------------


async def test_collab_token_prints_a_token_the_server_accepts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["token", "--user", "u-7", "--name", "Grace", "--docs", "notes-*=edit,*=view"]
    assert cli.main([*argv, "--ttl", "120", "--secret", SECRET]) == 0
    printed = capsys.readouterr().out.strip()
    claims = jwt.decode(printed, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "u-7" and claims["name"] == "Grace"
    assert claims["docs"] == {"notes-*": "edit", "*": "view"}
    assert time.time() + 100 <= claims["exp"] <= time.time() + 121

    # The secret from the environment; --docs repeated; the name defaults to the user id.
    monkeypatch.setenv("COLLAB_JWT_SECRET", OTHER_SECRET)
    assert cli.main(["token", "--user", "u-8", "--docs", "a=view", "--docs", "b=edit"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), OTHER_SECRET, algorithms=["HS256"])
    assert (claims["name"], claims["docs"]) == ("u-8", {"a": "view", "b": "edit"})

    assert cli.main(["token", "--user", "u", "--docs", "x=admin"]) == 2
    monkeypatch.delenv("COLLAB_JWT_SECRET")
    assert cli.main(["token", "--user", "u"]) == 2
    assert capsys.readouterr().out == ""


async def test_a_token_from_the_cli_opens_a_session(
    srv: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = new_doc("notes")
    argv = ["token", "--user", "cli-user", "--docs", "notes-*=edit", "--secret", SECRET]
    assert cli.main(argv) == 0
    tok = capsys.readouterr().out.strip()
    async with welcomed(srv, doc, tok) as c:
        assert c.welcome["role"] == "edit"
        assert await c.commit(0, 1, ["from the cli"]) == 1
    _, text, log = await state(srv, doc)
    assert text == "from the cli" and log[0]["user"] == {"name": "cli-user"}
    assert TextOperation.from_json(log[0]["op"]).apply("") == text
