"""An acknowledged edit survives anything short of losing the disk (docs/security.md,
"Durability"): a ``collab serve`` subprocess killed with SIGKILL while clients edit as
fast as they can loses no acknowledged operation and applies none twice.

Each cycle (see :mod:`tests.collab.procs`): four clients edit a fresh document; the process
is killed after a random delay (0.02-0.6 s of editing: 20-300 acknowledged operations);
a new process starts on the same port and database; the clients reconnect and finish their
unacknowledged work; then the audit: every acknowledgement any client saw is in the history
exactly once at its revision, the revisions are contiguous, their replay is the served text
and every client's text, each client's committed seqs are exactly 1..n, and every edit is in
the text exactly once. At least ten cycles on SQLite and ten on a fresh PostgreSQL database
(skipped when PostgreSQL is unreachable, unless ``COLLAB_REQUIRE_SERVICES=1``).

The delays are drawn from a seeded ``random.Random``; the seed is in every failure message
and ``COLLAB_CRASH_SEED=<seed>`` replays the same delays (the timing of the processes
differs from run to run). ``COLLAB_CRASH_CYCLES`` runs more cycles; ``bench/crash.py`` is
the same as a long-running script.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.collab.procs import CycleResult, crash_rig
from tests.collab.services import create_database, drop_database, postgres_problem, unavailable

pytestmark = pytest.mark.timeout(180)

CYCLES = int(os.environ.get("COLLAB_CRASH_CYCLES") or 10)


def new_seed() -> int:
    return int(os.environ.get("COLLAB_CRASH_SEED") or random.randrange(1 << 30))


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh migrated PostgreSQL database, dropped afterwards."""
    problem = await postgres_problem()
    if problem is not None:
        unavailable(problem)
    url = await create_database("collab_crash")
    try:
        yield url
    finally:
        await drop_database(url)


async def crash_cycles(database_url: str, log_dir: Path) -> list[CycleResult]:
    seed = new_seed()
    rng = random.Random(seed)
    results: list[CycleResult] = []
    async with crash_rig(database_url, log_dir) as rig:
        for i in range(CYCLES):
            r = await rig.cycle(rng)
            results.append(r)
            where = f"seed={seed} cycle={i} delay={r.delay:.3f}s doc={r.doc}"
            assert r.problems == [], f"{where}:\n" + "\n".join(r.problems)
            assert r.lost == 0, where
        assert rig.restarts == CYCLES
        assert rig.errors() == [], f"seed={seed}"
    # The kills landed while the clients were at work: with operations acknowledged before
    # (what must survive), and with operations still in flight (what must be finished
    # exactly once after the restart).
    assert sum(r.acked_before_kill > 0 for r in results) >= CYCLES // 2, f"seed={seed}"
    assert sum(r.in_flight_at_kill for r in results) > 0, f"seed={seed}"
    acked = sum(r.acked for r in results)
    print(
        f"\ncrash: {len(results)} cycles survived, {acked} acknowledged operations "
        f"({sum(r.acked_before_kill for r in results)} before the kills), "
        f"{sum(r.lost for r in results)} lost, {sum(r.in_flight_at_kill for r in results)} "
        f"clients with work in flight at the kills (seed={seed})"
    )
    return results


async def test_sigkill_on_sqlite_loses_no_acknowledged_operation(tmp_path: Path) -> None:
    await crash_cycles(f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}", tmp_path)


@pytest.mark.services
async def test_sigkill_on_postgresql_loses_no_acknowledged_operation(
    postgres_url: str, tmp_path: Path
) -> None:
    await crash_cycles(postgres_url, tmp_path)
