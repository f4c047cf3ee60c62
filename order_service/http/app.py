"""The FastAPI applications of each process: commands, search, projector, and all in one."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from order_service import logs
from order_service.bootstrap import Container, bootstrap
from order_service.http import commands, problems
from order_service.http.limits import BodyLimits, RequestDeadline
from order_service.http.middleware import HeadAsGet
from order_service.http.observability import Observe
from order_service.http.ops import ReadinessCheck, ops_router
from order_service.settings import Settings
from search_api import routes as search


def build_app(
    container: Container,
    title: str,
    routers: list[APIRouter],
    readiness: dict[str, ReadinessCheck],
    *,
    project: bool = False,
    lag_metrics: bool = False,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = _start_projector(container) if project else (lambda: None)
        try:
            yield
        finally:
            stop()
            container.close()

    settings = container.settings
    app = FastAPI(title=title, lifespan=lifespan)
    # A redirect would build its Location from the client's Host header.
    app.router.redirect_slashes = False
    app.state.container = container
    app.include_router(
        ops_router(
            readiness,
            container.watchdogs(),
            container.refresh_lag_metrics if lag_metrics else None,
        )
    )
    for router in routers:
        app.include_router(router)
    problems.install(app)
    # Innermost first: each add_middleware wraps the ones before it.
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestDeadline, timeout_s=settings.request_timeout_ms / 1000)
    app.add_middleware(HeadAsGet)
    app.add_middleware(Observe)
    return app


def _start_projector(container: Container) -> Callable[[], None]:
    projector = container.projector()
    thread = threading.Thread(target=projector.run, name="projector", daemon=True)
    thread.start()

    def stop() -> None:
        projector.stop()
        thread.join(timeout=30)

    return stop


def settle_garbage_collector() -> None:
    """Keep full collections from stalling requests (measured: 100 ms pauses, p99 x3).

    Objects alive at start-up (modules, the app) are frozen out of collections, and young
    collections run every 10,000 allocations instead of 700, which also makes the costly
    full ones rarer. Called by each server process once its app is built.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def command_app(container: Container) -> FastAPI:
    """Checkout's command API (``orders serve commands``)."""
    return build_app(
        container,
        "Orders command API",
        [commands.router],
        container.readiness(search=False, write=True),
    )


def search_app(container: Container) -> FastAPI:
    """Customer service's search API (``orders serve search``)."""
    return build_app(
        container,
        "Orders search API",
        [search.router],
        container.readiness(search=True, write=False),
        lag_metrics=True,
    )


def projector_app(container: Container) -> FastAPI:
    """The projector (``orders project order-search``), with health and metrics over HTTP."""
    return build_app(
        container,
        "Orders projector",
        [],
        container.readiness(search=True, write=False),
        project=True,
        lag_metrics=True,
    )


def embedded_app(container: Container) -> FastAPI:
    """Everything on one port (``orders up``)."""
    return build_app(
        container,
        "Orders (embedded)",
        [search.router, commands.router],
        container.readiness(search=True, write=True),
        project=True,
        lag_metrics=True,
    )


def commands_app_from_environment() -> FastAPI:
    """Factory for ``orders serve commands --workers N``: each worker reads ORDERS_*."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    app = command_app(bootstrap(settings))
    settle_garbage_collector()
    return app


def search_app_from_environment() -> FastAPI:
    """Factory for ``orders serve search --workers N``."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    app = search_app(bootstrap(settings))
    settle_garbage_collector()
    return app
