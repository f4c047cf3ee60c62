"""The ``orders`` command: embedded mode, the production processes, and operator tools."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from order_service import garbage, logs
from order_service.access.principals import is_loopback
from order_service.bootstrap import Container, bootstrap
from order_service.cli import archive as archive_cli
from order_service.cli import backup as backup_cli
from order_service.cli import customers as customers_cli
from order_service.cli import keys as keys_cli
from order_service.cli import operator as operator_cli
from order_service.cli.output import NoEventStoreError, set_verbose
from order_service.eventstore.port import EventStoreError
from order_service.http import workers
from order_service.http.app import (
    command_app,
    embedded_app,
    projector_app,
    search_app,
)
from order_service.http.limits import server_options
from order_service.settings import Settings, explain
from projectors.registry import PROJECTIONS

AppFactory = Callable[[Container], FastAPI]


def _settings(**overrides: Any) -> Settings:
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)


def _serve(
    settings: Settings,
    factory: AppFactory,
    insecure: bool,
    projections: list[str] | None = None,
    *,
    failover: bool = False,
) -> int:
    logs.configure(settings.log_level, settings.log_format)
    container = bootstrap(settings)
    container.projection_names = projections
    container.failover = failover  # several `orders project` processes: one active by lease
    refusal = _exposed_without_credentials(settings, container, insecure)
    if refusal:
        container.close()
        print(f"orders: {refusal}", file=sys.stderr)
        return 2
    app = factory(container)
    garbage.settle()
    uvicorn.run(app, **_uvicorn_options(settings))
    return 0


def _exposed_without_credentials(settings: Settings, container: Container, insecure: bool) -> str:
    """Why this process must not start: reachable beyond loopback with no credential at all."""
    if insecure or is_loopback(settings.host):
        return ""
    container.api_keys.refresh()
    if container.authenticator.configured:
        return ""
    return (
        f"refusing to listen on ORDERS_HOST={settings.host} with no credential configured: "
        "anyone who reaches it could do everything. Create an API key (orders keys create "
        "--role ... --name ...), or set ORDERS_OIDC_ISSUER, or bind 127.0.0.1; "
        "--insecure-no-auth starts it open anyway."
    )


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": None,  # logs.configure() owns logging; uvicorn's access log is replaced
        "access_log": False,
        **server_options(settings),
    }


def _up(args: argparse.Namespace) -> int:
    settings = _settings(host=args.host, port=args.port, data_dir=args.data_dir)
    if args.demo:
        operator_cli.seed_if_empty(settings, args.demo)
    return _serve(settings, embedded_app, args.insecure_no_auth)


def _project(args: argparse.Namespace) -> int:
    names = list(dict.fromkeys(args.projection))
    settings = _settings(host=args.host, port=args.port)
    return _serve(settings, projector_app, args.insecure_no_auth, names, failover=True)


def _serve_one(args: argparse.Namespace) -> int:
    overrides = {"host": args.host, "port": args.port, "workers": args.workers}
    settings = _settings(**overrides)
    if settings.workers == 1:
        factories: dict[str, AppFactory] = {"commands": command_app, "search": search_app}
        return _serve(settings, factories[args.api], args.insecure_no_auth)
    with contextlib.closing(bootstrap(settings)) as container:
        refusal = _exposed_without_credentials(settings, container, args.insecure_no_auth)
    if refusal:
        print(f"orders: {refusal}", file=sys.stderr)
        return 2
    # Worker processes build their own app from the environment, so pass the flags on.
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"ORDERS_{name.upper()}"] = str(value)
    logs.configure(settings.log_level, settings.log_format)
    options = {
        "app": f"order_service.http.app:{args.api}_app_from_environment",
        "factory": True,
        **_uvicorn_options(settings),
    }
    return workers.serve(options, settings.workers)


def _insecure_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="listen beyond loopback even with no API key or identity provider configured",
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="orders", description=__doc__)
    root.add_argument(
        "--verbose", action="store_true", help="operator commands: the engine clients' logs too"
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run everything in one process on SQLite (zero setup)")
    up.add_argument("--host", help="address to bind (default 127.0.0.1, or ORDERS_HOST)")
    up.add_argument("--port", type=int, help="port to bind (default 8000, or ORDERS_PORT)")
    up.add_argument("--data-dir", type=Path, help="where the SQLite files live (default ./var)")
    up.add_argument(
        "--demo", type=int, metavar="N", help="on an empty store, first seed N synthetic orders"
    )
    _insecure_flag(up)
    up.set_defaults(handler=_up)

    project = commands.add_parser(
        "project",
        help="run projectors, one per NAME (health and metrics on HTTP); run it twice or "
        "more for failover: one projects while holding a lease, the others stand by",
    )
    project.add_argument("projection", nargs="+", choices=sorted(PROJECTIONS), metavar="NAME")
    project.add_argument("--host")
    project.add_argument("--port", type=int)
    _insecure_flag(project)
    project.set_defaults(handler=_project)

    operator_cli.add_commands(commands)
    operator_cli.add_seed_command(commands)
    operator_cli.add_snapshot_command(commands)
    archive_cli.add_commands(commands)
    backup_cli.add_commands(commands)
    keys_cli.add_commands(commands)
    customers_cli.add_commands(commands)

    serve = commands.add_parser("serve", help="run one production HTTP process")
    serve.add_argument("api", choices=["commands", "search"])
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="processes sharing the port (ORDERS_WORKERS)")
    _insecure_flag(serve)
    serve.set_defaults(handler=_serve_one)
    return root


def run() -> int:
    """The process's entry point (``orders``, ``python -m order_service.cli``): the garbage
    collector's policy first (rebuilds, archives and seeding allocate as much as the servers),
    then the command. Tests call ``main`` and keep their own process's policy."""
    garbage.settle()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    set_verbose(args.verbose)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except ValidationError as error:
        print(f"orders: {explain(error)}", file=sys.stderr)
        return 2
    except NoEventStoreError as error:
        print(f"orders: {error}", file=sys.stderr)
        return 2
    except (EventStoreError, ConnectionError, OSError) as error:
        print(f"orders: an engine is unavailable: {error}", file=sys.stderr)
        return 2
