"""The `chargegraph` command: serve the API, seed data, export the schema."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import secrets
import sys
import time
from pathlib import Path

import uvicorn

from graph.core.limits import MAX_WEBSOCKET_MESSAGE_BYTES
from graph.core.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    from graph.app import create_app

    settings = Settings.from_env(data_dir=args.data_dir, demo=args.demo or None)
    notes = []
    if not settings.admin_keys:
        if settings.demo:
            # Lets a newcomer try mutations in GraphiQL; valid for this run only.
            settings = dataclasses.replace(settings, admin_keys=(secrets.token_urlsafe(24),))
            notes.append(
                f"Demo admin key (this run only): {settings.admin_keys[0]}\n"
                '  In GraphiQL, Headers: {"Authorization": "Bearer <key>"}'
            )
        else:
            notes.append("No CHARGEGRAPH_ADMIN_KEYS set: nobody can create organizations.")
    try:
        app = create_app(settings)
    except ValueError as error:
        print(f"chargegraph: {error}", file=sys.stderr)
        return 2
    where = "MONGODB_URI" if settings.mongodb_uri else f"embedded database in {settings.data_dir}"
    shown_host = "localhost" if args.host in ("0.0.0.0", "127.0.0.1") else args.host
    print(
        "\n".join(
            [
                f"ChargeGraph on {where}",
                f"GraphiQL: http://{shown_host}:{args.port}/graphql",
                *notes,
            ]
        ),
        flush=True,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        lifespan="on",
        ws_max_size=MAX_WEBSOCKET_MESSAGE_BYTES,
        # Status events are a few hundred bytes: compressing each costs more
        # CPU (about a tenth of a busy server's) than it saves on the wire.
        ws_per_message_deflate=False,
    )
    return 0


def _seed(args: argparse.Namespace) -> int:
    from graph.database import connect
    from graph.seed import seed_network

    settings = Settings.from_env(data_dir=args.data_dir)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        rate = done / max(time.monotonic() - started, 1e-6)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} connectors ({rate:,.0f}/s)"
        )
        sys.stderr.flush()

    async def run() -> None:
        database = await connect(settings)
        try:
            await seed_network(args.connectors, args.organizations, progress=progress)
        finally:
            await database.close()

    asyncio.run(run())
    sys.stderr.write("\n")
    print(
        f"added {args.organizations} organizations and {args.connectors:,} connectors "
        f"in {time.monotonic() - started:.1f}s"
    )
    return 0


def _export_schema(args: argparse.Namespace) -> int:
    from graph.schema import schema

    text = schema.as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
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
    serve.add_argument("--log-level", default="info", help="uvicorn log level")
    serve.set_defaults(run=_serve)

    seed = commands.add_parser("seed", help="add a synthetic network (in bulk)")
    seed.add_argument("--connectors", type=int, default=10_000, help="how many connectors")
    seed.add_argument("--organizations", type=int, default=20, help="how many organizations")
    seed.add_argument("--data-dir", type=Path, default=None, help="embedded database directory")
    seed.set_defaults(run=_seed)

    export = commands.add_parser("export-schema", help="print the schema in SDL")
    export.add_argument("--output", default="-", help="file to write (default: stdout)")
    export.set_defaults(run=_export_schema)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
