"""Load generator: C clients x M operations on D documents, one operation in flight each.

    .venv/bin/python -m bench.load 10x500 50x100 [--docs 1] [--reps 3] [--url ws://...]

Without ``--url`` it starts a fresh ``collab serve`` on a temporary SQLite file per run (the
same set-up as ../shared/peers/collab/run_bench.js). Each client types like a fast typist: a
one-character insert at a random position (or, with probability 0.2, a one-character
delete), the next sent when the previous is acknowledged. Prints a table of medians and
writes JSON to bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import websockets

from ot import TextOperation, from_splice, transform

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


async def client(
    url: str, m: int, rng: random.Random, acks: list[float], start: asyncio.Event
) -> None:
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        await ws.send(
            orjson.dumps({"type": "hello", "protocol": 1, "client": secrets.token_hex(6)}).decode()
        )
        welcome = orjson.loads(await ws.recv())
        rev, length = welcome["rev"], len(welcome["text"])
        await start.wait()
        seq = 0
        while seq < m:
            seq += 1
            if length and rng.random() < 0.2:
                pending = from_splice(length, rng.randrange(length), 1, "")
            else:
                pending = from_splice(length, rng.randint(0, length), 0, "x")
            length = pending.target_length
            t0 = time.perf_counter()
            msg_out = {"type": "op", "rev": rev, "seq": seq, "op": pending.to_json()}
            await ws.send(orjson.dumps(msg_out).decode())
            while True:
                msg = orjson.loads(await ws.recv())
                kind = msg["type"]
                if kind == "op":
                    # A concurrent revision: transform it past our operation in flight (the
                    # client side of the protocol), so that our length stays exact even when
                    # both deleted the same character.
                    rev = msg["rev"]
                    pending, remote = transform(pending, TextOperation.from_json(msg["op"]))
                    length = remote.target_length
                elif kind == "ack":
                    acks.append(time.perf_counter() - t0)
                    rev = msg["rev"]
                    break
                elif kind == "error":
                    raise RuntimeError(f"server error: {msg}")


async def run_once(base: str, c: int, m: int, docs: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    acks: list[float] = []
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(
            client(
                f"{base}/ws/bench-{seed}-{i % docs}", m, random.Random(rng.random()), acks, start
            )
        )
        for i in range(c)
    ]
    await asyncio.sleep(0.5)  # let every client connect and receive its welcome
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    return {
        "clients": c,
        "ops": m,
        "docs": docs,
        "ops_per_s": len(acks) / elapsed,
        "ack_p50_ms": percentile(acks, 50) * 1e3,
        "ack_p99_ms": percentile(acks, 99) * 1e3,
    }


def start_server(port: int, tmp: str) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        COLLAB_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/bench.db",
        COLLAB_OPS_PER_SECOND="1000000",
    )
    exe = ROOT / ".venv" / "bin" / "collab"
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import urllib.request

    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("configs", nargs="*", default=["10x500", "50x100"])
    ap.add_argument("--docs", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--url", default=None, help="an already running server (http://host:port)")
    ap.add_argument("--port", type=int, default=8790)
    args = ap.parse_args()
    rows = []
    for cfg in args.configs:
        c, m = (int(x) for x in cfg.split("x"))
        runs = []
        for rep in range(args.reps):
            if args.url:
                base = args.url.replace("http", "ws", 1)
                runs.append(asyncio.run(run_once(base, c, m, args.docs, rep)))
                continue
            with tempfile.TemporaryDirectory() as tmp:
                proc = start_server(args.port, tmp)
                try:
                    base = f"ws://127.0.0.1:{args.port}"
                    runs.append(asyncio.run(run_once(base, c, m, args.docs, rep)))
                finally:
                    proc.terminate()
                    proc.wait(10)
        row = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        row["runs"] = runs
        rows.append(row)
        print(
            f"{c} x {m} on {args.docs} doc(s): {row['ops_per_s']:.0f} ops/s, "
            f"ack p50 {row['ack_p50_ms']:.2f} ms, p99 {row['ack_p99_ms']:.2f} ms",
            file=sys.stderr,
        )
    print("| C x M | docs | ops/s | ack p50 ms | ack p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['clients']:.0f} x {r['ops']:.0f} | {r['docs']:.0f} | {r['ops_per_s']:.0f} "
            f"| {r['ack_p50_ms']:.2f} | {r['ack_p99_ms']:.2f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
