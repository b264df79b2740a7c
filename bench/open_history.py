"""Time to open a document with a long history.

    .venv/bin/python -m bench open_history [--revisions 100000] [--docs 3] [--tail-docs 2]
                                           [--rounds 3]

Builds, through the store API (:class:`collab.store.sqlite.SqliteStore`: ``commit`` in batches
of 500 single-revision operations, ``save_snapshot`` and an ``auto`` version every 500
revisions, where the server's autosave would have put them), documents of ``--revisions``
revisions each: a typist's one-character inserts at a moving caret, 10 % backspaces, the caret
jumping elsewhere now and then. ``--docs`` of them have a snapshot at their last revision;
``3 x --tail-docs`` more lack the last one, so that opening them replays a tail of 500
operations (as after a server stopped just before its autosave; unloading such a document
saves a snapshot, so each is measured cold once). Then starts ``collab serve`` on that file
(``COLLAB_UNLOAD_GRACE`` short, so that a closed document is unloaded and the next open is
cold again) and measures, the document verified unloaded before every cold case:

* WebSocket cold: connect, then hello -> welcome (with the full text) timed;
* WebSocket warm: a second client's hello -> welcome while the first keeps it open;
* WebSocket catch-up, cold: hello with ``rev`` 1,000 revisions back -> welcome with 1,000 ops;
* HTTP cold and warm: ``GET /api/docs/{id}``.

Reported: medians (and max) per case; target <= 50 ms for the cold opens. Prints a markdown
table and writes bench/results/open_history.json.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.common import Server, connect_kwargs, hello, log, machine, table, write_result
from collab.store.base import NewOp
from collab.store.sqlite import SqliteStore
from ot import TextBuffer, TextOperation, from_splice

TARGET_MS = 50.0
BATCH = 500
CATCH_UP = 1000


def typing_ops(revisions: int, seed: int) -> list[list[int | str]]:
    """``revisions`` single-character operations of a typist, as JSON component lists."""
    rng = random.Random(seed)
    words = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "we")
    ops: list[list[int | str]] = []
    length = caret = 0
    word, i = "", 0
    while len(ops) < revisions:
        if length and rng.random() < 0.01:
            caret = rng.randint(0, length)
        if caret and rng.random() < 0.1:
            ops.append(from_splice(length, caret - 1, 1, "").to_json())
            caret -= 1
            length -= 1
            continue
        if i >= len(word):
            word = rng.choice(words) + rng.choice("  ,.\n")
            i = 0
        ops.append(from_splice(length, caret, 0, word[i]).to_json())
        i += 1
        caret += 1
        length += 1
    return ops


async def build(path: Path, doc_ids: list[str], ops: list[list[int | str]], tail: bool) -> float:
    """Commit ``ops`` to every document of ``doc_ids`` through the store; returns seconds."""
    t0 = time.perf_counter()
    store = SqliteStore(f"sqlite+aiosqlite:///{path}")
    await store.open()
    user = {"name": "typist"}
    try:
        # The texts at each snapshot revision, computed once for all documents.
        buf = TextBuffer()
        snapshots: dict[int, str] = {}
        for rev, op in enumerate(ops, 1):
            buf.apply(TextOperation.from_json(op))
            if rev % BATCH == 0:
                snapshots[rev] = str(buf)
        last = len(ops)
        for doc_id in doc_ids:
            await store.create_document(doc_id)
            client = f"typist-{doc_id}"
            for start in range(0, last, BATCH):
                batch = [
                    NewOp(rev, ops[rev - 1], client, rev, user)
                    for rev in range(start + 1, min(last, start + BATCH) + 1)
                ]
                await store.commit(doc_id, batch)
                rev = batch[-1].rev
                if rev in snapshots and not (tail and rev > last - BATCH):
                    await store.save_snapshot(doc_id, rev, snapshots[rev])
                    await store.add_version(doc_id, rev, "auto", None, None)
    finally:
        await store.close()
    return time.perf_counter() - t0


async def ws_open(
    url: str, client: str, rev: int | None = None
) -> tuple[float, float, dict[str, Any]]:
    """Connect, then hello -> welcome. Returns (connect s, hello->welcome s, welcome), and
    keeps the connection in ``_open``."""
    t0 = time.perf_counter()
    ws = await connect(url, **connect_kwargs())
    t1 = time.perf_counter()
    await ws.send(hello(client, rev))
    while True:
        msg = orjson.loads(await ws.recv())
        if msg["type"] in ("welcome", "error"):
            break
    t2 = time.perf_counter()
    if msg["type"] != "welcome":
        raise RuntimeError(f"{client}: {msg}")
    _open.append(ws)
    return t1 - t0, t2 - t1, msg


_open: list[ClientConnection] = []


async def close_all() -> None:
    await asyncio.gather(*(ws.close() for ws in _open), return_exceptions=True)
    _open.clear()


def http_get(url: str) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        body = orjson.loads(r.read())
    return time.perf_counter() - t0, body


async def wait_unloaded(server: Server, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.metrics().get("collab_documents_open", 1) == 0:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("documents stay loaded")


async def measure(
    server: Server, docs: list[str], tail_docs: list[str], rev: int, rounds: int
) -> dict[str, list[float]]:
    cases: dict[str, list[float]] = {}
    text_chars = 0

    def add(case: str, seconds: float) -> None:
        cases.setdefault(case, []).append(seconds * 1e3)

    async def ws_case(doc_id: str, kind: str, tag: str) -> None:
        nonlocal text_chars
        url = f"{server.ws}/ws/{doc_id}"
        await wait_unloaded(server)
        conn_s, open_s, welcome = await ws_open(url, f"{tag}a")
        if welcome["rev"] != rev:
            raise RuntimeError(f"{doc_id}: welcome rev {welcome['rev']}, expected {rev}")
        text_chars = len(welcome["text"])
        add(f"WebSocket hello -> welcome, cold ({kind})", open_s)
        add(f"WebSocket connect + hello -> welcome, cold ({kind})", conn_s + open_s)
        _, warm_s, _ = await ws_open(url, f"{tag}b")
        add(f"WebSocket hello -> welcome, warm ({kind})", warm_s)
        await close_all()

    async def catch_up_case(doc_id: str, kind: str, tag: str) -> None:
        await wait_unloaded(server)
        _, catch_s, welcome = await ws_open(f"{server.ws}/ws/{doc_id}", f"{tag}c", rev - CATCH_UP)
        if len(welcome.get("ops", ())) != CATCH_UP:
            raise RuntimeError(f"{doc_id}: catch-up welcome without {CATCH_UP} ops")
        add(f"WebSocket catch-up of {CATCH_UP:,} ops, cold ({kind})", catch_s)
        await close_all()

    async def get_case(doc_id: str, kind: str) -> None:
        await wait_unloaded(server)
        get_s, body = http_get(f"{server.url}/api/docs/{doc_id}")
        if body["rev"] != rev:
            raise RuntimeError(f"{doc_id}: GET answered rev {body['rev']}")
        add(f"GET /api/docs/{{id}}, cold ({kind})", get_s)
        get_s, _ = http_get(f"{server.url}/api/docs/{doc_id}")
        add(f"GET /api/docs/{{id}}, warm ({kind})", get_s)

    for rnd in range(rounds):
        for doc_id in docs:
            await ws_case(doc_id, "tail 0", f"r{rnd}")
            await catch_up_case(doc_id, "tail 0", f"r{rnd}")
            await get_case(doc_id, "tail 0")
    # A document with a tail is cold with its tail only once: unloading it saves a snapshot.
    kind = f"tail {BATCH}"
    for i, doc_id in enumerate(tail_docs):
        if i % 3 == 0:
            await ws_case(doc_id, kind, "t")
        elif i % 3 == 1:
            await catch_up_case(doc_id, kind, "t")
        else:
            await get_case(doc_id, kind)
    cases["_text_chars"] = [float(text_chars)]
    return cases


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="collab-open-history-") as tmp:
        path = Path(tmp) / "history.db"
        t0 = time.perf_counter()
        ops = typing_ops(args.revisions, 7)
        gen_s = time.perf_counter() - t0
        names = [f"hist-{i}" for i in range(args.docs)]
        tail_names = [f"hist-tail-{i}" for i in range(3 * args.tail_docs)]
        build_s = await build(path, names, ops, tail=False)
        build_s += await build(path, tail_names, ops, tail=True)
        size_mib = sum(p.stat().st_size for p in Path(tmp).glob("history.db*")) / 2**20
        log(
            f"built {len(names) + len(tail_names)} documents x {args.revisions:,} revisions in "
            f"{gen_s + build_s:.1f} s ({size_mib:.0f} MiB)"
        )
        server = Server({"COLLAB_UNLOAD_GRACE": "0.2"}, db_path=path)
        server.start()
        try:
            cases = await measure(server, names, tail_names, args.revisions, args.rounds)
        finally:
            await close_all()
            server.stop()
    text_chars = int(cases.pop("_text_chars")[0])
    rows = []
    for case, ms in cases.items():
        rows.append(
            {
                "case": case,
                "n": len(ms),
                "median_ms": round(statistics.median(ms), 2),
                "max_ms": round(max(ms), 2),
                "target_ms": TARGET_MS if "cold" in case and "catch-up" not in case else None,
            }
        )
    return {
        "revisions": args.revisions,
        "documents": args.docs,
        "tail_documents": 3 * args.tail_docs,
        "rounds": args.rounds,
        "text_chars": text_chars,
        "build_s": round(gen_s + build_s, 1),
        "db_mib": round(size_mib, 1),
        "cases": rows,
    }


def report(r: dict[str, Any]) -> str:
    rows = []
    for c in r["cases"]:
        target = ""
        if c["target_ms"] is not None:
            ok = c["median_ms"] <= c["target_ms"]
            target = f"<= {c['target_ms']:g}: {'met' if ok else 'MISSED'}"
        rows.append([c["case"], c["n"], f"{c['median_ms']:.1f}", f"{c['max_ms']:.1f}", target])
    head = (
        f"{r['documents']} + {r['tail_documents']} documents of {r['revisions']:,} revisions "
        f"({r['text_chars']:,} characters); tail 0: {r['rounds']} rounds over "
        f"{r['documents']}; tail {BATCH}: each document opened cold once\n\n"
    )
    return head + table(["case", "n", "median ms", "max ms", "target"], rows, right=(1, 2, 3))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench open_history",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    ap.add_argument("--revisions", type=int, default=100_000)
    ap.add_argument("--docs", type=int, default=3, help="documents without a tail")
    ap.add_argument("--tail-docs", type=int, default=2, help="documents with a tail, per case (x3)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    if args.revisions < CATCH_UP + BATCH:
        ap.error(f"--revisions must be at least {CATCH_UP + BATCH}")
    result = asyncio.run(run(args))
    result["machine"] = machine()
    print(report(result))
    path = write_result("open_history", result)
    log(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
