"""Helpers for the hardening tests: a client that records its acknowledgements, ``collab
serve`` subprocesses restarted on the same port, and the crash cycle shared by
``tests/collab/test_crash_durability.py`` and ``bench/crash.py``.

A crash cycle (:meth:`CrashRig.cycle`): several clients edit one fresh document as fast as
they can (one operation in flight each, sometimes with more edits buffered behind it)
against a ``collab serve`` subprocess; the process is killed with SIGKILL after a random
delay; a new process starts on the same port and the same database; the clients reconnect
by themselves and finish their unacknowledged work. Then the audit (:func:`audit_cycle`):

* every acknowledgement any client saw, ``(client, seq) -> rev``, is in the history exactly
  once and at that revision (else it counts as an acknowledged operation lost);
* the revisions are exactly ``1..N``, and replaying them from the initial text gives the
  text the server serves and every client holds;
* each client's committed seqs are exactly ``1..last`` (no gap, no duplicate);
* every edit any client made appears in the text exactly once (each edit inserts a unique
  token at a token boundary, so the text is always a sequence of whole tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from collab.client import CollabClient
from ot import TextOperation
from tests.collab.services import STARTUP_TIMEOUT, ServerProcess, free_port, spawn_server

TIMEOUT = 30.0  # any single wait of a crash cycle (a restart included)


# -- a client that keeps score ----------------------------------------------------------------


class RecordingClient(CollabClient):
    """A :class:`CollabClient` that records every acknowledgement it receives, ``seq ->
    rev``: ``ack`` messages, and its own records in a welcome's catch-up list (which the
    protocol defines as acknowledgements too). Errors and resets are kept as well."""

    def __init__(self, url: str | Sequence[str], **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.acks: dict[int, int] = {}
        self.ack_conflicts: list[tuple[int, int, int]] = []  # (seq, first rev, later rev)
        self.errors: list[dict[str, Any]] = []
        self.resets: list[dict[str, Any]] = []
        self.on("error", self.errors.append)
        self.on("reset", self.resets.append)

    def _record(self, seq: Any, rev: Any) -> None:
        if type(seq) is not int or type(rev) is not int:
            self.ack_conflicts.append((-1, -1, -1))
            return
        first = self.acks.setdefault(seq, rev)
        if first != rev:
            self.ack_conflicts.append((seq, first, rev))

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "ack":
            self._record(msg.get("seq"), msg.get("rev"))
        elif kind == "welcome":
            for rec in msg.get("ops", []):
                if rec.get("client") == self.client_id:
                    self._record(rec.get("seq"), rec.get("rev"))
        super()._handle(msg)


# -- collab serve on a chosen port ------------------------------------------------------------


def serve(
    database_url: str, log_dir: Path, port: int | None = None, env: dict[str, str] | None = None
) -> ServerProcess:
    """Start ``collab serve`` on ``port`` (a free one if None); see ``wait_ready``."""
    return spawn_server(database_url, None, log_dir, env, port=port)


async def serve_ready(
    database_url: str, log_dir: Path, port: int | None = None, env: dict[str, str] | None = None
) -> ServerProcess:
    """:func:`serve`, then wait until it answers ``/healthz``. The port of a process just
    killed may still be held for a moment: then try again (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while True:
        proc = serve(database_url, log_dir, port, env)
        try:
            await proc.wait_ready(max(1.0, deadline - loop.time()))
            return proc
        except RuntimeError:
            proc.kill()
            if loop.time() > deadline or "address already in use" not in proc.log_tail():
                raise
        await asyncio.sleep(0.05)  # polling for a port to be free: nothing to wait on


def server_errors(proc: ServerProcess) -> list[str]:
    """Lines of a process's log that report an error or a traceback."""
    text = proc.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]


# -- the crash cycle --------------------------------------------------------------------------

TOKEN = re.compile(r"<(c\d+):(\d+)·>")
SERVER_ENV = {
    # Fast editors must not be throttled; snapshots and versions are taken often, so that
    # kills also land in the middle of those writes.
    "COLLAB_OPS_PER_SECOND": "100000",
    "COLLAB_AUTOSAVE_EVERY": "37",
    "COLLAB_AUTOSAVE_IDLE": "0.2",
}


