"""Counters and histograms served at ``/metrics`` in the Prometheus text format."""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, v: float) -> None:
        self.counts[bisect_left(self.buckets, v)] += 1
        self.total += v
        self.n += 1

    def render(self, name: str, help_: str) -> list[str]:
        out = [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
        acc = 0
        for b, c in zip(self.buckets, self.counts, strict=False):
            acc += c
            out.append(f'{name}_bucket{{le="{b}"}} {acc}')
        out.append(f'{name}_bucket{{le="+Inf"}} {self.n}')
        out.append(f"{name}_sum {self.total}")
        out.append(f"{name}_count {self.n}")
        return out


class Metrics:
    """The process's counters. Plain attributes: the event loop is single-threaded."""

    def __init__(self) -> None:
        self.connections = 0
        self.documents_open = 0
        self.ops_committed = 0
        self.commit_conflicts = 0
        self.errors: Counter[str] = Counter()
        self.ack_latency = _Histogram(_LATENCY_BUCKETS)
        self.commit_seconds = _Histogram(_LATENCY_BUCKETS)
        self.commit_batch = _Histogram(_BATCH_BUCKETS)
        self.queue_depth: Callable[[], int] = lambda: 0
        self.loop_lag_max = 0.0  # the longest the event loop was late to the probe's timer

    async def probe_loop_lag(self, interval: float) -> None:
        """Run until cancelled: sleep ``interval`` and record how late the loop woke up
        (a stall of the loop by any one message or request shows up here)."""
        loop = asyncio.get_running_loop()
        while True:
            t0, cpu0 = loop.time(), time.thread_time()
            await asyncio.sleep(interval)
            late = loop.time() - t0 - interval
            # Only what this thread computed meanwhile: being late because the OS ran
            # another process is not a stall of the loop.
            busy = time.thread_time() - cpu0
            self.loop_lag_max = max(self.loop_lag_max, min(late, busy))

    def observe_commit(self, size: int, seconds: float) -> None:
        self.commit_batch.observe(size)
        self.commit_seconds.observe(seconds)

    def observe_ack(self, seconds: float) -> None:
        self.ack_latency.observe(seconds)

    def render(self) -> str:
        lag, self.loop_lag_max = self.loop_lag_max, 0.0  # the worst since the last scrape
        lines = [
            "# HELP collab_connections Open WebSocket sessions.",
            "# TYPE collab_connections gauge",
            f"collab_connections {self.connections}",
            "# HELP collab_documents_open Documents loaded in memory.",
            "# TYPE collab_documents_open gauge",
            f"collab_documents_open {self.documents_open}",
            "# HELP collab_ops_committed_total Operations committed by this process.",
            "# TYPE collab_ops_committed_total counter",
            f"collab_ops_committed_total {self.ops_committed}",
            "# HELP collab_commit_conflicts_total Commits that lost a race and were retried.",
            "# TYPE collab_commit_conflicts_total counter",
            f"collab_commit_conflicts_total {self.commit_conflicts}",
            "# HELP collab_broadcast_queue_depth Messages waiting in session send queues.",
            "# TYPE collab_broadcast_queue_depth gauge",
            f"collab_broadcast_queue_depth {self.queue_depth()}",
            "# HELP collab_event_loop_lag_seconds_max Longest event-loop stall since the last "
            "scrape (COLLAB_LAG_PROBE_INTERVAL).",
            "# TYPE collab_event_loop_lag_seconds_max gauge",
            f"collab_event_loop_lag_seconds_max {lag:.6f}",
            "# HELP collab_errors_total Error replies by code.",
            "# TYPE collab_errors_total counter",
        ]
        for code, n in sorted(self.errors.items()):
            lines.append(f'collab_errors_total{{code="{code}"}} {n}')
        lines += self.ack_latency.render(
            "collab_ack_latency_seconds", "From receiving an op to acknowledging it."
        )
        lines += self.commit_seconds.render("collab_commit_seconds", "Store commit duration.")
        lines += self.commit_batch.render("collab_commit_batch_size", "Operations per commit.")
        return "\n".join(lines) + "\n"
