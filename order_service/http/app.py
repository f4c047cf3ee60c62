"""The FastAPI applications of each process: commands, search, projector, and all in one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from order_service import garbage, logs
from order_service.bootstrap import Container, bootstrap
from order_service.eventstore.port import EventStoreError
from order_service.http import commands, docs, problems
from order_service.http.access import Access
from order_service.http.cross_site import CrossSiteGuard, served_hosts
from order_service.http.limits import BodyLimits, RequestDeadline
from order_service.http.middleware import HeadAsGet, SecurityHeaders
from order_service.http.observability import Observe
from order_service.http.ops import ReadinessCheck, ops_router
from order_service.settings import Settings
from search_api import console, operations, reports, sign_in
from search_api import routes as search

log = logging.getLogger(__name__)
IO_THREADS = 32
# What customer service and operators use: the search API, the console and its sign-in, the
# operations endpoints.
CONSOLE_ROUTERS = [
    search.router,
    reports.router,
    sign_in.router,
    operations.router,
    console.router,
]


def build_app(
    container: Container,
    title: str,
    routers: list[APIRouter],
    readiness: dict[str, ReadinessCheck],
    *,
    project: bool = False,
    lag_metrics: bool = False,
    service: str = "orders",
) -> FastAPI:
    container.service = service  # traces name the process (before anything traces)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Engine calls run on these threads (asyncio.to_thread): Python's default is cores + 4,
        # six here, fewer than 8 agents' concurrent searches plus their freshness checks.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="orders-io")
        )
        keys = container.api_keys
        with contextlib.suppress(EventStoreError):  # follow() retries and says so
            await asyncio.to_thread(keys.refresh)
        _announce_access(container)
        following = asyncio.create_task(keys.follow(), name="api-keys")
        stop = _start_projector(container) if project else (lambda: None)
        try:
            yield
        finally:
            following.cancel()
            stop()
            container.close()

    settings = container.settings
    app = FastAPI(
        title=title,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Metrics are Prometheus's and logs our own (``/metrics``, JSON lines). FastAPI's
        # native OpenTelemetry makes the request spans when tracing is on, with the
        # process's provider; off, it is disabled, since it would look for globally
        # configured providers on every request (2% of a command's CPU).
        telemetry=container.tracing.fastapi(),
    )
    # A redirect would build its Location from the client's Host header.
    app.router.redirect_slashes = False
    app.state.container = container
    # Routes are matched in this order, and no two routers share a path: the process's own
    # routes (commands first in the command API) before health, metrics and the docs.
    ops = ops_router(
        readiness, container.watchdogs(), container.refresh_lag_metrics if lag_metrics else None
    )
    for router in [*routers, ops, docs.router]:
        _mount(app, router)
    problems.install(app)
    docs.describe(app, settings.oidc_issuer)
    # Innermost first: each add_middleware wraps the ones before it. Access comes before the
    # body is read; the deadline covers everything but the logging around it.
    app.add_middleware(
        BodyLimits, max_bytes=settings.max_body_bytes, max_fields=settings.max_body_fields
    )
    app.add_middleware(Access, authenticator=container.authenticator)
    # Before access: a foreign Host or a cross-site write is refused whoever sends it.
    app.add_middleware(CrossSiteGuard, hosts=served_hosts(settings))
    app.add_middleware(RequestDeadline, timeout_s=settings.request_timeout_ms / 1000)
    app.add_middleware(HeadAsGet)
    app.add_middleware(Observe)
    # Outermost: the 500 that Observe answers for an unexpected error carries them too.
    app.add_middleware(SecurityHeaders)
    return app


def _mount(app: FastAPI, router: APIRouter) -> None:
    """The router's routes on the app's own router, in order.

    ``include_router`` keeps the router behind an included-router layer that resolves each
    request's route through its include contexts (prefix, tags, limits applied then): 7% of
    a command's instructions (``scripts/bench_command_cpu.py --instructions``). Our routers
    are included without options, and their routes are complete as declared (the prefix
    applied, tags, responses), so the app serves them directly; the OpenAPI document is
    the same.
    """
    app.router.routes.extend(router.routes)


def _announce_access(container: Container) -> None:
    authenticator = container.authenticator
    if authenticator.configured:
        how = ["API keys"] + (["OpenID Connect tokens"] if authenticator.oidc else [])
        log.info("access control is on: %s", " and ".join(how))
    elif authenticator.keys.loaded:
        log.warning(
            "access is OPEN: no API key or identity provider is configured, so every caller "
            "may do everything; create a key with `orders keys create` to turn access control on"
        )


def _start_projector(container: Container) -> Callable[[], None]:
    """Every projection this process runs, one thread each."""
    projectors = container.projectors(container.projection_names)
    threads = [
        threading.Thread(target=projector.run, name=f"projector-{projector.name}", daemon=True)
        for projector in projectors
    ]
    for thread in threads:
        thread.start()

    def stop() -> None:
        for projector in projectors:
            projector.stop()
        for thread in threads:
            thread.join(timeout=30)

    return stop


def command_app(container: Container) -> FastAPI:
    """Checkout's command API (``orders serve commands``)."""
    return build_app(
        container,
        "Orders command API",
        [commands.router, commands.agent_router, commands.read_router],
        container.readiness(search=False, write=True),
        service="orders-commands",
    )


def search_app(container: Container) -> FastAPI:
    """Customer service's search API (``orders serve search``)."""
    return build_app(
        container,
        "Orders search API",
        [*CONSOLE_ROUTERS, commands.agent_router],
        container.readiness(search=True, write=False),
        lag_metrics=True,
        service="orders-search",
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
        service="orders-projector",
    )


def embedded_app(container: Container) -> FastAPI:
    """Everything on one port (``orders up``)."""
    return build_app(
        container,
        "Orders (embedded)",
        [commands.router, commands.agent_router, *CONSOLE_ROUTERS],
        container.readiness(search=True, write=True),
        project=True,
        lag_metrics=True,
    )


def commands_app_from_environment() -> FastAPI:
    """Factory for ``orders serve commands --workers N``: each worker reads ORDERS_*."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    app = command_app(bootstrap(settings))
    garbage.settle()
    return app


def search_app_from_environment() -> FastAPI:
    """Factory for ``orders serve search --workers N``."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    app = search_app(bootstrap(settings))
    garbage.settle()
    return app