@dataclass
class Editor:
    """One client inserting unique tokens (``<c0:17·>``) at token boundaries."""

    name: str
    client: RecordingClient
    rng: random.Random
    floor: int  # the length of the initial text, which stays first
    made: int = 0  # tokens inserted so far (the last is ``<name:made·>``)

    def boundaries(self) -> list[int]:
        ends = (m.end() for m in TOKEN.finditer(self.client.text))
        return [self.floor, *(e for e in ends if e > self.floor)]

    def edit(self) -> None:
        self.made += 1
        pos = self.rng.choice(self.boundaries())
        self.client.insert(pos, f"<{self.name}:{self.made}·>")

    async def run(self, stop: asyncio.Event) -> None:
        """Edit until ``stop``: one to three edits (the first in flight, the rest composed
        behind it), then wait for the acknowledgement of all of them."""
        while not stop.is_set():
            for _ in range(self.rng.choice((1, 1, 2, 3))):
                self.edit()
            await self.client.wait_synced(TIMEOUT)


@dataclass
class CycleResult:
    """What one cycle did, and what went wrong (``problems`` empty: survived)."""

    doc: str
    acked: int  # acknowledgements received in all
    lost: int  # acknowledged (client, seq) not in the history exactly once at their rev
    ops: int  # revisions in the history
    problems: list[str] = field(default_factory=list)
    delay: float = 0.0  # seconds of editing before the kill
    acked_before_kill: int = 0  # acknowledgements received before the kill
    in_flight_at_kill: int = 0  # clients with unacknowledged edits at the kill


