"""The FastAPI applications: command API, search API, and both on one port for embedded mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from order_service.bootstrap import Container
from order_service.http.ops import ops_router


def _app(container: Container, title: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        container.close()

    app = FastAPI(title=title, default_response_class=ORJSONResponse, lifespan=lifespan)
    app.state.container = container
    app.include_router(ops_router(container.readiness))
    return app


def command_app(container: Container) -> FastAPI:
    """Checkout's command API (``orders serve commands``)."""
    return _app(container, "Orders command API")


def search_app(container: Container) -> FastAPI:
    """Customer service's search API (``orders serve search``)."""
    return _app(container, "Orders search API")


def embedded_app(container: Container) -> FastAPI:
    """Everything on one port (``orders up``)."""
    return _app(container, "Orders (embedded)")
