"""The `chargegraph` command: serve the API, seed data, export the schema and the reference docs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from graph.core.limits import MAX_WEBSOCKET_MESSAGE_BYTES
from graph.core.logs import logging_config
from graph.core.settings import Settings, describe_errors

log = logging.getLogger("graph.cli")

# How long one bulk write or index build of `chargegraph seed` may take: the
# connector indexes of a million connectors took 23 minutes to build here.
SEED_TIMEOUT_SECONDS = 3600.0
# The embedded database's cache while it seeds. The connector indexes of a
# million connectors take 3.9 GB on disk; building indexes four times the size
# of the cache took a quarter more CPU than in a cache that held them (measured
# with 300,000 connectors and a 300 MB cache).
SEED_CACHE_SIZE = "8G"


def _settings(**overrides: object) -> Settings:
    """Settings from the environment; an invalid value stops the command, naming the variable."""
    try:
        return Settings.from_env(**overrides)
    except ValidationError as error:
        print(f"chargegraph: {describe_errors(error)}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(args: argparse.Namespace) -> int:
    from graph.app import create_app

    settings = _settings(data_dir=args.data_dir, demo=args.demo or None)
    demo_key = None
    if not settings.admin_keys:
        if settings.demo:
            # Lets a newcomer try mutations in GraphiQL; valid for this run only.
            demo_key = secrets.token_urlsafe(24)
            settings = settings.model_copy(update={"admin_keys": (demo_key,)})
        else:
            log.warning("No CHARGEGRAPH_ADMIN_KEYS set: nobody can create organizations.")
    workers = args.workers if args.workers > 0 else (os.cpu_count() or 1)
    try:
        # Built here even with several workers: a bad setting stops the parent at once.
        app = create_app(settings)
    except ValueError as error:
        print(f"chargegraph: {error}", file=sys.stderr)
        return 2
    where = "MONGODB_URI" if settings.mongodb_uri else f"embedded database in {settings.data_dir}"
    shown_host = "localhost" if args.host in ("0.0.0.0", "127.0.0.1") else args.host
    log.info(
        "ChargeGraph on %s%s; GraphiQL: http://%s:%d/graphql",
        where,
        f", {workers} worker processes" if workers > 1 else "",
        shown_host,
        args.port,
    )
    if settings.demo:
        print(f"Live map: http://{shown_host}:{args.port}/map", file=sys.stderr, flush=True)
    if demo_key is not None:
        # For the person at the terminal, not for the logs: keys are never logged.
        print(
            f"Demo admin key (this run only): {demo_key}\n"
            '  In GraphiQL, Headers: {"Authorization": "Bearer <key>"}',
            file=sys.stderr,
            flush=True,
        )
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_config": logging_config(settings),
        "lifespan": "on",
        # Requests still running after SIGTERM get this many seconds, so a
        # stop takes seconds even when the database is gone.
        "timeout_graceful_shutdown": 5,
        # Client addresses (rate limits, logs) come from the proxy's headers only
        # when it is one of the trusted addresses.
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": settings.forwarded_allow_ips or None,
        "ws_max_size": MAX_WEBSOCKET_MESSAGE_BYTES,
        # Status events are a few hundred bytes: compressing each costs more
        # CPU (about a tenth of a busy server's) than it saves on the wire.
        "ws_per_message_deflate": False,
    }
    # uvicorn stops gracefully on SIGTERM, then raises the signal again for the
    # handler it found: this one, so a requested stop ends with status 0.
    signal.signal(signal.SIGTERM, _stopped)
    if workers == 1:
        uvicorn.run(app, **options)
        return 0
    return _serve_workers(settings, workers, options)


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _serve_workers(settings: Settings, workers: int, options: dict[str, Any]) -> int:
    """Several server processes on one port, sharing one database.

    The embedded database (when no MONGODB_URI is set) is started once, here,
    and each worker is told its address; the demo network is added once, here.
    Each worker has its own status hub and OCPP connections. SIGTERM to this
    process stops the workers, then the database.
    """
    from graph.embedded import EmbeddedDatabase

    embedded = None
    environment = {
        "CHARGEGRAPH_ADMIN_KEYS": ",".join(settings.admin_keys),
        "CHARGEGRAPH_DEMO": "false",
    }
    if not settings.mongodb_uri:
        embedded = EmbeddedDatabase(settings.data_dir)
        environment["MONGODB_URI"] = embedded.start()
    try:
        if settings.demo:
            asyncio.run(
                _seed_demo(
                    settings.model_copy(
                        update={"mongodb_uri": environment.get("MONGODB_URI", settings.mongodb_uri)}
                    )
                )
            )
        os.environ.update(environment)
        uvicorn.run("graph.app:app_from_environment", factory=True, workers=workers, **options)
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


async def _seed_demo(settings: Settings) -> None:
    from graph.database import connect
    from graph.seed import seed_demo

    database = await connect(settings)
    try:
        await seed_demo()
    finally:
        await database.close()


def _seed(args: argparse.Namespace) -> int:
    from graph.database import connect
    from graph.embedded import EmbeddedDatabase
    from graph.seed import seed_network

    # Bulk inserts and index builds take longer than a request may wait.
    settings = _settings(data_dir=args.data_dir).model_copy(
        update={"db_timeout_seconds": SEED_TIMEOUT_SECONDS}
    )
    started = time.monotonic()
    embedded = None
    if not settings.mongodb_uri:
        embedded = EmbeddedDatabase(settings.data_dir, options=("--cache-size", SEED_CACHE_SIZE))
        settings = settings.model_copy(update={"mongodb_uri": embedded.start()})

    def progress(done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        rate = done / max(time.monotonic() - started, 1e-6)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} connectors ({rate:,.0f}/s)"
        )
        if done == total:
            # What follows (the index build's log lines) starts on a line of its own.
            sys.stderr.write("\n")
        sys.stderr.flush()

    async def run() -> None:
        database = await connect(settings)
        try:
            await seed_network(
                args.connectors,
                args.organizations,
                progress=progress,
                largest_share=args.largest_share,
            )
        finally:
            await database.close()

    try:
        asyncio.run(run())
    except ValueError as error:
        # Asked for more endpoints than are left, or connectors without organizations.
        print(f"chargegraph: {error}", file=sys.stderr)
        return 2
    finally:
        if embedded is not None:
            embedded.stop()
    print(
        f"added {args.organizations} organizations and {args.connectors:,} connectors "
        f"in {time.monotonic() - started:.1f}s"
    )
    return 0


def _share(text: str) -> float:
    """A fraction strictly between 0 and 1, for argparse."""
    share = float(text)
    if not 0.0 < share < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return share


def _export_schema(args: argparse.Namespace) -> int:
    from graph.schema import schema

    text = schema.as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


def _export_docs(args: argparse.Namespace) -> int:
    from graph.reference import export_docs

    for written in export_docs(Path(args.root)):
        print(f"wrote {written}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chargegraph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the GraphQL server")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="embedded database directory when MONGODB_URI is unset (default ./data)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="add a demo network to an empty database"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes on the port (0: one per core); they share one database",
    )
    serve.set_defaults(run=_serve)

    seed = commands.add_parser(
        "seed",
        help="add a synthetic network (in bulk)",
        description="Add a synthetic network in bulk. A large load (at least as many "
        "connectors as are stored) drops the connector indexes and builds them again "
        "after it: do not run one against a database in service.",
    )
    seed.add_argument("--connectors", type=int, default=10_000, help="how many connectors")
    seed.add_argument(
        "--organizations",
        type=int,
        default=20,
        help="how many organizations (0: spread the connectors over those stored)",
    )
    seed.add_argument(
        "--largest-share",
        type=_share,
        default=None,
        metavar="FRACTION",
        help="share of the connectors for the first organization, the others splitting the "
        "rest (default: all organizations alike)",
    )
    seed.add_argument("--data-dir", type=Path, default=None, help="embedded database directory")
    seed.set_defaults(run=_seed)

    export = commands.add_parser("export-schema", help="print the schema in SDL")
    export.add_argument("--output", default="-", help="file to write (default: stdout)")
    export.set_defaults(run=_export_schema)
    docs = commands.add_parser(
        "export-docs", help="regenerate the settings table and the schema reference in docs/"
    )
    docs.add_argument("--root", default=".", help="the repository (default: here)")
    docs.set_defaults(run=_export_docs)

    args = parser.parse_args(argv)
    if args.command == "serve":
        logging.config.dictConfig(logging_config(_settings()))
    else:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
