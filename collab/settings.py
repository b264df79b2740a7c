"""Server settings, read from ``COLLAB_*`` environment variables (PROTOCOL §6)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./collab.db"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Secrets are masked in ``repr``."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    jwt_secret: str | None = field(default=None, repr=False)
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # open mode: Host names served besides loopback
    max_body_bytes: int = 32 << 20  # HTTP request bodies; larger ones get 413
    max_message_bytes: int = 1 << 20
    max_doc_chars: int = 10_000_000
    ops_per_second: float = 100.0
    ops_burst: int = 200
    presence_per_second: float = 50.0
    presence_burst: int = 100
    presence_max_behind: int = 100  # revisions a presence may be behind (else bad_rev)
    max_errors: int = 50  # error replies per connection before 4429
    hello_timeout: float = 10.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    send_queue_messages: int = 1000
    send_queue_bytes: int = 8 << 20
    presence_interval: float = 0.05
    autosave_idle: float = 2.0
    autosave_every: int = 500
    unload_grace: float = 30.0
    history_window: int = 1000  # committed operations kept in memory per open document
    catch_up_limit: int = 1000  # revisions a client may be behind (else bad_rev / full text)
    commit_retries: int = 60  # commit races lost in a row before an op is refused
    lag_probe_interval: float = 0.05  # event-loop lag probe period (s); 0: no probe
    shutdown_timeout: float = 10.0  # seconds a closing room waits for its queue and save
    ws_per_address: int = 256  # open WebSocket connections per client address; 0: no limit

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment, then ``overrides`` (None values are ignored)."""
        e = dict(os.environ if env is None else env)
        origins = tuple(
            o.strip() for o in e.get("COLLAB_ALLOWED_ORIGINS", "").split(",") if o.strip()
        )
        hosts = tuple(
            h.strip().lower() for h in e.get("COLLAB_ALLOWED_HOSTS", "").split(",") if h.strip()
        )
        s = cls(
            allowed_hosts=hosts,
            max_body_bytes=_int(e, "COLLAB_MAX_BODY_BYTES", 32 << 20),
            database_url=e.get("COLLAB_DATABASE_URL") or DEFAULT_DATABASE_URL,
            redis_url=e.get("COLLAB_REDIS_URL") or None,
            jwt_secret=e.get("COLLAB_JWT_SECRET") or None,
            allowed_origins=origins,
            max_message_bytes=_int(e, "COLLAB_MAX_MESSAGE_BYTES", 1 << 20),
            max_doc_chars=_int(e, "COLLAB_MAX_DOC_CHARS", 10_000_000),
            ops_per_second=_float(e, "COLLAB_OPS_PER_SECOND", 100.0),
            ops_burst=_int(e, "COLLAB_OPS_BURST", 200),
            autosave_idle=_float(e, "COLLAB_AUTOSAVE_IDLE", 2.0),
            autosave_every=_int(e, "COLLAB_AUTOSAVE_EVERY", 500),
            unload_grace=_float(e, "COLLAB_UNLOAD_GRACE", 30.0),
            ping_interval=_float(e, "COLLAB_PING_INTERVAL", 20.0),
            ping_timeout=_float(e, "COLLAB_PING_TIMEOUT", 20.0),
            hello_timeout=_float(e, "COLLAB_HELLO_TIMEOUT", 10.0),
            presence_per_second=_float(e, "COLLAB_PRESENCE_PER_SECOND", 50.0),
            send_queue_messages=_int(e, "COLLAB_SEND_QUEUE_MESSAGES", 1000),
            send_queue_bytes=_int(e, "COLLAB_SEND_QUEUE_BYTES", 8 << 20),
            ws_per_address=_int(e, "COLLAB_WS_PER_ADDRESS", 256),
            catch_up_limit=_int(e, "COLLAB_CATCH_UP_LIMIT", 1000),
            shutdown_timeout=_float(e, "COLLAB_SHUTDOWN_TIMEOUT", 10.0),
            lag_probe_interval=_float(e, "COLLAB_LAG_PROBE_INTERVAL", 0.05),
        )
        if "COLLAB_OPS_BURST" not in e and s.ops_per_second != 100.0:
            s = replace(s, ops_burst=max(1, int(s.ops_per_second * 2)))
        return s.with_overrides(**overrides)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given fields replaced (None values are ignored)."""
        known = {f.name for f in fields(self)}
        clean = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(clean) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **clean)

    def masked(self) -> dict[str, Any]:
        """Settings as a dict with secrets masked (for logs)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if out["jwt_secret"]:
            out["jwt_secret"] = "***"
        for key in ("database_url", "redis_url"):
            out[key] = mask_url(out[key])
        return out


def mask_url(url: str | None) -> str | None:
    """Hide the password in a database or Redis URL."""
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
