"""Benchmarks of the OT engine, each beside a baseline from the same run.

    .venv/bin/python -m bench.engine [--repeat N] [--traces DIR] [--skip-10m]

* real editing traces (shared/traces/sequential): one operation per patch built with
  ``from_splice`` and applied to a str, and to a TextBuffer; baseline: plain string splicing
  of the same patches;
* transform and compose of single-character operations (microseconds per pair);
* rebase of one 1-character operation and of one 1,000-component operation over 10,000
  single-character revisions; baseline: the op-by-op transform loop;
* single-character inserts into a 1M- and a 10M-character document, str against TextBuffer.

Prints a markdown table and writes bench/results/engine.json. Timings are the best of
``--repeat`` runs (timeit's advice: the minimum is the least disturbed by other processes).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import sys
import time
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ot import TextBuffer, TextOperation, compose, from_splice, rebase, transform

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "engine.json"

Patch = tuple[int, int, str]


def default_traces_dir() -> Path:
    env = os.environ.get("COLLAB_TRACES_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "traces"


def best_of(repeat: int, run: Callable[[], Any]) -> float:
    """The shortest wall time of ``repeat`` runs of ``run``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


# -- traces -----------------------------------------------------------------------------------


def load_trace(path: Path) -> tuple[str, list[Patch], str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        trace = json.load(f)
    patches = [(p[0], p[1], p[2]) for txn in trace["txns"] for p in txn["patches"]]
    return trace["startContent"], patches, trace["endContent"]


def replay_splicing(start: str, patches: list[Patch]) -> str:
    text = start
    for pos, dl, ins in patches:
        text = text[:pos] + ins + text[pos + dl :]
    return text


def replay_engine_str(start: str, patches: list[Patch]) -> str:
    text = start
    for pos, dl, ins in patches:
        text = from_splice(len(text), pos, dl, ins).apply(text)
    return text


def replay_engine_buffer(start: str, patches: list[Patch]) -> str:
    buffer = TextBuffer(start)
    for pos, dl, ins in patches:
        buffer.apply(from_splice(len(buffer), pos, dl, ins))
    return str(buffer)


def bench_traces(folder: Path, repeat: int) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(folder.glob("*.json.gz")):
        start, patches, end = load_trace(path)
        for replay in (replay_splicing, replay_engine_str, replay_engine_buffer):
            assert replay(start, patches) == end, f"{path.name}: {replay.__name__} diverged"
        base = best_of(repeat, partial(replay_splicing, start, patches))
        on_str = best_of(repeat, partial(replay_engine_str, start, patches))
        on_buffer = best_of(repeat, partial(replay_engine_buffer, start, patches))
        rows.append(
            {
                "trace": path.name.removesuffix(".json.gz"),
                "edits": len(patches),
                "final_chars": len(end),
                "splicing_s": base,
                "engine_str_s": on_str,
                "engine_buffer_s": on_buffer,
                "engine_str_ops_per_s": len(patches) / on_str,
                "engine_buffer_ops_per_s": len(patches) / on_buffer,
                "str_ratio": on_str / base,
                "buffer_ratio": on_buffer / base,
            }
        )
    return rows


# -- transform and compose --------------------------------------------------------------------


def micro_us(stmt: Callable[[], Any], number: int = 20_000, repeat: int = 5) -> float:
    """Microseconds per call: best of ``repeat`` timeit runs of ``number`` calls."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number * 1e6


def bench_micro() -> dict[str, float]:
    n = 1000

    def ins(pos: int, ch: str = "x", length: int = n) -> TextOperation:
        return from_splice(length, pos, 0, ch)

    def dele(pos: int, length: int = n) -> TextOperation:
        return from_splice(length, pos, 1, "")

    pairs = {
        "transform insert/insert": (ins(100), ins(500)),
        "transform insert/insert, same position": (ins(300, "a"), ins(300, "b")),
        "transform insert/delete": (ins(100), dele(500)),
        "transform delete/delete": (dele(100), dele(500)),
    }
    out = {name: micro_us(partial(transform, a, b)) for name, (a, b) in pairs.items()}
    # Typing: the second character right after the first, and a backspace of it.
    typed = ins(100)
    out["compose insert then insert"] = micro_us(partial(compose, typed, ins(101, "y", n + 1)))
    out["compose insert then delete"] = micro_us(partial(compose, typed, dele(100, n + 1)))
    return out


# -- rebase -----------------------------------------------------------------------------------


def single_char_history(doc_len: int, revisions: int, rng: random.Random) -> list[TextOperation]:
    """``revisions`` single-character inserts and deletes at random places, chained."""
    history = []
    length = doc_len
    for _ in range(revisions):
        if length and rng.random() < 0.3:
            op = from_splice(length, rng.randrange(length), 1, "")
        else:
            op = from_splice(length, rng.randrange(length + 1), 0, "x")
        history.append(op)
        length = op.target_length
    return history


def many_component_op(doc_len: int, components: int, rng: random.Random) -> TextOperation:
    op = TextOperation()
    step = doc_len // (components // 2 + 1)
    while len(op.ops) < components - 1:
        op.retain(rng.randint(1, step - 1))
        if rng.random() < 0.5:
            op.insert("y")
        else:
            op.delete(1)
    return op.retain(doc_len - op.base_length)


def op_by_op(op: TextOperation, history: list[TextOperation]) -> TextOperation:
    for b in history:
        op = transform(op, b)[0]
    return op


def bench_rebase(repeat: int) -> list[dict[str, Any]]:
    rng = random.Random(20240601)
    doc_len = 10_000
    history = single_char_history(doc_len, 10_000, rng)
    cases = [
        ("1-char op over 10,000 single-char revisions", from_splice(doc_len, 5000, 0, "z")),
        (
            "1,000-component op over 10,000 single-char revisions",
            many_component_op(doc_len, 1000, rng),
        ),
    ]
    rows = []
    for name, op in cases:
        assert rebase(op, history) == op_by_op(op, history), name
        fast = best_of(repeat, partial(rebase, op, history))
        base = best_of(max(1, repeat // 2), partial(op_by_op, op, history))
        rows.append(
            {
                "case": name,
                "components": len(op.ops),
                "rebase_ms": fast * 1e3,
                "op_by_op_ms": base * 1e3,
                "speedup": base / fast,
            }
        )
    return rows


# -- large documents --------------------------------------------------------------------------


def inserts_into_str(doc: str, positions: list[int]) -> None:
    text = doc
    for pos in positions:
        text = from_splice(len(text), pos, 0, "x").apply(text)


def inserts_into_buffer(buffer: TextBuffer, positions: list[int]) -> None:
    for pos in positions:
        buffer.apply(from_splice(len(buffer), pos, 0, "x"))


def bench_large(sizes: list[int]) -> list[dict[str, Any]]:
    rng = random.Random(7)
    rows = []
    for size in sizes:
        doc = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
        str_ops = 200 if size <= 1_000_000 else 50
        buffer_ops = 20_000
        positions = [rng.randrange(size) for _ in range(buffer_ops)]
        str_us = best_of(3, partial(inserts_into_str, doc, positions[:str_ops])) / str_ops * 1e6
        buffer = TextBuffer(doc)  # keeps growing across the runs, by 60,000 characters at most
        buffer_us = best_of(3, partial(inserts_into_buffer, buffer, positions)) / buffer_ops * 1e6
        rows.append(
            {
                "doc_chars": size,
                "str_us_per_op": str_us,
                "buffer_us_per_op": buffer_us,
                "speedup": str_us / buffer_us,
            }
        )
    return rows


# -- report -----------------------------------------------------------------------------------

TARGETS = {
    "automerge_paper_s": 1.0,
    "automerge_paper_ratio": 2.5,
    "transform_us": 1.5,
    "rebase_1char_ms": 10.0,
    "rebase_1000_ms": 1000.0,
}


def verdict(value: float, limit: float) -> str:
    return f"<= {limit:g}: {'met' if value <= limit else 'MISSED'}"


def report(results: dict[str, Any]) -> str:
    lines = ["## Traces (one op per patch)", ""]
    lines += [
        "| trace | edits | splicing s | engine str s | ops/s | x splicing "
        "| engine TextBuffer s | ops/s | x splicing | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results["traces"]:
        target = ""
        if r["trace"] == "automerge-paper":
            best = min(r["engine_str_s"], r["engine_buffer_s"])
            ratio = min(r["str_ratio"], r["buffer_ratio"])
            target = (
                f"best {best:.2f} s {verdict(best, TARGETS['automerge_paper_s'])}; "
                f"x{ratio:.2f} {verdict(ratio, TARGETS['automerge_paper_ratio'])}"
            )
        lines.append(
            f"| {r['trace']} | {r['edits']:,} | {r['splicing_s']:.3f} | {r['engine_str_s']:.3f} "
            f"| {r['engine_str_ops_per_s']:,.0f} | {r['str_ratio']:.2f} "
            f"| {r['engine_buffer_s']:.3f} | {r['engine_buffer_ops_per_s']:,.0f} "
            f"| {r['buffer_ratio']:.2f} | {target} |"
        )
    lines += ["", "## Transform and compose, single-character operations", ""]
    lines += ["| pair | us per pair | target |", "|---|---:|---|"]
    for name, us in results["micro"].items():
        target = verdict(us, TARGETS["transform_us"]) if name.startswith("transform") else ""
        lines.append(f"| {name} | {us:.2f} | {target} |")
    lines += ["", "## Rebase", ""]
    lines += [
        "| case | rebase ms | op-by-op transform ms | speedup | target |",
        "|---|---:|---:|---:|---|",
    ]
    for r, key in zip(results["rebase"], ("rebase_1char_ms", "rebase_1000_ms"), strict=True):
        target = verdict(r["rebase_ms"], TARGETS[key])
        lines.append(
            f"| {r['case']} ({r['components']} components) | {r['rebase_ms']:.2f} "
            f"| {r['op_by_op_ms']:.2f} | {r['speedup']:.1f} | {target} |"
        )
    lines += ["", "## Single-character inserts into a large document", ""]
    lines += ["| document | str us/op | TextBuffer us/op | speedup |", "|---:|---:|---:|---:|"]
    for r in results["large"]:
        lines.append(
            f"| {r['doc_chars']:,} chars | {r['str_us_per_op']:.1f} "
            f"| {r['buffer_us_per_op']:.2f} | {r['speedup']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best kept)")
    parser.add_argument("--traces", type=Path, default=default_traces_dir())
    parser.add_argument("--skip-10m", action="store_true", help="only the 1M document")
    args = parser.parse_args(argv)

    sequential = args.traces / "sequential"
    if not sequential.is_dir():
        print(f"no traces at {sequential}; set COLLAB_TRACES_DIR or --traces", file=sys.stderr)
        return 2
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "repeat": args.repeat,
        "targets": TARGETS,
        "traces": bench_traces(sequential, args.repeat),
        "micro": bench_micro(),
        "rebase": bench_rebase(args.repeat),
        "large": bench_large([1_000_000] if args.skip_10m else [1_000_000, 10_000_000]),
    }
    print(report(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
