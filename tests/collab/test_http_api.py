"""The HTTP API (PROTOCOL §4 and §7) against a real server: documents, their operation log,
revisions, versions, restore, autosave, health, metrics and the OpenAPI description."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from collab.wire import DOC_ID
from ot import TextOperation
from tests.collab.conftest import RunningServer, ServerFactory
from tests.collab.helpers import (
    RawClient,
    all_ops,
    doc_text,
    eventually,
    http_client,
    raw_client,
)

DOC = "report"


def timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp with a time zone."""
    assert isinstance(value, str)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None
    return parsed


async def type_words(c: RawClient, words: list[str]) -> list[str]:
    """Append each word as one committed op (waiting for each ack); the text at each rev."""
    text = c.welcome["text"]
    rev = c.welcome["rev"]
    seq = c.welcome["seq"]
    texts = [text]
    for word in words:
        seq += 1
        rev = await c.commit(rev, seq, [len(text), word] if text else [word])
        text += word
        texts.append(text)
    return texts


@pytest.fixture
async def http(server: RunningServer) -> Any:
    async with http_client(server) as client:
        yield client


# -- documents -------------------------------------------------------------------------------


async def test_create_returns_201_and_409_when_the_id_exists(http: httpx.AsyncClient) -> None:
    r = await http.post("/api/docs", json={"id": DOC, "text": "first 👋\n"})
    assert r.status_code == 201
    assert r.json() == {"id": DOC, "rev": 0, "text": "first 👋\n"}
    r = await http.post("/api/docs", json={"id": DOC, "text": "second"})
    assert r.status_code == 409
    assert "detail" in r.json()
    assert await doc_text(http, DOC) == (0, "first 👋\n")


async def test_create_without_an_id_generates_one(http: httpx.AsyncClient) -> None:
    ids = set()
    for _ in range(3):
        r = await http.post("/api/docs", json={})
        assert r.status_code == 201
        body = r.json()
        assert (body["rev"], body["text"]) == (0, "")
        assert DOC_ID.fullmatch(body["id"])
        ids.add(body["id"])
        assert (await http.get(f"/api/docs/{body['id']}")).status_code == 200
    assert len(ids) == 3


async def test_create_with_a_bad_id_is_400(http: httpx.AsyncClient) -> None:
    for bad in ["-dash", ".dot", "a" * 129, "with space", "slash/ed", "", "é"]:
        r = await http.post("/api/docs", json={"id": bad})
        assert r.status_code == 400, bad
        assert "detail" in r.json()
    assert (await http.get("/api/docs")).json() == []


async def test_create_with_invalid_text_is_rejected(http: httpx.AsyncClient) -> None:
    for text in ["lone \\ud800 surrogate", "\\udc00", "nul \\u0000"]:
        body = '{"id": "s", "text": "' + text + '"}'  # JSON escapes, as a client would send
        r = await http.post("/api/docs", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400, text
        assert (await http.get("/api/docs/s")).status_code == 404


async def test_create_over_max_doc_chars_is_rejected(server_factory: ServerFactory) -> None:
    server = await server_factory(max_doc_chars=10)
    async with http_client(server) as http:
        r = await http.post("/api/docs", json={"id": "ok", "text": "x" * 10})
        assert r.status_code == 201
        r = await http.post("/api/docs", json={"id": "big", "text": "x" * 11})
        assert r.status_code == 413
        assert (await http.get("/api/docs/big")).status_code == 404


async def test_list_is_paged_by_id(http: httpx.AsyncClient) -> None:
    ids = [f"doc-{i:02d}" for i in range(25)]
    for doc in reversed(ids):
        assert (await http.post("/api/docs", json={"id": doc})).status_code == 201
    listed: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 10}
        if after is not None:
            params["after"] = after
        page = (await http.get("/api/docs", params=params)).json()
        assert len(page) <= 10
        if not page:
            break
        listed.extend(page)
        after = page[-1]["id"]
    assert [d["id"] for d in listed] == ids
    for d in listed:
        assert set(d) == {"id", "rev", "updated_at"} and d["rev"] == 0
        timestamp(d["updated_at"])
    default = (await http.get("/api/docs")).json()
    assert [d["id"] for d in default] == ids
    assert (await http.get("/api/docs", params={"after": "doc-20"})).json()[0]["id"] == "doc-21"
    for bad in (0, -1, 1001):
        assert (await http.get("/api/docs", params={"limit": bad})).status_code in (400, 422)


