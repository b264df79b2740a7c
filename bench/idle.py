"""Server memory per idle WebSocket connection.

    .venv/bin/python -m bench idle [--connections 5000] [--docs 100] [--hold 5]

Starts a fresh ``collab serve`` (SQLite in a temporary directory, ``COLLAB_WS_PER_ADDRESS=0``,
its RLIMIT_NOFILE raised), opens one warm-up connection, reads the server's VmRSS, then
opens N connections spread round-robin over D documents, in batches of bounded concurrency;
each sends its hello, waits for the welcome and then stays idle (the client keeps reading,
so join messages never pile up in the server's send queues). VmRSS is read at five
checkpoints on the way, and again after ``--hold`` seconds of idleness.

Reported: KiB per connection as (RSS at N - RSS before) / N, which includes loading the D
documents, and as the slope between N/2 and N, which does not; target <= 20 KiB. Prints a
markdown table and writes bench/results/idle.json.
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
    raise_nofile,
    table,
    use_uvloop,
    write_result,
)

TARGET_KIB = 20.0


async def open_one(url: str, client: str) -> ClientConnection:
    ws = await connect(url, **connect_kwargs())
    await ws.send(hello(client))
    while True:
        msg = orjson.loads(await ws.recv())
        if msg["type"] == "welcome":
            return ws
        if msg["type"] == "error":
            raise RuntimeError(f"{client}: {msg}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n, docs = args.connections, args.docs
    env = {"COLLAB_WS_PER_ADDRESS": "0", "COLLAB_OPS_PER_SECOND": "1000000"}
    server = Server(env, nofile=n + 2048)
    server.start()
    conns: list[ClientConnection] = []
    try:
        warm = await open_one(f"{server.ws}/ws/idle-warmup", "warmup")
        await asyncio.sleep(1.0)
        rss0 = server.rss_kib()
        cpu0 = server.cpu_s()
        log(f"RSS before: {rss0} KiB")
        checkpoints = sorted({max(1, n * k // 5) for k in range(1, 6)})
        samples: list[dict[str, Any]] = []
        sem = asyncio.Semaphore(args.concurrency)
        failures = 0

        async def one(i: int) -> None:
            nonlocal failures
            async with sem:
                try:
                    ws = await open_one(f"{server.ws}/ws/idle-{i % docs}", f"idle{i}")
                except Exception as e:
                    failures += 1
                    if failures <= 3:
                        log(f"connection {i} failed: {e!r}")
                    return
                conns.append(ws)

        t0 = time.perf_counter()
        opened = 0
        for target in checkpoints:
            await asyncio.gather(*(one(i) for i in range(opened, target)))
            opened = target
            await asyncio.sleep(0.5)  # let broadcasts of the joins drain
            samples.append(
                {
                    "connections": len(conns),
                    "rss_kib": server.rss_kib(),
                    "seconds": round(time.perf_counter() - t0, 2),
                }
            )
            log(f"{len(conns)} open, RSS {samples[-1]['rss_kib']} KiB")
        connect_s = time.perf_counter() - t0
        await asyncio.sleep(args.hold)
        rss_hold = server.rss_kib()
        still_open = sum(1 for ws in conns if ws.close_code is None)
        metrics = server.metrics()
        cpu_setup = server.cpu_s() - cpu0
        hwm = server.hwm_kib()
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
        await warm.close()
    finally:
        server.stop()

    total = samples[-1]
    half = next(s for s in samples if s["connections"] >= total["connections"] // 2)
    per_conn = (total["rss_kib"] - rss0) / max(1, total["connections"])
    span = total["connections"] - half["connections"]
    slope = (total["rss_kib"] - half["rss_kib"]) / span if span else float("nan")
    return {
        "connections_requested": n,
        "connections_open": total["connections"],
        "failed": failures,
        "still_open_after_hold": still_open,
        "server_sessions": int(metrics.get("collab_connections", -1)),
        "docs": docs,
        "rss_before_kib": rss0,
        "rss_after_kib": total["rss_kib"],
        "rss_after_hold_kib": rss_hold,
        "peak_rss_kib": hwm,
        "kib_per_connection": round(per_conn, 2),
        "kib_per_connection_slope": round(slope, 2),
        "target_kib": TARGET_KIB,
        "connect_seconds": round(connect_s, 2),
        "connections_per_s": round(total["connections"] / connect_s, 1),
        "server_cpu_s_setup": round(cpu_setup, 2),
        "samples": samples,
    }


def report(r: dict[str, Any]) -> str:
    verdict = "met" if r["kib_per_connection"] <= TARGET_KIB else "MISSED"
    slope_verdict = "met" if r["kib_per_connection_slope"] <= TARGET_KIB else "MISSED"
    rows = [
        ["connections open / requested", f"{r['connections_open']} / {r['connections_requested']}"],
        ["documents", r["docs"]],
        ["still open after hold (server sessions)",
         f"{r['still_open_after_hold']} ({r['server_sessions']})"],
        ["server RSS before", f"{r['rss_before_kib'] / 1024:.1f} MiB"],
        ["server RSS with all open", f"{r['rss_after_kib'] / 1024:.1f} MiB"],
        ["server RSS after hold", f"{r['rss_after_hold_kib'] / 1024:.1f} MiB"],
        ["KiB per connection, (after - before) / N",
         f"{r['kib_per_connection']:.1f} (target <= {TARGET_KIB:g}: {verdict})"],
        ["KiB per connection, slope N/2..N",
         f"{r['kib_per_connection_slope']:.1f} (target <= {TARGET_KIB:g}: {slope_verdict})"],
        ["time to open all", f"{r['connect_seconds']:.1f} s ({r['connections_per_s']:.0f}/s)"],
        ["server CPU while opening", f"{r['server_cpu_s_setup']:.1f} s"],
    ]  # fmt: skip
    steps = table(
        ["connections", "RSS MiB", "s"],
        [[s["connections"], f"{s['rss_kib'] / 1024:.1f}", s["seconds"]] for s in r["samples"]],
        right="*",
    )
    return table(["idle connections", "value"], rows) + "\n\n" + steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench idle", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    ap.add_argument("--connections", "-n", type=int, default=5000)
    ap.add_argument("--docs", "-d", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=200, help="handshakes in flight at once")
    ap.add_argument("--hold", type=float, default=5.0, help="seconds idle before the last read")
    args = ap.parse_args(argv)
    soft = raise_nofile(args.connections + 1024)
    if soft < args.connections + 100:
        print(f"RLIMIT_NOFILE is {soft}: too low for {args.connections}", file=sys.stderr)
        return 2
    use_uvloop()
    result = asyncio.run(run(args))
    result["machine"] = machine()
    print(report(result))
    path = write_result("idle", result)
    log(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