@dataclass
class CrashRig:
    """A ``collab serve`` process on a fixed port and database, killed and restarted."""

    database_url: str
    log_dir: Path
    clients: int = 4
    port: int = field(default_factory=free_port)
    proc: ServerProcess | None = None
    restarts: int = 0

    async def start(self) -> None:
        self.proc = await serve_ready(self.database_url, self.log_dir, self.port, SERVER_ENV)

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed that was not already committed."""
        if self.proc is not None:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()

    def errors(self) -> list[str]:
        """Errors logged by any process of this rig (each restart appends to one log)."""
        return server_errors(self.proc) if self.proc is not None else []

    async def cycle(self, rng: random.Random, max_delay: float = 0.6) -> CycleResult:
        """One crash cycle on a fresh document (see the module docstring)."""
        assert self.proc is not None, "start() first"
        doc = f"crash-{uuid.uuid4().hex[:12]}"
        initial = "start·"
        async with httpx.AsyncClient(base_url=self.proc.url, timeout=TIMEOUT) as http:
            r = await http.post("/api/docs", json={"id": doc, "text": initial})
            assert r.status_code == 201, r.text
        url = f"ws://127.0.0.1:{self.port}/ws/{doc}"
        eds = [
            Editor(
                f"c{i}",
                RecordingClient(
                    url,
                    client_id=f"c{i}-{uuid.uuid4().hex[:8]}",
                    backoff_base=0.05,
                    backoff_max=0.5,
                ),
                random.Random(rng.random()),
                len(initial),
            )
            for i in range(self.clients)
        ]
        delay = rng.uniform(0.02, max_delay)
        stop = asyncio.Event()
        work: list[asyncio.Task[None]] = []
        try:
            await asyncio.gather(*(ed.client.connect(TIMEOUT) for ed in eds))
            work = [asyncio.create_task(ed.run(stop)) for ed in eds]
            # The moment of the kill is the point of the test: a timer, not a wait on an event.
            await asyncio.sleep(delay)
            self.kill()
            stop.set()
            acked_before = sum(len(ed.client.acks) for ed in eds)
            in_flight = sum(ed.client.pending is not None for ed in eds)
            await self.start()
            self.restarts += 1
            async with asyncio.timeout(TIMEOUT):
                await asyncio.gather(*work)
            result = await audit_cycle(self.proc.url, doc, initial, eds)
        finally:
            stop.set()
            for task in work:
                task.cancel()
            await asyncio.gather(*work, return_exceptions=True)
            await asyncio.gather(*(ed.client.close() for ed in eds), return_exceptions=True)
        result.delay, result.acked_before_kill, result.in_flight_at_kill = (
            delay,
            acked_before,
            in_flight,
        )
        return result


async def history(http: httpx.AsyncClient, doc: str) -> list[dict[str, Any]]:
    """Every op record of ``doc``, paging through ``/ops`` 1000 at a time."""
    out: list[dict[str, Any]] = []
    while True:
        r = await http.get(f"/api/docs/{doc}/ops", params={"after": len(out), "limit": 1000})
        r.raise_for_status()
        page = r.json()
        if not page:
            return out
        out.extend(page)


async def audit_cycle(base_url: str, doc: str, initial: str, eds: list[Editor]) -> CycleResult:
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT) as http:
        log = await history(http, doc)
        r = await http.get(f"/api/docs/{doc}")
        r.raise_for_status()
        served_rev, served = r.json()["rev"], r.json()["text"]

    # Each client waited for its own acknowledgements; the others' last operations may
    # still be on their way to it.
    try:
        await asyncio.gather(*(ed.client.wait_for_rev(len(log), TIMEOUT) for ed in eds))
    except TimeoutError:
        problems.append(f"clients stuck at revisions {[ed.client.rev for ed in eds]}")

    revs = [rec["rev"] for rec in log]
    if revs != list(range(1, len(log) + 1)):
        problems.append(f"revisions are not 1..{len(log)}: {revs[:10]}...")
    text = initial
    for rec in log:
        try:
            text = TextOperation.from_json(rec["op"]).apply(text)
        except ValueError as e:
            problems.append(f"revision {rec['rev']} does not apply: {e}")
            break
    if (served_rev, served) != (len(log), text):
        problems.append(f"served rev {served_rev} differs from the replay of {len(log)} ops")

    where = Counter((rec["client"], rec["seq"]) for rec in log)
    at = {(rec["client"], rec["seq"]): rec["rev"] for rec in log}
    if dups := [k for k, n in where.items() if n > 1]:
        problems.append(f"committed more than once: {dups[:5]}")
    lost = 0
    acked = 0
    for ed in eds:
        c = ed.client
        for seq, rev in c.acks.items():
            acked += 1
            if where[(c.client_id, seq)] != 1 or at.get((c.client_id, seq)) != rev:
                lost += 1
                problems.append(
                    f"{ed.name} seq {seq} acked at rev {rev}, history: {at.get((c.client_id, seq))}"
                )
        seqs = sorted(seq for (client, seq) in where if client == c.client_id)
        if seqs != list(range(1, c.state.last_seq + 1)):
            problems.append(f"{ed.name} committed seqs {seqs[:5]}.. not 1..{c.state.last_seq}")
        if c.ack_conflicts:
            problems.append(f"{ed.name} acked one seq at two revisions: {c.ack_conflicts[:3]}")
        if c.text != text or c.pending is not None:
            problems.append(f"{ed.name} holds other text (rev {c.rev}, pending {c.pending})")
        if lost_edits := [(x.get("rev"), x["lost"]) for x in c.resets if x.get("lost")]:
            problems.append(f"{ed.name} dropped edits in resets (rev, edits): {lost_edits[:2]}")
        if c.errors:
            problems.append(f"{ed.name} got errors: {c.errors[:3]}")

    body = text[len(initial) :] if text.startswith(initial) else None
    if body is None or TOKEN.sub("", body) != "":
        problems.append("the text is not the initial text followed by whole tokens")
    tokens = Counter(TOKEN.findall(text))
    made = Counter((ed.name, str(i)) for ed in eds for i in range(1, ed.made + 1))
    if tokens != made:
        missing = sorted(made - tokens)[:5]
        extra = sorted(tokens - made)[:5]
        problems.append(f"edits not there exactly once: missing {missing}, extra {extra}")
    return CycleResult(doc, acked, lost, len(log), problems)


@contextlib.asynccontextmanager
async def crash_rig(database_url: str, log_dir: Path, clients: int = 4) -> AsyncIterator[CrashRig]:
    rig = CrashRig(database_url, log_dir, clients)
    await rig.start()
    try:
        yield rig
    finally:
        rig.stop()
