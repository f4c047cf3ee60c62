"""The FastAPI applications: command API, search API, and both on one port for embedded mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from order_service.bootstrap import Container
from order_service.http import commands, problems
from order_service.http.middleware import BodySizeLimit, CorrelationId
from order_service.http.ops import ops_router


def build_app(container: Container, title: str, routers: list[APIRouter]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        container.close()

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.container = container
    app.include_router(ops_router(container.readiness))
    for router in routers:
        app.include_router(router)
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=container.settings.max_body_bytes)
    app.add_middleware(CorrelationId)
    return app


def command_app(container: Container) -> FastAPI:
    """Checkout's command API (``orders serve commands``)."""
    return build_app(container, "Orders command API", [commands.router])


def search_app(container: Container) -> FastAPI:
    """Customer service's search API (``orders serve search``)."""
    return build_app(container, "Orders search API", [])


def embedded_app(container: Container) -> FastAPI:
    """Everything on one port (``orders up``)."""
    return build_app(container, "Orders (embedded)", [commands.router])
