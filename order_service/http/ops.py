"""Liveness, readiness and Prometheus metrics, served by every process."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from order_service.http.json import JSONBody

ReadinessCheck = Callable[[], None]
"""Returns when its engine answers; raises with a readable reason when it does not."""


def ops_router(
    checks: Mapping[str, ReadinessCheck], before_scrape: Callable[[], None] | None = None
) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", operation_id="healthz")
    def healthz() -> dict[str, str]:
        """The process is alive and serving HTTP."""
        return {"status": "ok"}

    @router.get("/readyz", operation_id="readyz", response_model=None)
    def readyz() -> JSONBody:
        """Every engine this process depends on answers."""
        engines: dict[str, str] = {}
        for name, check in checks.items():
            try:
                check()
            except Exception as error:  # any failure means "not ready"; its reason is shown
                engines[name] = f"unavailable: {type(error).__name__}: {error}"
            else:
                engines[name] = "ok"
        ready = all(state == "ok" for state in engines.values())
        return JSONBody(
            {"status": "ready" if ready else "unavailable", "engines": engines},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", operation_id="metrics", response_class=Response)
    def metrics() -> Response:
        """Prometheus text exposition of this process's metrics."""
        if before_scrape is not None:
            before_scrape()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
