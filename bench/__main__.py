"""``python -m bench NAME [ARGS...]``: run one benchmark (``python -m bench NAME --help``).

Each prints a markdown table and writes its figures to bench/results/NAME.json.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

BENCHMARKS = {
    "engine": "the OT engine: traces, transform/compose, rebase, large documents",
    "load": "C clients x M operations on one document (fresh server per run)",
    "multiprocess": "one and three server processes on PostgreSQL and Redis",
    "idle": "server memory per idle WebSocket connection (5,000 connections)",
    "many_docs": "1,000 documents x 2 editors typing at 5 ops/s; also 100 and 300",
    "open_history": "time to open a document of 100,000 revisions (WebSocket and HTTP)",
    "reconnect_storm": "500 clients of one document reconnect at once and catch up",
    "side_by_side": "this server beside ShareDB (shared Node runner) -> docs/bench.png",
    "room_path": "the document core's cost per operation: one room, no sockets, no database",
}


def known() -> dict[str, str]:
    """The benchmarks above, and any other module of this folder (one added later)."""
    out = dict(BENCHMARKS)
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if not path.stem.startswith("_") and path.stem not in out and path.stem != "common":
            out[path.stem] = "(see its --help)"
    return out


def usage() -> str:
    names = known()
    width = max(map(len, names))
    lines = [f"  {name:<{width}}  {what}" for name, what in names.items()]
    return "usage: python -m bench NAME [ARGS...]\n\nbenchmarks:\n" + "\n".join(lines)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(usage())
        return 0 if len(sys.argv) >= 2 else 2
    name = sys.argv[1].replace("-", "_")
    if name not in known():
        print(f"unknown benchmark {sys.argv[1]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    sys.argv = [f"python -m bench {name}", *sys.argv[2:]]
    try:
        runpy.run_module(f"bench.{name}", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
