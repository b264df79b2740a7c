"""A reconnect storm: N clients of one document drop and come back at once, catching up.

    .venv/bin/python -m bench reconnect_storm [--clients 500] [--revisions 100]

Starts a fresh ``collab serve`` (SQLite in a temporary directory, ``COLLAB_WS_PER_ADDRESS=0``),
creates a document with 1,000 characters, connects N clients to it (bounded concurrency),
each with its own client id, all holding revision r. Another client then commits
``--revisions`` operations, one in flight. Then all N close their connections at once and,
as soon as every close is done, all N reconnect at once with the same client id and
``hello.rev = r``: each welcome must carry the ``--revisions`` operations after r.

Reported: time from the start of the reconnects until the last welcome (target <= 5 s), and
from the start of the disconnects; welcome latency percentiles; the server's RSS before and
its peak (VmHWM) after, and its CPU during the storm. Prints a markdown table and writes
bench/results/reconnect_storm.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.common import (
    Server,
    connect_kwargs,
    hello,
    log,
    machine,
    percentile,
    raise_nofile,
    table,
    use_uvloop,
    write_result,
)

TARGET_S = 5.0
DOC = "storm"


async def join(
    url: str, client: str, rev: int | None = None
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(url, **connect_kwargs())
    await ws.send(hello(client, rev))
    while True:
        msg = orjson.loads(await ws.recv())
        if msg["type"] == "welcome":
            return ws, msg
        if msg["type"] == "error":
            raise RuntimeError(f"{client}: {msg}")


async def writer(url: str, n: int) -> int:
    """Commit ``n`` one-character inserts, one in flight; returns the last revision."""
    ws, welcome = await join(url, "storm-writer")
    rev, length = welcome["rev"], len(welcome["text"])
    for seq in range(1, n + 1):
        op = [length // 2, "w", length - length // 2]
        await ws.send(orjson.dumps({"type": "op", "rev": rev, "seq": seq, "op": op}).decode())
        while True:
            msg = orjson.loads(await ws.recv())
            if msg["type"] == "ack":
                rev = msg["rev"]
                length += 1
                break
            if msg["type"] == "error":
                raise RuntimeError(f"writer: {msg}")
    await ws.close()
    return int(rev)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.clients
    server = Server({"COLLAB_WS_PER_ADDRESS": "0"}, nofile=4 * n + 2048)
    server.start()
    try:
        server.http_json("POST", "/api/docs", {"id": DOC, "text": "x" * 1000})
        url = f"{server.ws}/ws/{DOC}"
        ids = [f"storm{i}" for i in range(n)]
        sem = asyncio.Semaphore(args.concurrency)

        async def first(client: str) -> tuple[ClientConnection, dict[str, Any]]:
            async with sem:
                return await join(url, client)

        t0 = time.perf_counter()
        opened = await asyncio.gather(*(first(c) for c in ids))
        setup_s = time.perf_counter() - t0
        revs = {w["rev"] for _, w in opened}
        if len(revs) != 1:
            raise RuntimeError(f"clients hold different revisions: {sorted(revs)}")
        r = revs.pop()
        log(f"{n} clients at revision {r} ({setup_s:.1f} s to connect)")
        last = await writer(url, args.revisions)
        await asyncio.sleep(0.5)
        rss_before = server.rss_kib()
        hwm_before = server.hwm_kib()
        cpu0 = server.cpu_s()

        # The storm: every client drops, then every client comes back with rev = r.
        t_drop = time.perf_counter()
        await asyncio.gather(*(ws.close() for ws, _ in opened), return_exceptions=True)
        t_back = time.perf_counter()
        welcome_at: list[float] = []
        errors: list[str] = []

        async def back(client: str) -> ClientConnection | None:
            try:
                ws, welcome = await join(url, client, r)
            except Exception as e:
                errors.append(repr(e))
                return None
            welcome_at.append(time.perf_counter() - t_back)
            ops = welcome.get("ops")
            if welcome["rev"] != last or ops is None or len(ops) != last - r:
                errors.append(f"{client}: welcome rev {welcome['rev']}, {len(ops or ())} ops")
            return ws

        async with asyncio.timeout(args.timeout):
            again = await asyncio.gather(*(back(c) for c in ids))
        t_end = time.perf_counter()
        cpu_s = server.cpu_s() - cpu0
        await asyncio.sleep(0.5)
        hwm = server.hwm_kib()
        rss_after = server.rss_kib()
        await asyncio.gather(*(ws.close() for ws in again if ws), return_exceptions=True)
    finally:
        server.stop()
    return {
        "clients": n,
        "revisions_behind": last - r,
        "reconnected": len(welcome_at),
        "errors": errors[:10],
        "error_count": len(errors),
        "setup_s": round(setup_s, 2),
        "disconnect_s": round(t_back - t_drop, 3),
        "reconnect_to_last_welcome_s": round(t_end - t_back, 3),
        "drop_to_last_welcome_s": round(t_end - t_drop, 3),
        "welcome_p50_s": round(percentile(welcome_at, 50), 3),
        "welcome_p99_s": round(percentile(welcome_at, 99), 3),
        "target_s": TARGET_S,
        "server_cpu_s": round(cpu_s, 2),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "peak_rss_before_storm_mib": round(hwm_before / 1024, 1),
        "peak_rss_mib": round(hwm / 1024, 1),
    }


def report(r: dict[str, Any]) -> str:
    ok = r["reconnect_to_last_welcome_s"] <= TARGET_S and not r["error_count"]
    rows = [
        ["clients reconnected (errors)", f"{r['reconnected']} / {r['clients']} "
         f"({r['error_count']})"],
        ["revisions to catch up", r["revisions_behind"]],
        ["all disconnects done in", f"{r['disconnect_s']:.2f} s"],
        ["reconnect start -> last welcome",
         f"{r['reconnect_to_last_welcome_s']:.2f} s (target <= {TARGET_S:g} s: "
         f"{'met' if ok else 'MISSED'})"],
        ["disconnect start -> last welcome", f"{r['drop_to_last_welcome_s']:.2f} s"],
        ["welcome latency p50 / p99", f"{r['welcome_p50_s']:.2f} / {r['welcome_p99_s']:.2f} s"],
        ["server CPU during the storm", f"{r['server_cpu_s']:.2f} s"],
        ["server RSS before / after", f"{r['rss_before_mib']:.0f} / {r['rss_after_mib']:.0f} MiB"],
        ["server peak RSS (VmHWM) before / after the storm",
         f"{r['peak_rss_before_storm_mib']:.0f} / {r['peak_rss_mib']:.0f} MiB"],
        ["initial connect of all clients", f"{r['setup_s']:.1f} s"],
    ]  # fmt: skip
    return table(["reconnect storm", "value"], rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench reconnect_storm",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    ap.add_argument("--clients", "-n", type=int, default=500)
    ap.add_argument("--revisions", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=50, help="initial handshakes at once")
    ap.add_argument("--timeout", type=float, default=60.0, help="give up on the storm after")
    args = ap.parse_args(argv)
    raise_nofile(2 * args.clients + 1024)
    use_uvloop()
    result = asyncio.run(run(args))
    result["machine"] = machine()
    print(report(result))
    path = write_result("reconnect_storm", result)
    log(f"written to {path}")
    return 0 if result["error_count"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
