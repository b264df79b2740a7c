"""This server beside ShareDB: the shared Node runner, a table and a chart.

    .venv/bin/python -m bench side_by_side [--reps 3] [--configs 1x2000,10x500,50x100,200x25]
                                           [--peers-dir DIR] [--png docs/bench.png]

Runs ``node DIR/collab/run_bench.js REPS CONFIGS`` (../shared/peers/README.md: ShareDB and this
server alternately, a fresh server per run, the same Node load generator and workload) with
``COLLAB_SERVER_CMD`` pointing at this checkout's ``.venv/bin/collab`` and the runner's output
in a fresh directory, reads its ``summary.json``, prints the ours/ShareDB table and draws
throughput (ops/s) and ack p99 (ms) against the client count for both servers, with the date
and the machine in a caption, to ``--png``. Writes bench/results/side_by_side.json (the
summary and every run).

``--peers-dir`` defaults to /tmp/peers when it holds the runner with its node_modules;
otherwise a writable copy of ../shared/peers is made there and ``npm ci`` run in it (the shared
folder itself is never written to). Run it on a quiet machine: the figures are only
comparable within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT, log, machine, table, write_result

SHARED_PEERS = ROOT.parent / "shared" / "peers"
DEFAULT_PEERS = Path("/tmp/peers")
DEFAULT_CONFIGS = "1x2000,10x500,50x100,200x25"
LABEL = {"collab": "ours", "sharedb": "ShareDB"}


def ready(peers: Path) -> bool:
    return (
        all(
            (peers / sub / "node_modules").is_dir() and (peers / sub / "package.json").is_file()
            for sub in ("collab", "sharedb")
        )
        and (peers / "collab" / "run_bench.js").is_file()
    )


def prepare_peers(peers: Path) -> Path:
    """A writable peers folder with its Node dependencies installed."""
    if ready(peers):
        return peers
    if not peers.exists():
        if not SHARED_PEERS.is_dir():
            raise SystemExit(f"no {SHARED_PEERS} to copy the runner from")
        log(f"copying {SHARED_PEERS} to {peers}")
        shutil.copytree(SHARED_PEERS, peers, ignore=shutil.ignore_patterns("node_modules"))
    for sub in ("sharedb", "collab"):
        if not (peers / sub / "node_modules").is_dir():
            log(f"npm ci in {peers / sub}")
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=peers / sub, check=True)
    if not ready(peers):
        raise SystemExit(f"{peers} is not a usable peers folder")
    return peers


def run_runner(peers: Path, reps: int, configs: str, outdir: Path) -> list[dict[str, Any]]:
    collab = ROOT / ".venv" / "bin" / "collab"
    env = dict(
        os.environ,
        COLLAB_SERVER_CMD=f"{collab} serve --host 127.0.0.1 --port {{port}}",
        OUTDIR=str(outdir),
    )
    env.pop("COLLAB_DATABASE_URL", None)  # the runner's default: a fresh file per run
    env.pop("COLLAB_JWT_SECRET", None)
    cmd = ["node", str(peers / "collab" / "run_bench.js"), str(reps), configs]
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, cwd=peers / "collab", env=env, stdout=subprocess.PIPE, text=True)
    log(proc.stdout)  # the runner's own tables
    summary = outdir / "summary.json"
    if not summary.is_file():
        raise SystemExit(f"the runner wrote no {summary} (exit {proc.returncode})")
    data: list[dict[str, Any]] = json.loads(summary.read_text())
    if proc.returncode:
        log(f"the runner exited {proc.returncode}: some runs failed (see the notes column)")
    return data


def _fmt(x: float | None, spec: str = ".0f") -> str:
    return "-" if x is None else format(x, spec)


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def pairs(summary: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    ours = {(s["C"], s["M"]): s for s in summary if s["server"] == "collab"}
    theirs = {(s["C"], s["M"]): s for s in summary if s["server"] == "sharedb"}
    return [(ours[k], theirs[k]) for k in ours if k in theirs]


def report(summary: list[dict[str, Any]]) -> str:
    rows = []
    for a, b in pairs(summary):
        rows.append(
            [
                f"{a['C']} x {a['M']}",
                f"{a['ok']}/{a['reps']}, {b['ok']}/{b['reps']}",
                _fmt(a["opsPerSec"]),
                _fmt(b["opsPerSec"]),
                _ratio(a["opsPerSec"], b["opsPerSec"]),
                f"{_fmt(a['ackP50'], '.2f')} / {_fmt(a['ackP99'], '.1f')}",
                f"{_fmt(b['ackP50'], '.2f')} / {_fmt(b['ackP99'], '.1f')}",
                _ratio(a["ackP99"], b["ackP99"]),
                f"{_fmt(a['serverCpuUsPerOp'])} / {_fmt(b['serverCpuUsPerOp'])}",
                f"{_fmt(a['serverPeakRssMB'])} / {_fmt(b['serverPeakRssMB'])}",
                f"{a['allConverged']} / {b['allConverged']}",
            ]
        )
    return table(
        [
            "C x M",
            "runs ok (ours, ShareDB)",
            "ours ops/s",
            "ShareDB ops/s",
            "ops/s ratio",
            "ours ack p50 / p99 ms",
            "ShareDB ack p50 / p99 ms",
            "p99 ratio",
            "server CPU us/op (ours / ShareDB)",
            "peak RSS MB (ours / ShareDB)",
            "converged (ours / ShareDB)",
        ],
        rows,
        right=(2, 3, 4, 7),
    )


def plot(summary: list[dict[str, Any]], png: Path, info: dict[str, Any], reps: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
    styles = {"collab": ("tab:blue", "o"), "sharedb": ("tab:orange", "s")}
    for server in ("collab", "sharedb"):
        runs = sorted((s for s in summary if s["server"] == server), key=lambda s: s["C"])
        runs = [s for s in runs if s["opsPerSec"] is not None]
        if not runs:
            continue
        color, marker = styles[server]
        xs = [s["C"] for s in runs]
        kw = {"color": color, "marker": marker, "label": LABEL[server]}
        ax1.plot(xs, [s["opsPerSec"] for s in runs], **kw)
        lo = [s["opsPerSec"] - s["opsPerSecMin"] for s in runs]
        hi = [s["opsPerSecMax"] - s["opsPerSec"] for s in runs]
        ax1.errorbar(xs, [s["opsPerSec"] for s in runs], yerr=[lo, hi], fmt="none", ecolor=color)
        ax2.plot(xs, [s["ackP99"] for s in runs], **kw)
        ax2.plot(xs, [s["ackP50"] for s in runs], color=color, ls=":", marker=marker, mfc="none")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("clients on one document (C)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    xs = sorted({s["C"] for s in summary})
    for ax in (ax1, ax2):
        ax.set_xticks(xs, [f"{x}x{next(s['M'] for s in summary if s['C'] == x)}" for x in xs])
        ax.minorticks_off()
    ax1.set_ylabel("committed ops/s (median; bars: min-max)")
    ax1.set_title("Throughput")
    ax1.set_ylim(bottom=0)
    ax2.set_yscale("log")
    ax2.set_ylabel("ack latency ms (solid p99, dotted p50)")
    ax2.set_title("Acknowledgement latency")
    fig.suptitle("collab (Python, SQLite, durable acks) vs ShareDB (Node, in memory)")
    fig.text(
        0.5,
        0.01,
        f"{info['date']}; {info['nproc']} CPUs, {info['cpu']}; medians of {reps} run(s) per "
        "point; one document of 1,000 chars, C clients x M ops, one op in flight each",
        ha="center",
        fontsize=8,
        color="0.3",
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench side_by_side",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help="C x M list, comma-separated")
    ap.add_argument("--peers-dir", type=Path, default=DEFAULT_PEERS)
    ap.add_argument("--png", type=Path, default=ROOT / "docs" / "bench.png")
    args = ap.parse_args(argv)
    if shutil.which("node") is None:
        print("node is not on PATH", file=sys.stderr)
        return 2
    peers = prepare_peers(args.peers_dir.resolve())
    info = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="side-by-side-", dir=RESULTS) as out:
        summary = run_runner(peers, args.reps, args.configs, Path(out))
        raw_path = Path(out) / "raw.jsonl"
        raw = [json.loads(line) for line in raw_path.read_text().splitlines() if line.strip()]
    print(report(summary))
    plot(summary, args.png, info, args.reps)
    log(f"chart written to {args.png}")
    path = write_result(
        "side_by_side",
        {"machine": info, "reps": args.reps, "configs": args.configs, "summary": summary,
         "runs": raw},
    )  # fmt: skip
    log(f"written to {path}")
    return 0 if all(s["failed"] == 0 for s in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
