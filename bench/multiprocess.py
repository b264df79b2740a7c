"""Throughput with one and with three ``collab serve`` processes on PostgreSQL and Redis.

    .venv/bin/python -m bench.multiprocess [--processes 1 3] [--reps 1]

For each process count: a fresh migrated PostgreSQL database (``collab_mp_<random>``,
dropped afterwards), the processes on free ports sharing it and Redis
(``COLLAB_TEST_REDIS_URL``, default redis://127.0.0.1:6379/0; PostgreSQL from
``COLLAB_TEST_POSTGRES_URL``), then two workloads driven by :class:`collab.client.CollabClient`
load generators, each client with one operation in flight (the next edit is made when the
previous one is acknowledged) and assigned to the processes round-robin:

* ``hot``: 30 clients x 100 operations on one document;
* ``spread``: 100 documents, one client each, x 30 operations.

Edits are one-character inserts (emoji included) or deletes at random positions. Reported:
operations per second (acknowledged operations / wall time from the first edit to the last
ack), ack latency percentiles as the client sees them, and from the servers' /metrics the
commit conflicts and ``rate_limited`` refusals (commits that lost the race too often). The
load generators run in this one Python process, on the same machine as the servers and the
databases: the figures compare configurations, they are not capacity numbers.

Prints a markdown table (with ``--reps N``, the run with the median ops/s of each
configuration) and writes every run and the medians to bench/results/multiprocess.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from collab.client import CollabClient
from tests.collab.services import (
    REDIS_URL,
    ServerProcess,
    create_database,
    drop_database,
    ops_log,
    postgres_problem,
    redis_problem,
    start_servers,
    stop_servers,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "multiprocess.json"
RUN_TIMEOUT = 60.0  # seconds; a workload is meant to take well under 30
PIECES = ["a", "e", " ", "\n", "é", "😀", "中"]

# The servers must not refuse the load generators for speed (PROTOCOL: 100 ops/s default).
SERVER_ENV = {"COLLAB_OPS_PER_SECOND": "1000000"}


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


async def editor(client: CollabClient, n: int, rng: random.Random, lat: list[float]) -> None:
    for _ in range(n):
        length = len(client.text)
        if length and rng.random() < 0.25:
            client.delete(rng.randrange(length), 1)
        else:
            client.insert(rng.randint(0, length), rng.choice(PIECES))
        t0 = time.perf_counter()
        await client.wait_synced(30)
        lat.append(time.perf_counter() - t0)


def scrape(text: str) -> dict[str, float]:
    """The counters this benchmark reports, from one Prometheus page."""
    out = {"conflicts": 0.0, "rate_limited": 0.0, "committed": 0.0}
    for line in text.splitlines():
        if line.startswith("collab_commit_conflicts_total "):
            out["conflicts"] = float(line.split()[1])
        elif line.startswith("collab_ops_committed_total "):
            out["committed"] = float(line.split()[1])
        elif m := re.match(r'collab_errors_total\{code="rate_limited"\} (\S+)', line):
            out["rate_limited"] = float(m.group(1))
    return out


async def metrics(http: httpx.AsyncClient, servers: list[ServerProcess]) -> dict[str, float]:
    total = {"conflicts": 0.0, "rate_limited": 0.0, "committed": 0.0}
    for s in servers:
        page = scrape((await http.get(s.url + "/metrics")).text)
        for k in total:
            total[k] += page[k]
    return total


async def workload(
    servers: list[ServerProcess], name: str, docs: int, clients: int, ops: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    doc_ids = [f"bench-{name}-{seed}-{i}" for i in range(docs)]
    opened: list[CollabClient] = []
    lat: list[float] = []
    async with httpx.AsyncClient(timeout=30) as http:
        before = await metrics(http, servers)
        try:
            for i in range(clients):
                server = servers[i % len(servers)]
                c = CollabClient(server.ws(doc_ids[i % docs]), client_id=f"b{seed}-{i}")
                await c.connect(30)
                opened.append(c)
            t0 = time.perf_counter()
            async with asyncio.timeout(RUN_TIMEOUT):
                await asyncio.gather(
                    *(editor(c, ops, random.Random(rng.random()), lat) for c in opened)
                )
            elapsed = time.perf_counter() - t0
        finally:
            await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)
        after = await metrics(http, servers)
        logged = sum([len(await ops_log(http, servers[0].url, d)) for d in doc_ids])
    total = clients * ops
    if logged != total:
        raise RuntimeError(f"{name}: {logged} operations in the logs, {total} acknowledged")
    return {
        "processes": len(servers),
        "workload": name,
        "docs": docs,
        "clients": clients,
        "ops_per_client": ops,
        "ops": total,
        "seconds": round(elapsed, 3),
        "ops_per_s": round(total / elapsed, 1),
        "ack_p50_ms": round(percentile(lat, 50) * 1e3, 2),
        "ack_p99_ms": round(percentile(lat, 99) * 1e3, 2),
        "conflicts": int(after["conflicts"] - before["conflicts"]),
        "rate_limited": int(after["rate_limited"] - before["rate_limited"]),
    }


WORKLOADS = [("hot", 1, 30, 100), ("spread", 100, 100, 30)]


async def run(process_counts: list[int], reps: int) -> list[dict[str, Any]]:
    for problem in (await postgres_problem(), await redis_problem(REDIS_URL)):
        if problem is not None:
            raise SystemExit(problem)
    rows: list[dict[str, Any]] = []
    for n in process_counts:
        url = await create_database()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                servers = await start_servers(n, url, REDIS_URL, Path(tmp), SERVER_ENV)
                try:
                    for name, docs, clients, ops in WORKLOADS:
                        for rep in range(reps):
                            row = await workload(servers, name, docs, clients, ops, rep)
                            print(json.dumps(row), file=sys.stderr, flush=True)
                            rows.append(row)
                finally:
                    stop_servers(servers)
        finally:
            await drop_database(url)
    return rows


def medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (processes, workload): the repetition with the median ops/s."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["processes"], r["workload"]), []).append(r)
    out = []
    for runs in groups.values():
        runs = sorted(runs, key=lambda r: r["ops_per_s"])
        out.append({**runs[len(runs) // 2], "reps": len(runs)})
    return out


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| processes | workload | clients x ops | ops/s | ack p50 ms | ack p99 ms "
        "| conflicts | rate_limited |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['processes']} | {r['workload']} ({r['docs']} doc"
            f"{'s' if r['docs'] > 1 else ''}) | {r['clients']} x {r['ops_per_client']} "
            f"| {r['ops_per_s']:.0f} | {r['ack_p50_ms']:.1f} | {r['ack_p99_ms']:.1f} "
            f"| {r['conflicts']} | {r['rate_limited']} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    rows = asyncio.run(run(args.processes, args.reps))
    print(table(medians(rows)))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    summary = {"meta": meta, "medians": medians(rows), "runs": rows}
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
