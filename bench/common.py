"""What the server benchmarks share: a fresh ``collab serve`` on a temporary SQLite file,
/proc readings of its memory and CPU, a raw WebSocket client, percentiles, tables, results.

Every benchmark talks to 127.0.0.1 only and stops the server it started by its PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
COLLAB = ROOT / ".venv" / "bin" / "collab"
PAGE = 4096


# -- numbers and output -----------------------------------------------------------------------


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of ``xs`` (sorted or not); NaN when empty."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Iterable[int] | str = ()
) -> str:
    """A markdown table; the columns numbered in ``right`` (or all, ``"*"``) right-aligned."""
    cols = set(range(len(headers))) if right == "*" else set(right)
    align = ["---:" if i in cols else "---" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    """Where and when the figures were taken."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ""
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "loadavg_at_start": load,
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- limits -----------------------------------------------------------------------------------


def raise_nofile(want: int) -> int:
    """Raise this process's RLIMIT_NOFILE soft limit towards ``want`` (capped by the hard
    limit); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- /proc ------------------------------------------------------------------------------------


def proc_status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM), in KiB; 0 if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(rf"^{key}:\s+(\d+)\s+kB", text, re.M)
    return int(m.group(1)) if m else 0


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def self_cpu_s() -> float:
    """CPU seconds of this process and its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


# -- the server -------------------------------------------------------------------------------


class Server:
    """``collab serve`` on 127.0.0.1, a free port and a SQLite file in a temporary directory
    (or ``db_path``), its output in ``server.log`` there. Use as a context manager."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        nofile: int = 0,
        db_path: Path | None = None,
        port: int | None = None,
        keep_dir: bool = False,
    ) -> None:
        self.extra_env = env or {}
        self.nofile = nofile
        self.port = port or free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="collab-bench-"))
        self.db_path = db_path or self.tmp / "bench.db"
        self.keep_dir = keep_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Server:
        env = dict(
            os.environ,
            COLLAB_DATABASE_URL=f"sqlite+aiosqlite:///{self.db_path}",
            COLLAB_JWT_SECRET="",
        )
        env.update(self.extra_env)
        nofile = self.nofile

        def limits() -> None:  # in the child, before exec
            if nofile:
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                cap = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
                resource.setrlimit(resource.RLIMIT_NOFILE, (cap, hard))

        self._log = open(self.tmp / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(COLLAB), "serve", "--port", str(self.port), "--log-level", "warning"],
            env=env,
            cwd=self.tmp,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=limits,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited at start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        log(f"collab serve: pid {self.proc.pid}, {self.url}")
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(Exception):
            self._log.close()
        if not self.keep_dir:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.tmp / "server.log").read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # readings
    def rss_kib(self) -> int:
        return proc_status_kib(self.pid, "VmRSS")

    def hwm_kib(self) -> int:
        return proc_status_kib(self.pid, "VmHWM")

    def cpu_s(self) -> float:
        return proc_cpu_s(self.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> dict[str, float]:
        """The /metrics page as {sample name with labels: value}."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def http_json(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = orjson.dumps(body) if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return orjson.loads(r.read())


def histogram_quantile(
    before: dict[str, float], after: dict[str, float], name: str, q: float
) -> float:
    """The ``q`` quantile (0..1) of a Prometheus histogram's increase between two scrapes,
    as the upper bound of the bucket it falls in (seconds); NaN without observations."""
    pat = re.compile(rf'^{re.escape(name)}_bucket\{{le="([^"]+)"\}}$')
    buckets = []
    for key, v in after.items():
        m = pat.match(key)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            buckets.append((le, v - before.get(key, 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return float("nan")
    rank = q * buckets[-1][1]
    for le, count in buckets:
        if count >= rank:
            return le
    return float("inf")


# -- a raw client -----------------------------------------------------------------------------


def hello(client: str, rev: int | None = None) -> str:
    msg: dict[str, Any] = {"type": "hello", "protocol": 1, "client": client}
    if rev is not None:
        msg["rev"] = rev
    return orjson.dumps(msg).decode()


def client_id(prefix: str = "b") -> str:
    return f"{prefix}{secrets.token_hex(6)}"


def use_uvloop() -> None:
    """Run asyncio on uvloop when it is installed (cheaper per connection and per message)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return
    import asyncio

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def connect_kwargs(**over: Any) -> dict[str, Any]:
    """websockets.connect() options for load clients: no compression, no client pings, no
    size limit; ``max_queue=None`` keeps reading frames whether the client consumes them or
    not, so that an idle client never makes the server's send queue grow."""
    kw: dict[str, Any] = {
        "compression": None,
        "max_size": None,
        "max_queue": None,
        "ping_interval": None,
        "open_timeout": 60,
        "close_timeout": 5,
    }
    kw.update(over)
    return kw


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    out: list[float] = []
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - t0)
