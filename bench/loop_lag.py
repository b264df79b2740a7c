"""The worst event-loop stall one message or request can cause (docs/security.md).

    .venv/bin/python -m bench.loop_lag [--seconds 3]

Starts ``collab serve`` with a 1 ms loop-lag probe (``COLLAB_LAG_PROBE_INTERVAL=0.001``,
read from ``/metrics`` as ``collab_event_loop_lag_seconds_max``, the worst since the last
scrape) and runs one scenario after another, each the most expensive input of its kind that
the limits allow, sent repeatedly for a few seconds; between scenarios a scrape resets the
maximum. Prints the worst stall per scenario (target: under 10 ms) and writes
bench/results/loop_lag.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import websockets

from bench.common import Server

RESULTS = Path(__file__).resolve().parent / "results"
DOC = "lag"
JSON = {"content-type": "application/json"}


def lag_ms(http: httpx.Client) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("collab_event_loop_lag_seconds_max "):
            return float(line.split()[1]) * 1e3
    raise RuntimeError("no lag metric")


async def hello(ws: websockets.ClientConnection, client: str, rev: int | None = None) -> dict:
    msg: dict = {"type": "hello", "protocol": 1, "client": client}
    if rev is not None:
        msg["rev"] = rev
    await ws.send(json.dumps(msg))
    while True:
        got = json.loads(await ws.recv())
        if got["type"] == "welcome":
            return got


async def setup(url: str, revisions: int) -> None:
    """A document of ``revisions`` one-character revisions."""
    async with websockets.connect(f"{url}/ws/{DOC}", max_size=None) as ws:
        await hello(ws, "writer")
        for start in range(0, revisions, 100):  # in steps, within the ops budget
            batch = range(start, min(start + 100, revisions))
            op = ["x", start] if start else ["x"]  # based on the revision acknowledged last
            for i in batch:
                await ws.send(json.dumps({"type": "op", "rev": start, "seq": i + 1, "op": op}))
            acked = 0
            while acked < len(batch):
                if json.loads(await ws.recv())["type"] == "ack":
                    acked += 1


async def until(seconds: float, step: Callable[[], Awaitable[None]]) -> int:
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await step()
        n += 1
    return n


async def on_sessions(
    url: str, seconds: float, body: Callable[[websockets.ClientConnection, dict], Awaitable[None]]
) -> int:
    """Rounds of ``body`` on a session, opening a new one when the server closes it (a
    session that keeps earning errors is closed with 4429)."""
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            async with websockets.connect(f"{url}/ws/{DOC}", max_size=None) as ws:
                w = await hello(ws, f"c{random.randrange(10**9)}")
                while time.monotonic() < deadline:
                    await body(ws, w)
                    await ws.send('{"type":"ping"}')
                    while json.loads(await ws.recv())["type"] != "pong":
                        pass
                    n += 1
        except websockets.ConnectionClosed:
            continue
    return n


async def presence_far_behind(url: str, seconds: float) -> int:
    ranges = [[i, i] for i in range(100)]

    async def body(ws: websockets.ClientConnection, w: dict) -> None:
        for behind in (25, 1000):  # the most allowed for 100 ranges, and one refused
            msg = {"type": "presence", "rev": w["rev"] - behind, "selection": ranges}
            await ws.send(json.dumps(msg))

    return await on_sessions(url, seconds, body)


async def old_ops_and_hellos(url: str, seconds: float) -> int:
    async def step() -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await old_round()

    async def old_round() -> None:
        async with websockets.connect(f"{url}/ws/{DOC}", max_size=None) as ws:
            w = await hello(ws, f"old{random.randrange(10**9)}", rev=0)  # far behind: text
            seq = 1
            for behind in (999, 1001):  # rebased across 999 revisions; refused
                op = {"type": "op", "rev": w["rev"] - behind, "seq": seq, "op": ["y"]}
                await ws.send(json.dumps(op))
                while json.loads(await ws.recv())["type"] not in ("ack", "error"):
                    pass
                seq += 1

    return await until(seconds, step)


async def hostile_paths(url: str, seconds: float) -> int:
    async def step() -> None:
        path = "/ws/x?" + "?" * 8000 + "&token=" + "a" * 8000
        try:
            async with websockets.connect(url + path, open_timeout=5) as ws:
                await ws.close()
        except Exception:
            pass

    return await until(seconds, step)


async def http_bodies(base: str, seconds: float) -> int:
    big = json.dumps({"id": "lag-big", "text": "x"}).encode() + b" " * (33 << 20)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def step() -> None:
            await http.post(
                "/api/docs", content=b"{" * 50_000, headers={"content-type": "application/json"}
            )
            await http.post("/api/docs", content=big, headers={"content-type": "application/json"})
            await http.post(
                "/api/docs", content=b"\x80" * 1000, headers={"content-type": "text/plain"}
            )
            await http.get(f"/api/docs/{DOC}/revisions/1")

        return await until(seconds, step)


async def frames(url: str, seconds: float) -> int:
    rnd = random.Random(7)
    bad = [
        "[" * 5000 + "]" * 5000,
        '{"type":"op","rev":0,"seq":1,"op":[' + "9" * 5000 + "]}",
        '{"type":"op","rev":0,"seq":1,"op":["' + "é" * 30000 + '"]}',
        '{"type":"presence","rev":0,"selection":' + json.dumps([[0, 0]] * 100) + "}",
        "not json " * 1000,
    ]

    async def body(ws: websockets.ClientConnection, w: dict) -> None:
        await ws.send(rnd.choice(bad))

    return await on_sessions(url, seconds, body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    env = {
        "COLLAB_LAG_PROBE_INTERVAL": "0.001",
        "COLLAB_OPS_PER_SECOND": "100000",
        "COLLAB_MAX_ERRORS": "1000000",
    }
    out: dict[str, dict[str, float]] = {}
    with Server(env) as srv, httpx.Client(base_url=srv.url, timeout=30) as http:
        asyncio.run(setup(srv.ws, 1200))
        time.sleep(0.5)
        lag_ms(http)
        time.sleep(args.seconds)
        out["idle (probe noise)"] = {"worst_ms": lag_ms(http), "sent": 0}
        scenarios = {
            "presence 100 ranges x 25 revisions behind (and 1,000 behind)": presence_far_behind,
            "hello at rev 0 of 1,200 (text); ops 999 and 1,001 behind": old_ops_and_hellos,
            "handshake path of 16,000 hostile characters": hostile_paths,
            "frames: deep nesting, huge numbers, 60 KB text, not JSON": frames,
        }
        for name, run in scenarios.items():
            lag_ms(http)
            n = asyncio.run(run(srv.ws, args.seconds))
            out[name] = {"worst_ms": lag_ms(http), "sent": n}
        lag_ms(http)
        n = asyncio.run(http_bodies(srv.url, args.seconds))
        out["HTTP: 50,000-deep JSON, 33 MiB body, non-UTF-8 body, old revision"] = {
            "worst_ms": lag_ms(http),
            "sent": n,
        }
    print("| scenario | rounds | worst loop stall (ms) |")
    print("|---|---:|---:|")
    for name, r in out.items():
        print(f"| {name} | {int(r['sent'])} | {r['worst_ms']:.1f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "loop_lag.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
