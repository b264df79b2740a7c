"""The ``collab`` command: ``serve``, ``db upgrade`` and ``token``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import socket
import subprocess
import sys
from collections.abc import Sequence

from collab.settings import Settings


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _migrate_sqlite_apart(url: str) -> None:
    """Migrate a SQLite file that needs it in a child process, so that the server never
    imports Alembic and SQLAlchemy (tens of megabytes it would keep for its lifetime)."""
    from collab.store.dburl import SCHEMA_HEAD, is_sqlite_url, sqlite_path, sqlite_schema_version

    if not is_sqlite_url(url):
        return
    path = sqlite_path(url)
    if sqlite_schema_version(path) == SCHEMA_HEAD:
        return
    subprocess.run(
        [sys.executable, "-m", "collab.cli", "db", "upgrade", "--database-url", url], check=True
    )


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server.

    The server allocates many short-lived objects per operation (messages, components) and
    holds many long-lived ones (sessions, history). With the default thresholds a full
    collection walks every object a few times a minute under load, a pause of hundreds of
    milliseconds at a thousand open documents (measured by bench/many_docs.py). Objects
    that exist at start-up are frozen out of collections altogether.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 3, 1000)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from collab.app import Services, create_app

    settings = Settings.from_env(database_url=args.database_url, redis_url=args.redis_url)
    _migrate_sqlite_apart(settings.database_url)
    app = create_app(settings)
    services: Services = app.state.services
    _tune_gc()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop" if _has("uvloop") else "asyncio",
        http="httptools" if _has("httptools") else "h11",
        ws="websockets-sansio" if _has("websockets") else "auto",
        ws_max_size=settings.max_message_bytes,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        ws_per_message_deflate=args.permessage_deflate,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
    )

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Stop accepting, let commits in flight finish, close sessions with 1001; only
            # then let uvicorn close what is left.
            for server in getattr(self, "servers", []):
                server.close()
            await services.rooms.close_all()
            await super().shutdown(sockets)

    print(f"collab serving on http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    Server(config).run()
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    from collab.store.migrate import upgrade_database

    url = args.database_url or Settings.from_env().database_url
    asyncio.run(upgrade_database(url))
    print("database is at the latest schema", file=sys.stderr)
    return 0


def token(args: argparse.Namespace) -> int:
    from collab.jwt_auth import mint

    secret = args.secret or Settings.from_env().jwt_secret
    if not secret:
        print("no secret: set COLLAB_JWT_SECRET or pass --secret", file=sys.stderr)
        return 2
    docs: dict[str, str] = {}
    for grant in args.docs:
        for part in grant.split(","):
            pattern, _, role = part.partition("=")
            if role not in ("edit", "view") or not pattern:
                print(f"bad grant {part!r}: use PATTERN=edit or PATTERN=view", file=sys.stderr)
                return 2
            docs[pattern] = role
    print(mint(secret, args.user, args.name or args.user, docs, args.ttl))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="collab", description="Collaborative text editing.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--database-url", default=None, help="overrides COLLAB_DATABASE_URL")
    p.add_argument("--redis-url", default=None, help="overrides COLLAB_REDIS_URL")
    p.add_argument("--log-level", default="info")
    p.add_argument("--access-log", action="store_true", help="log every HTTP request")
    p.add_argument(
        "--permessage-deflate", action="store_true", help="compress WebSocket frames (CPU cost)"
    )
    p.set_defaults(func=serve)

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply Alembic migrations")
    up.add_argument("--database-url", default=None)
    up.set_defaults(func=db_upgrade)

    tok = sub.add_parser("token", help="mint a token for local use")
    tok.add_argument("--user", required=True, help="the user id (sub)")
    tok.add_argument("--name", default=None, help="display name (default: the user id)")
    tok.add_argument(
        "--docs", action="append", default=[], help="grants, e.g. 'notes-*=edit,*=view'"
    )
    tok.add_argument("--ttl", type=float, default=3600.0, help="seconds until it expires")
    tok.add_argument("--secret", default=None, help="default: COLLAB_JWT_SECRET")
    tok.set_defaults(func=token)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
