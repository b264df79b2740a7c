"""Crash durability, at length: N cycles of "clients edit, SIGKILL the server, restart it".

    .venv/bin/python -m bench.crash [--cycles 200] [--database sqlite|postgres] [--clients 4]
                                    [--max-delay 0.6] [--seed S]

Each cycle is the one ``tests/collab/test_crash_durability.py`` runs ten of (see
:mod:`tests.collab.procs`): clients edit a fresh document as fast as they can against a
``collab serve`` subprocess, the process is killed with SIGKILL after a random delay, a new
one starts on the same port and database, the clients reconnect and finish their work, and
the history is audited: every acknowledged operation exactly once at its revision,
contiguous revisions whose replay is the text, each client's seqs exactly 1..n, every edit in
the text exactly once.

``--database sqlite`` (the default) uses a fresh file in a temporary directory;
``postgres`` a fresh database beside ``COLLAB_TEST_POSTGRES_URL``, dropped afterwards.
Prints one line per failed cycle, a progress line every 20 cycles, and at the end the cycles
survived and the acknowledged operations lost (which must be 0). Exits 1 if any cycle failed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.collab.procs import CycleResult, crash_rig
from tests.collab.services import create_database, drop_database, postgres_problem


async def run(args: argparse.Namespace, log_dir: Path) -> int:
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    pg_url: str | None = None
    if args.database == "postgres":
        problem = await postgres_problem()
        if problem is not None:
            print(problem, file=sys.stderr)
            return 2
        pg_url = await create_database("collab_crash")
    url = pg_url or f"sqlite+aiosqlite:///{log_dir / 'crash.db'}"
    results: list[CycleResult] = []
    failed: list[tuple[int, str]] = []
    t0 = time.perf_counter()
    try:
        async with crash_rig(url, log_dir, args.clients) as rig:
            for i in range(args.cycles):
                try:
                    r = await rig.cycle(rng, args.max_delay)
                except Exception as e:  # a cycle that could not finish counts as failed
                    failed.append((i, f"{type(e).__name__}: {e}"))
                    print(f"cycle {i}: {type(e).__name__}: {e}", flush=True)
                    if rig.proc is None or rig.proc.proc.poll() is not None:
                        await rig.start()
                    continue
                results.append(r)
                if r.problems:
                    failed.append((i, "; ".join(r.problems)))
                    print(f"cycle {i} (doc {r.doc}, delay {r.delay:.3f}s):", flush=True)
                    for p in r.problems[:10]:
                        print(f"  {p[:300]}", flush=True)
                if (i + 1) % 20 == 0:
                    print(
                        f"{i + 1} cycles, {len(failed)} failed, {time.perf_counter() - t0:.0f} s",
                        flush=True,
                    )
            server_errors = rig.errors()
    finally:
        if pg_url is not None:
            await drop_database(pg_url)

    acked = sum(r.acked for r in results)
    lost = sum(r.lost for r in results)
    print()
    print(f"database: {args.database}, clients: {args.clients}, seed: {seed}")
    print(f"cycles survived: {args.cycles - len(failed)} / {args.cycles}")
    before = sum(r.acked_before_kill for r in results)
    in_flight = sum(r.in_flight_at_kill for r in results)
    print(f"acknowledged operations: {acked} ({before} before the kills)")
    print(f"clients with work in flight at the kills: {in_flight}")
    print(f"acknowledged operations lost: {lost}")
    print(f"server log errors: {len(server_errors)}")
    for line in server_errors[:10]:
        print(f"  {line[:300]}")
    print(f"wall time: {time.perf_counter() - t0:.0f} s")
    return 1 if failed or lost or server_errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-delay", type=float, default=0.6, help="seconds before a kill")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="collab-crash-") as tmp:
        return asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    raise SystemExit(main())
