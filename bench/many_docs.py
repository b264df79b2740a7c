"""Many documents edited at a human pace: D documents, 2 editors each, R operations/s each.

    .venv/bin/python -m bench many_docs [--docs 100 300 1000] [--rate 5] [--duration 20]
                                        [--procs 2]

For each D: a fresh ``collab serve`` (SQLite in a temporary directory), 2·D editors spread over
``--procs`` load-generator processes (one asyncio loop on uvloop each), every editor on its own
clock: a tick every 1/R s (random phase); at a tick it sends a one-character insert at a random
position (or, with probability 0.2, a one-character delete) if its previous operation has been
acknowledged, and otherwise skips the tick and counts it ("skipped, in flight"). Ticks missed
because the load generator's loop was late count as "skipped, late". Remote operations are
transformed against the one in flight (the client side of the protocol), so the editors stay
on valid operations whatever the interleaving.

Reported per D: offered and achieved ops/s (acks received in the window / duration), ack
latency p50/p95/p99 as the editors see it (target p99 <= 20 ms), the server's own ack latency
p99 (from its /metrics histogram: bucket bound), skipped ticks, server CPU (share of one core)
and the load generators' CPU. The load generators share the machine with the server: when
their CPU approaches a core each, the figures measure them too. Prints a markdown table and
writes bench/results/many_docs.json.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import resource
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.common import (
    Server,
    connect_kwargs,
    histogram_quantile,
    log,
    machine,
    percentile,
    raise_nofile,
    table,
    use_uvloop,
    write_result,
)
from ot import TextOperation, from_splice, transform

TARGET_P99_MS = 20.0


class Editor:
    """One paced editor on one connection (the client side of PROTOCOL §3, one op in flight)."""

    def __init__(self, ws: ClientConnection, client: str, welcome: dict[str, Any], seed: int):
        self.ws = ws
        self.client = client
        self.rev: int = welcome["rev"]
        self.length = len(welcome["text"])
        self.seq: int = welcome["seq"]
        self.pending: TextOperation | None = None
        self.sent_at = 0.0
        self.rng = random.Random(seed)
        self.acks: list[float] = []
        self.acked_in_window = 0
        self.sent = 0
        self.skipped_inflight = 0
        self.skipped_late = 0
        self.errors: dict[str, int] = {}
        self.window_end = float("inf")

    async def read(self) -> None:
        async for raw in self.ws:
            msg = orjson.loads(raw)
            kind = msg["type"]
            if kind == "ack":
                self.acks.append(time.perf_counter() - self.sent_at)
                if time.monotonic() <= self.window_end:
                    self.acked_in_window += 1
                self.rev = msg["rev"]
                self.pending = None
            elif kind == "op":
                self.rev = msg["rev"]
                remote = TextOperation.from_json(msg["op"])
                if self.pending is not None:
                    self.pending, remote = transform(self.pending, remote)
                self.length = remote.target_length
            elif kind == "error":
                code = msg.get("code", "?")
                self.errors[code] = self.errors.get(code, 0) + 1
                if msg.get("seq") == self.seq and self.pending is not None:
                    # Refused: nothing changed on the server; forget it (length unchanged).
                    self.length = self.pending.base_length
                    self.pending = None
                    self.seq -= 1

    async def send_op(self) -> None:
        length = self.length
        if length and self.rng.random() < 0.2:
            op = from_splice(length, self.rng.randrange(length), 1, "")
        else:
            op = from_splice(length, self.rng.randint(0, length), 0, self.rng.choice("abc de"))
        self.seq += 1
        self.pending = op
        self.length = op.target_length
        self.sent += 1
        self.sent_at = time.perf_counter()  # uvloop's loop.time() counts whole milliseconds
        msg = {"type": "op", "rev": self.rev, "seq": self.seq, "op": op.to_json()}
        await self.ws.send(orjson.dumps(msg).decode())

    async def tick(self, t0: float, rate: float, ticks: int) -> None:
        """``ticks`` ticks from ``t0`` (time.monotonic), one every 1/rate s, random phase."""
        period = 1.0 / rate
        start = t0 + self.rng.random() * period
        k = 0
        while k < ticks:
            delay = start + k * period - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            behind = int((time.monotonic() - start) / period) - k  # further ticks already due
            if behind > 0:
                behind = min(behind, ticks - k - 1)
                self.skipped_late += behind
                k += behind
            if self.pending is not None:
                self.skipped_inflight += 1
            else:
                await self.send_op()
            k += 1


async def open_editor(url: str, client: str, seed: int) -> Editor:
    ws = await connect(url, **connect_kwargs())
    await ws.send(orjson.dumps({"type": "hello", "protocol": 1, "client": client}).decode())
    while True:
        msg = orjson.loads(await ws.recv())
        if msg["type"] == "welcome":
            return Editor(ws, client, msg, seed)
        if msg["type"] == "error":
            raise RuntimeError(f"{client}: {msg}")


async def worker_main(
    pipe: Connection, base: str, docs: list[int], rate: float, duration: float, tag: str
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(100)
    editors: list[Editor] = []

    async def one(doc: int, k: int) -> None:
        async with sem:
            editors.append(
                await open_editor(f"{base}/ws/md-{tag}-{doc}", f"e{doc}x{k}", doc * 2 + k)
            )

    await asyncio.gather(*(one(d, k) for d in docs for k in (0, 1)))
    readers = [asyncio.create_task(e.read()) for e in editors]
    pipe.send(("ready", len(editors)))
    t0 = await loop.run_in_executor(None, pipe.recv)  # the common start (monotonic clock)
    ticks = max(1, round(duration * rate))
    for e in editors:
        e.window_end = t0 + duration
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(e.tick(t0, rate, ticks) for e in editors))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    # Let the last operations in flight come back (they count in the latencies, not in the
    # window's throughput).
    deadline = loop.time() + 5.0
    while loop.time() < deadline and any(e.pending is not None for e in editors):
        await asyncio.sleep(0.05)
    in_flight = sum(1 for e in editors if e.pending is not None)
    await asyncio.gather(*(e.ws.close() for e in editors), return_exceptions=True)
    for r in readers:
        r.cancel()
    errors: dict[str, int] = {}
    for e in editors:
        for code, n in e.errors.items():
            errors[code] = errors.get(code, 0) + n
    return {
        "editors": len(editors),
        "acks": [a for e in editors for a in e.acks],
        "acked_in_window": sum(e.acked_in_window for e in editors),
        "sent": sum(e.sent for e in editors),
        "skipped_inflight": sum(e.skipped_inflight for e in editors),
        "skipped_late": sum(e.skipped_late for e in editors),
        "unacked_at_end": in_flight,
        "errors": errors,
        "cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
    }


def worker(
    pipe: Connection, base: str, docs: list[int], rate: float, duration: float, tag: str
) -> None:
    raise_nofile(len(docs) * 2 + 512)
    use_uvloop()
    try:
        out = asyncio.run(worker_main(pipe, base, docs, rate, duration, tag))
        pipe.send(("done", out))
    except BaseException as e:
        pipe.send(("error", repr(e)))
        raise


def run_one(d: int, rate: float, duration: float, procs: int) -> dict[str, Any]:
    env = {"COLLAB_WS_PER_ADDRESS": "0"}
    ctx = mp.get_context("fork")
    with Server(env, nofile=4 * d + 2048) as server:
        pipes, workers = [], []
        for i in range(procs):
            parent, child = ctx.Pipe()
            docs = list(range(i, d, procs))
            p = ctx.Process(
                target=worker, args=(child, server.ws, docs, rate, duration, f"{d}"), daemon=True
            )
            p.start()
            pipes.append(parent)
            workers.append(p)
        try:
            editors = 0
            for pipe in pipes:
                if not pipe.poll(120):
                    raise RuntimeError("a load generator did not connect in time")
                kind, value = pipe.recv()
                if kind != "ready":
                    raise RuntimeError(f"load generator: {value}")
                editors += value
            log(f"D={d}: {editors} editors connected; running {duration:g} s")
            time.sleep(0.5)
            before = server.metrics()
            cpu0 = server.cpu_s()
            t0 = time.monotonic() + 0.5
            for pipe in pipes:
                pipe.send(t0)
            time.sleep(max(0.0, t0 + duration - time.monotonic()))
            cpu_s = server.cpu_s() - cpu0
            outs = []
            for pipe in pipes:
                if not pipe.poll(60):
                    raise RuntimeError("a load generator did not finish in time")
                kind, value = pipe.recv()
                if kind != "done":
                    raise RuntimeError(f"load generator: {value}")
                outs.append(value)
            after = server.metrics()
            hwm = server.hwm_kib()
        finally:
            for p in workers:
                p.join(10)
                if p.is_alive():
                    p.kill()
    acks = [a for o in outs for a in o["acks"]]
    errors: dict[str, int] = {}
    for o in outs:
        for code, n in o["errors"].items():
            errors[code] = errors.get(code, 0) + n
    offered = 2 * d * rate
    server_p99 = histogram_quantile(before, after, "collab_ack_latency_seconds", 0.99)
    commit_p99 = histogram_quantile(before, after, "collab_commit_seconds", 0.99)
    batch_n = after.get("collab_commit_batch_size_count", 0) - before.get(
        "collab_commit_batch_size_count", 0
    )
    batch_sum = after.get("collab_commit_batch_size_sum", 0) - before.get(
        "collab_commit_batch_size_sum", 0
    )
    ticks = sum(o["sent"] + o["skipped_inflight"] + o["skipped_late"] for o in outs)
    return {
        "docs": d,
        "editors": sum(o["editors"] for o in outs),
        "rate_per_editor": rate,
        "duration_s": duration,
        "offered_ops_per_s": offered,
        "ops_per_s": round(sum(o["acked_in_window"] for o in outs) / duration, 1),
        "ticks": ticks,
        "sent": sum(o["sent"] for o in outs),
        "acks": len(acks),
        "ack_p50_ms": round(percentile(acks, 50) * 1e3, 2),
        "ack_p95_ms": round(percentile(acks, 95) * 1e3, 2),
        "ack_p99_ms": round(percentile(acks, 99) * 1e3, 2),
        "ack_max_ms": round(max(acks, default=float("nan")) * 1e3, 2),
        "server_ack_p99_ms_bucket": server_p99 * 1e3,
        "commit_p99_ms_bucket": commit_p99 * 1e3,
        "commits": int(batch_n),
        "ops_per_commit": round(batch_sum / batch_n, 2) if batch_n else None,
        "skipped_inflight": sum(o["skipped_inflight"] for o in outs),
        "skipped_late": sum(o["skipped_late"] for o in outs),
        "unacked_at_end": sum(o["unacked_at_end"] for o in outs),
        "errors": errors,
        "server_cpu_share": round(cpu_s / duration, 2),
        "server_peak_rss_mib": round(hwm / 1024, 1),
        "loadgen_cpu_share": round(sum(o["cpu_s"] for o in outs) / duration, 2),
        "procs": procs,
    }


def report(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        verdict = "met" if r["ack_p99_ms"] <= TARGET_P99_MS else "MISSED"
        skipped = r["skipped_inflight"] + r["skipped_late"]
        out.append(
            [
                r["docs"],
                r["editors"],
                f"{r['offered_ops_per_s']:.0f}",
                f"{r['ops_per_s']:.0f}",
                f"{r['ack_p50_ms']:.1f}",
                f"{r['ack_p95_ms']:.1f}",
                f"{r['ack_p99_ms']:.1f} ({verdict})",
                f"{r['server_ack_p99_ms_bucket']:g} / {r['commit_p99_ms_bucket']:g}",
                f"{skipped} ({100 * skipped / max(1, r['ticks']):.1f}%): "
                f"{r['skipped_inflight']} in flight, {r['skipped_late']} late",
                r["ops_per_commit"],
                f"{r['server_cpu_share']:.2f}",
                f"{r['loadgen_cpu_share']:.2f}",
                f"{r['server_peak_rss_mib']:.0f}",
                ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "-",
            ]
        )
    return table(
        [
            "docs",
            "editors",
            "offered ops/s",
            "achieved ops/s",
            "ack p50 ms",
            "ack p95 ms",
            f"ack p99 ms (<= {TARGET_P99_MS:g})",
            "server ack / commit p99 ms (bucket)",
            "skipped ticks",
            "ops/commit",
            "server CPU (cores)",
            "loadgen CPU (cores)",
            "server peak RSS MiB",
            "errors",
        ],
        out,
        right=(0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench many_docs", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    ap.add_argument("--docs", "-d", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--rate", "-r", type=float, default=5.0, help="ops/s per editor")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes")
    args = ap.parse_args(argv)
    raise_nofile(4096)
    rows = []
    for d in args.docs:
        row = run_one(d, args.rate, args.duration, args.procs)
        log(
            f"D={d}: {row['ops_per_s']:.0f} ops/s of {row['offered_ops_per_s']:.0f}, ack p99 "
            f"{row['ack_p99_ms']:.1f} ms, skipped {row['skipped_inflight']}+{row['skipped_late']}"
        )
        rows.append(row)
    print(report(rows))
    path = write_result("many_docs", {"machine": machine(), "runs": rows})
    log(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
