"""Liveness, readiness and Prometheus metrics, served by every process.

``/readyz`` runs every check in a thread with a deadline, so an engine that hangs (a frozen
disk, a silent network) reads as unavailable instead of hanging the probe. ``/healthz`` is
503 when the process is wedged: a watchdog (for example the SQLite writer stuck in one commit
past the request deadline) says so, and an orchestrator restarts the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Literal

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from order_service.http.json import JSONBody
from order_service.http.problems import documented

ReadinessCheck = Callable[[], None]
"""Returns when its engine answers; raises with a readable reason when it does not."""
Watchdog = Callable[[], str | None]
"""Why the process is wedged, or None."""
CHECK_DEADLINE_S = 2.0
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Not ready or wedged; the body names each engine or watchdog"}
}
GUARDED = documented(401, 403)

METRICS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format.",
        "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
    }
}


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    engines: dict[str, Any] = Field(description="Each engine this process uses, and its state.")


def ops_router(
    checks: Mapping[str, ReadinessCheck],
    watchdogs: Mapping[str, Watchdog],
    before_scrape: Callable[[], None] | None = None,
) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", operation_id="healthz", response_model=HealthOut, responses=UNAVAILABLE)
    async def healthz() -> JSONBody:
        """The process is alive and not wedged (503 with the reason when it is)."""
        wedged = {name: reason for name, check in watchdogs.items() if (reason := check())}
        if wedged:
            return JSONBody({"status": "wedged", "reasons": wedged}, status_code=503)
        return JSONBody({"status": "ok"})

    @router.get(
        "/readyz", operation_id="readyz", response_model=ReadyOut, responses=UNAVAILABLE | GUARDED
    )
    async def readyz() -> JSONBody:
        """Every engine this process depends on answers, in each direction it uses."""
        results = await asyncio.gather(*(_run(check) for check in checks.values()))
        engines = dict(zip(checks, results, strict=True))
        ready = all(state == "ok" for state in engines.values())
        return JSONBody(
            {"status": "ready" if ready else "unavailable", "engines": engines},
            status_code=200 if ready else 503,
        )

    @router.get(
        "/metrics", operation_id="metrics", response_class=Response, responses=GUARDED | METRICS
    )
    def metrics() -> Response:
        """Prometheus text exposition of this process's metrics."""
        if before_scrape is not None:
            before_scrape()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _run(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(asyncio.to_thread(check), CHECK_DEADLINE_S)
    except TimeoutError:
        return f"unavailable: no answer within {CHECK_DEADLINE_S:g} s"
    except Exception as error:  # any failure means "not ready"; its reason is shown
        return f"unavailable: {type(error).__name__}: {error}"
    return "ok"