async def test_get_returns_the_document_and_404_when_missing(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    async with raw_client(server, DOC) as c:
        await type_words(c, ["one ", "two"])
    r = await http.get(f"/api/docs/{DOC}")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "rev", "text", "created_at", "updated_at"}
    assert (body["id"], body["rev"], body["text"]) == (DOC, 2, "one two")
    assert timestamp(body["created_at"]) <= timestamp(body["updated_at"])
    r = await http.get("/api/docs/nope")
    assert r.status_code == 404 and "detail" in r.json()
    assert (await http.get("/api/docs/-bad")).status_code == 400


async def test_delete_is_204_then_404(http: httpx.AsyncClient) -> None:
    assert (await http.post("/api/docs", json={"id": DOC, "text": "x"})).status_code == 201
    r = await http.delete(f"/api/docs/{DOC}")
    assert r.status_code == 204 and r.content == b""
    assert (await http.get(f"/api/docs/{DOC}")).status_code == 404
    assert (await http.get(f"/api/docs/{DOC}/ops")).status_code == 404
    assert (await http.delete(f"/api/docs/{DOC}")).status_code == 404
    assert [d["id"] for d in (await http.get("/api/docs")).json()] == []
    # The id can be used again, for a fresh document.
    assert (await http.post("/api/docs", json={"id": DOC})).json()["rev"] == 0


# -- the operation log and revisions -----------------------------------------------------------


async def test_ops_are_paged_and_checked(server: RunningServer, http: httpx.AsyncClient) -> None:
    async with raw_client(server, DOC, user={"name": "Ada"}) as c:
        texts = await type_words(c, [f"{i}," for i in range(150)])
    ops = (await http.get(f"/api/docs/{DOC}/ops")).json()
    assert [o["rev"] for o in ops] == list(range(1, 101))  # after=0, limit=100 by default
    first = ops[0]
    assert set(first) == {"rev", "op", "client", "seq", "user", "created_at"}
    assert (first["op"], first["client"], first["seq"], first["user"]) == (
        ["0,"],
        c.client,
        1,
        {"name": "Ada"},
    )
    stamps = [timestamp(o["created_at"]) for o in ops]
    assert stamps == sorted(stamps)
    page = (await http.get(f"/api/docs/{DOC}/ops", params={"after": 100})).json()
    assert [o["rev"] for o in page] == list(range(101, 151))
    page = (await http.get(f"/api/docs/{DOC}/ops", params={"after": 140, "limit": 3})).json()
    assert [o["rev"] for o in page] == [141, 142, 143]
    page = (await http.get(f"/api/docs/{DOC}/ops", params={"limit": 1000})).json()
    assert len(page) == 150
    assert (await http.get(f"/api/docs/{DOC}/ops", params={"after": 150})).json() == []
    text = ""
    for o in await all_ops(http, DOC):
        text = TextOperation.from_json(o["op"]).apply(text)
    assert text == texts[-1]
    bad: list[tuple[dict[str, Any], set[int]]] = [
        ({"after": 151}, {400}),
        ({"after": -1}, {400}),
        ({"limit": 1001}, {400, 422}),
        ({"limit": 0}, {400, 422}),
        ({"after": "x"}, {400, 422}),
    ]
    for params, statuses in bad:
        r = await http.get(f"/api/docs/{DOC}/ops", params=params)
        assert r.status_code in statuses, (params, r.status_code)
    assert (await http.get("/api/docs/nope/ops")).status_code == 404


