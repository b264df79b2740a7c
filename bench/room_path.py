"""The document core's own cost per operation: one room, no sockets, no database.

    .venv/bin/python -m bench.room_path [--ops 20000] [--reps 5]

A room on the in-memory store, one peer that keeps what it is sent, typing one character at
a time and waiting for each ack: what the room adds to an operation (prepare, commit call,
integrate, fan-out, publish) without the WebSocket, the JSON parse and the fsync around it.
Prints the median microseconds per operation and writes bench/results/room_path.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from collab import wire
from collab.errors import Close, ProtocolError
from collab.metrics import Metrics
from collab.pubsub.memory import MemoryPubSub
from collab.room import Room
from collab.settings import Settings
from collab.store.memory import MemoryStore
from ot import TextOperation

RESULTS = Path(__file__).resolve().parent / "results"


class Peer:
    def __init__(self, client: str) -> None:
        self.client, self.user, self.user_id, self.role = client, {}, None, "edit"
        self.sent: list[str] = []

    def send(self, text: str) -> None:
        self.sent.append(text)

    def send_error(self, err: ProtocolError) -> None:
        raise AssertionError(err.message)

    def close(self, code: Close, reason: str = "") -> None:
        raise AssertionError(f"closed {code}")


async def once(n: int) -> float:
    store = MemoryStore()
    await store.open()
    await store.create_document("d")
    room = Room("d", store, MemoryPubSub(), Settings(autosave_idle=1e9), Metrics(), lambda r: None)
    await room.load()
    room.start()
    peer = Peer("a")
    await room.join(peer, wire.Hello("a", None, {}, None))
    t0 = time.perf_counter()
    for i in range(n):
        op = TextOperation().retain(i).insert("x") if i else TextOperation().insert("x")
        room.submit(peer, i, i + 1, op)
        await room.queue.join()
    elapsed = time.perf_counter() - t0
    assert room.rev == n
    await room.stop()
    return elapsed / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    runs = [asyncio.run(once(args.ops)) for _ in range(args.reps)]
    median = statistics.median(runs)
    print("| ops | runs | us/op median | min | max |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {args.ops} | {args.reps} | {median:.1f} | {min(runs):.1f} | {max(runs):.1f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"ops": args.ops, "us_per_op": runs, "median": median}
    (RESULTS / "room_path.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