async def test_revisions_give_the_text_at_every_revision(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    assert (await http.post("/api/docs", json={"id": DOC, "text": "start."})).status_code == 201
    async with raw_client(server, DOC) as c:
        texts = await type_words(c, [" a", " 🙂", "\nb", " c"])
        await c.commit(4, 5, [-3, len(texts[-1]) - 3, "!"])  # "rt. a 🙂\nb c!"
        texts.append(texts[-1][3:] + "!")
    for rev, text in enumerate(texts):
        r = await http.get(f"/api/docs/{DOC}/revisions/{rev}")
        assert r.status_code == 200
        assert r.json() == {"id": DOC, "rev": rev, "text": text}
    assert (await http.get(f"/api/docs/{DOC}/revisions/{len(texts)}")).status_code == 404
    assert (await http.get(f"/api/docs/{DOC}/revisions/-1")).status_code in (400, 404, 422)
    assert (await http.get("/api/docs/nope/revisions/0")).status_code == 404


# -- versions, autosave, restore ---------------------------------------------------------------


async def versions(http: httpx.AsyncClient, doc: str = DOC) -> list[dict[str, Any]]:
    r = await http.get(f"/api/docs/{doc}/versions")
    assert r.status_code == 200
    out: list[dict[str, Any]] = r.json()
    for v in out:
        assert set(v) == {"rev", "kind", "label", "author", "created_at"}
        timestamp(v["created_at"])
    return out


async def test_an_auto_version_is_saved_when_editing_goes_quiet(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(autosave_idle=0.1)
    async with http_client(server) as http, raw_client(server, DOC) as c:
        await type_words(c, ["a", "b", "c"])

        async def saved() -> bool:
            return any(v["kind"] == "auto" and v["rev"] == 3 for v in await versions(http))

        await eventually(saved)
        auto = [v for v in await versions(http) if v["kind"] == "auto"]
        # One version for the burst, not one per operation.
        assert [(v["rev"], v["label"], v["author"]) for v in auto] == [(3, None, None)]


async def test_named_versions(server: RunningServer, http: httpx.AsyncClient) -> None:
    async with raw_client(server, DOC) as c:
        await type_words(c, ["draft"])
        r = await http.post(f"/api/docs/{DOC}/versions", json={"label": "first draft"})
        assert r.status_code == 201
        first = r.json()
        assert (first["rev"], first["kind"], first["label"]) == (1, "named", "first draft")
        timestamp(first["created_at"])
        await c.commit(1, 2, [5, " two"])
        r = await http.post(f"/api/docs/{DOC}/versions", json={"label": "second"})
        assert r.status_code == 201
    named = [v for v in await versions(http) if v["kind"] == "named"]
    assert [(v["rev"], v["label"]) for v in named] == [(2, "second"), (1, "first draft")]
    for body in ({}, {"label": ""}, {"label": 5}):
        r = await http.post(f"/api/docs/{DOC}/versions", json=body)
        assert r.status_code in (400, 422), body
    assert (await http.get("/api/docs/nope/versions")).status_code == 404
    r = await http.post("/api/docs/nope/versions", json={"label": "x"})
    assert r.status_code == 404


async def test_restore_commits_one_server_op_that_live_sessions_receive(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    async with raw_client(server, DOC) as a, raw_client(server, DOC) as b:
        texts = await type_words(a, ["Hello", ", world", "! 🎉", "\nmore"])
        for _ in range(4):
            await b.recv_type("op")
        r = await http.post(f"/api/docs/{DOC}/restore", json={"rev": 2})
        assert r.status_code == 200
        assert r.json() == {"rev": 5}
        for c in (a, b):  # the author of the edits is just another session here
            msg = await c.recv_type("op")
            assert (msg["rev"], msg["client"], msg["seq"]) == (5, None, None)
            assert isinstance(msg["user"], dict)
        assert await doc_text(http, DOC) == (5, texts[2])
        # Sessions go on editing on top of the restore.
        assert await b.commit(5, 1, [len(texts[2]), "."]) == 6
    ops = await all_ops(http, DOC)
    assert (ops[4]["client"], ops[4]["seq"]) == (None, None)
    kinds = [(v["rev"], v["kind"]) for v in await versions(http)]
    assert (5, "restore") in kinds
    assert await doc_text(http, DOC) == (6, texts[2] + ".")


async def test_restore_to_the_current_text_commits_nothing(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    async with raw_client(server, DOC) as a, raw_client(server, DOC) as b:
        await a.recv_type("join")
        await type_words(a, ["x", "y"])
        await a.commit(2, 3, [-1, 1])  # "y"
        await a.commit(3, 4, ["x", 1])  # "xy" again, as at revision 2
        for _ in range(4):
            await b.recv_type("op")
        for rev in (2, 4):
            r = await http.post(f"/api/docs/{DOC}/restore", json={"rev": rev})
            assert r.status_code == 200 and r.json() == {"rev": 4}
        await b.expect_quiet()
    assert len(await all_ops(http, DOC)) == 4
    assert all(v["kind"] != "restore" for v in await versions(http))


async def test_restore_of_a_document_nobody_has_open(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    async with raw_client(server, DOC) as a:
        texts = await type_words(a, ["1", "2", "3"])
    assert (await http.post(f"/api/docs/{DOC}/restore", json={"rev": 0})).json() == {"rev": 4}
    assert await doc_text(http, DOC) == (4, texts[0])
    assert (await http.get(f"/api/docs/{DOC}/revisions/3")).json()["text"] == texts[3]
    assert (await http.post(f"/api/docs/{DOC}/restore", json={"rev": 5})).status_code == 400
    for body in ({"rev": -1}, {}, {"rev": "one"}, {"rev": 1.5}):
        r = await http.post(f"/api/docs/{DOC}/restore", json=body)
        assert r.status_code in (400, 422), body
    assert await doc_text(http, DOC) == (4, texts[0])
    assert (await http.post("/api/docs/nope/restore", json={"rev": 0})).status_code == 404


async def test_autosave_every_n_ops_records_versions_and_snapshots(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(autosave_every=20, autosave_idle=60)
    async with http_client(server) as http, raw_client(server, DOC) as c:
        texts = await type_words(c, [f"{i} " for i in range(45)])
        auto = [(v["rev"], v["kind"]) for v in await versions(http)]
        assert auto == [(40, "auto"), (20, "auto")]
    store = server.services.store
    for rev, snap_rev in [(19, 0), (20, 20), (39, 20), (45, 40)]:
        snap = await store.nearest_snapshot(DOC, rev)
        assert snap is not None and (snap.rev, snap.text) == (snap_rev, texts[snap_rev])


# -- operations endpoints ----------------------------------------------------------------------


async def test_healthz(http: httpx.AsyncClient) -> None:
    r = await http.get("/healthz")
    assert r.status_code == 200


async def test_metrics_count_what_happened(server: RunningServer, http: httpx.AsyncClient) -> None:
    async with raw_client(server, DOC) as c:
        await type_words(c, ["a", "b", "c"])
        await c.op(3, 4, [99])
        assert (await c.error())["code"] == "bad_op"
        r = await http.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        samples = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in r.text.splitlines()
            if line and not line.startswith("#")
        }
    assert samples["collab_connections"] == 1
    assert samples["collab_documents_open"] == 1
    assert samples["collab_ops_committed_total"] == 3
    assert samples['collab_errors_total{code="bad_op"}'] == 1
    assert samples["collab_ack_latency_seconds_count"] == 3
    assert samples["collab_commit_conflicts_total"] == 0
    for name in ("collab_commit_seconds_count", "collab_broadcast_queue_depth"):
        assert name in samples


async def test_openapi_lists_every_endpoint(http: httpx.AsyncClient) -> None:
    r = await http.get("/docs")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    spec = (await http.get("/openapi.json")).json()
    paths = {path: set(ops) for path, ops in spec["paths"].items()}
    expected = {
        "/api/docs": {"get", "post"},
        "/api/docs/{doc_id}": {"get", "delete"},
        "/api/docs/{doc_id}/ops": {"get"},
        "/api/docs/{doc_id}/revisions/{rev}": {"get"},
        "/api/docs/{doc_id}/versions": {"get", "post"},
        "/api/docs/{doc_id}/restore": {"post"},
        "/healthz": {"get"},
        "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= paths.get(path, set()), path
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
