"""Operators' endpoints: read-model generations, rebuilds, dead letters, and the repairs the CLI
also runs, for every projection: ``/operations/projections/{name}/...``; the paths without a
name (``/operations/generations``...) are order-search's, as they were before.

The console's operations view is built on these; ``orders projection ...`` calls the same
functions (``projectors.maintenance``) with direct store access.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.exceptions import HTTPException

from order_service.application import OrderNotFoundError
from order_service.archive.cold import ColdArchive
from order_service.events import Causation, order_id_of
from order_service.eventstore.port import EventStore
from order_service.http.access import principal_of
from order_service.http.dependencies import OrderId, from_container
from order_service.http.json import JSONBody
from order_service.http.problems import documented, problem
from order_service.personal.codec import PersonalData
from order_service.personal.erasure import Erasure
from projectors.maintenance import reproject, retry_dead_letters
from projectors.order_search import NAME, ProjectionError
from projectors.port import DeadLetter, DocumentStore, Generational
from projectors.projection import Projection
from projectors.read_models.generations import ActiveDocuments, ActiveIndex
from projectors.registry import PROJECTIONS
from projectors.status import rebuild_statuses
from search_api.responses import (
    DeadLettersOut,
    ErasureOut,
    GenerationsOut,
    RebuildsOut,
    ReprojectedOut,
    RetryOut,
)
from search_api.routes import ArchiveDep, PersonalDep, StoreDep

ErasureDep = Annotated[Erasure, Depends(from_container("erasure"))]
log = logging.getLogger(__name__)
router = APIRouter(prefix="/operations", tags=["operations"])
PROJECTION_PATH = "/projections/{name}"
Serving = ActiveIndex | ActiveDocuments


def _projection(
    name: Annotated[
        str,
        Path(
            min_length=1,
            max_length=64,
            pattern=r"^[a-z][a-z0-9-]*$",
            description="The projection's name (order-search, customer-orders, daily-sales).",
        ),
    ],
) -> Projection:
    if name not in PROJECTIONS:
        raise HTTPException(
            404, f"no projection {name!r} (known: {', '.join(sorted(PROJECTIONS))})"
        )
    return PROJECTIONS[name]


async def _generations_named(
    request: Request, projection: Annotated[Projection, Depends(_projection)]
) -> Generational[DocumentStore]:
    found: Generational[DocumentStore] = request.app.state.container.generations_of(projection.name)
    return found


async def _serving_named(
    request: Request, projection: Annotated[Projection, Depends(_projection)]
) -> Serving:
    found: Serving = request.app.state.container.serving_store(projection.name)
    return found


async def _order_search_generations(request: Request) -> Generational[DocumentStore]:
    found: Generational[DocumentStore] = request.app.state.container.read_model
    return found


async def _order_search_serving(request: Request) -> Serving:
    found: Serving = request.app.state.container.search_index
    return found


ProjectionDep = Annotated[Projection, Depends(_projection)]
GenerationsDep = Annotated[Generational[DocumentStore], Depends(_generations_named)]
ServingDep = Annotated[Serving, Depends(_serving_named)]
OrderSearchGenerationsDep = Annotated[
    Generational[DocumentStore], Depends(_order_search_generations)
]
OrderSearchDep = Annotated[Serving, Depends(_order_search_serving)]


@router.get(
    "/generations",
    operation_id="listGenerations",
    response_model=GenerationsOut,
    responses=documented(401, 403, 503),
)
async def list_generations(
    read_model: OrderSearchGenerationsDep, index: OrderSearchDep
) -> JSONBody:
    """Every generation of the order-search read model: which serves, which is being built
    (with progress and ETA), which are kept for rollback."""
    return await _generations(NAME, read_model, index)


@router.get(
    PROJECTION_PATH + "/generations",
    operation_id="listProjectionGenerations",
    response_model=GenerationsOut,
    responses=documented(401, 403, 404, 422, 503),
)
async def list_projection_generations(
    projection: ProjectionDep, read_model: GenerationsDep, index: ServingDep
) -> JSONBody:
    """Every generation of one projection's read model: which serves, which is being built
    (with progress and ETA), which are kept for rollback, and their schema versions."""
    return await _generations(projection.name, read_model, index)


async def _generations(
    name: str, read_model: Generational[DocumentStore], index: Serving
) -> JSONBody:
    with index.guarded():
        active = await asyncio.to_thread(read_model.active)
        generations = await asyncio.to_thread(read_model.generations)
    return JSONBody(
        {
            "projection": name,
            "active": active,
            "generations": [asdict(generation) for generation in generations],
        }
    )


@router.get(
    PROJECTION_PATH + "/rebuild",
    operation_id="getProjectionRebuild",
    response_model=RebuildsOut,
    responses=documented(401, 403, 404, 422, 503),
)
async def projection_rebuild(
    projection: ProjectionDep, store: StoreDep, read_model: GenerationsDep, index: ServingDep
) -> JSONBody:
    """The projection's rebuilds under way (a schema upgrade's too): each generation being
    built with its checkpoint, progress, events per second and ETA; ``stalled`` when it
    stopped reporting; ``rebuilding`` is false when none is."""
    with index.guarded():
        active = await asyncio.to_thread(read_model.active)
        found = await asyncio.to_thread(rebuild_statuses, store, read_model, name=projection.name)
    return JSONBody(
        {
            "projection": projection.name,
            "active": active,
            "rebuilding": bool(found),
            "rebuilds": [status.as_dict() for status in found],
        }
    )


@router.get(
    "/dead-letters",
    operation_id="listDeadLetters",
    response_model=DeadLettersOut,
    responses=documented(401, 403, 422, 503),
)
async def list_dead_letters(
    index: OrderSearchDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> JSONBody:
    """The events order-search's serving generation could not project, newest first."""
    return await _dead_letters(index, limit)


@router.get(
    PROJECTION_PATH + "/dead-letters",
    operation_id="listProjectionDeadLetters",
    response_model=DeadLettersOut,
    responses=documented(401, 403, 404, 422, 503),
)
async def list_projection_dead_letters(
    index: ServingDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> JSONBody:
    """The events a projection's serving generation could not project, newest first."""
    return await _dead_letters(index, limit)


async def _dead_letters(index: Serving, limit: int) -> JSONBody:
    with index.guarded():
        total = await asyncio.to_thread(index.dead_letter_count)
        letters = await asyncio.to_thread(index.dead_letters, limit=limit, newest_first=True)
    return JSONBody({"total": total, "dead_letters": [_letter(letter) for letter in letters]})


def _letter(letter: DeadLetter) -> dict[str, Any]:
    return {
        "order_id": order_id_of(letter.stream),
        "position": letter.position,
        "stream": letter.stream,
        "revision": letter.revision,
        "event_type": letter.event_type,
        "error": letter.error,
        "recorded_at": letter.recorded_at.isoformat(),
    }


@router.post(
    "/dead-letters/retry",
    operation_id="retryDeadLetters",
    response_model=RetryOut,
    responses=documented(401, 403, 503),
)
async def retry(
    request: Request,
    store: StoreDep,
    index: OrderSearchDep,
    archive: ArchiveDep,
    personal: PersonalDep,
) -> JSONBody:
    """Re-project every order with dead letters in order-search; clear the letters of those
    that now work."""
    return await _retry(request, PROJECTIONS[NAME], store, index, archive, personal)


@router.post(
    PROJECTION_PATH + "/dead-letters/retry",
    operation_id="retryProjectionDeadLetters",
    response_model=RetryOut,
    responses=documented(401, 403, 404, 422, 503),
)
async def retry_projection(
    request: Request,
    projection: ProjectionDep,
    store: StoreDep,
    index: ServingDep,
    archive: ArchiveDep,
    personal: PersonalDep,
) -> JSONBody:
    """Re-project every order with dead letters in one projection; clear the letters of
    those that now work."""
    return await _retry(request, projection, store, index, archive, personal)


async def _retry(
    request: Request,
    projection: Projection,
    store: EventStore,
    index: Serving,
    archive: ColdArchive,
    personal: PersonalData,
) -> JSONBody:
    report = await asyncio.to_thread(
        retry_dead_letters, store, index, personal, projection=projection, archive=archive
    )
    log.info(
        "%s dead letters retried by %s: %d repaired, %d still failing",
        projection.name,
        principal_of(request.scope).name,
        len(report.repaired),
        len(report.still_failing),
    )
    return JSONBody({"repaired": report.repaired, "still_failing": report.still_failing})


@router.post(
    # A customer id may hold "/" (sent as %2F): the path converter takes it whole.
    "/customers/{customer_id:path}/erase",
    operation_id="eraseCustomer",
    response_model=ErasureOut,
    responses=documented(401, 403, 422, 503),
)
async def erase_customer(
    customer_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=64,
            pattern=r"^[^\x00-\x1f]+$",
            description="The customer's id, as in their orders.",
        ),
    ],
    request: Request,
    erasure: ErasureDep,
    dry_run: bool = False,
) -> JSONBody:
    """Crypto-shred a customer's personal data: their keys deleted, the erasure recorded on
    each order, the orders re-projected everywhere, the engine's files compacted (started in
    the background). ``unreachable`` lists any copy it could not reach (then the answer is 200
    with ``complete: false``)."""
    principal = principal_of(request.scope)
    causation = Causation(
        # The request's correlation id, as the observability middleware sanitised and bounded it.
        request.scope["state"]["correlation_id"],
        f"erase-{customer_id}",
        actor=principal.actor(),
    )
    # Compacting the engine's files can take longer than a request may (Elasticsearch waits
    # for its retention leases): it goes on in the background, and the answer says so.
    report = await erasure.erase(customer_id, causation, dry_run=dry_run, wait_for_compaction=False)
    log.info(
        "customer erasure%s by %s: %d orders, %d unreachable copies",
        " (dry run)" if dry_run else "",
        principal.name,
        len(report.orders),
        len(report.unreachable),
    )
    return JSONBody({**report.as_dict(), "complete": not report.unreachable})


@router.post(
    "/orders/{order_id}/reproject",
    operation_id="reprojectOrder",
    response_model=ReprojectedOut,
    responses=documented(401, 403, 404, 409, 422, 503),
)
async def reproject_order(
    order_id: OrderId,
    request: Request,
    store: StoreDep,
    index: OrderSearchDep,
    archive: ArchiveDep,
    personal: PersonalDep,
) -> JSONBody:
    """Rebuild one order's order-search document from its whole event stream (archive
    included)."""
    return await _reproject(request, PROJECTIONS[NAME], order_id, store, index, archive, personal)


@router.post(
    PROJECTION_PATH + "/orders/{order_id}/reproject",
    operation_id="reprojectProjectionOrder",
    response_model=ReprojectedOut,
    responses=documented(401, 403, 404, 409, 422, 503),
)
async def reproject_projection_order(
    order_id: OrderId,
    request: Request,
    projection: ProjectionDep,
    store: StoreDep,
    index: ServingDep,
    archive: ArchiveDep,
    personal: PersonalDep,
) -> JSONBody:
    """Rebuild one order's document in one projection from its whole event stream."""
    return await _reproject(request, projection, order_id, store, index, archive, personal)


async def _reproject(
    request: Request,
    projection: Projection,
    order_id: str,
    store: EventStore,
    index: Serving,
    archive: ColdArchive,
    personal: PersonalData,
) -> JSONBody:
    try:
        document = await asyncio.to_thread(
            reproject, store, index, order_id, personal, archive, projection=projection
        )
    except ProjectionError as error:
        return problem(409, "not-projectable", "The order's events cannot be projected", str(error))
    if document is None:
        raise OrderNotFoundError(order_id)
    log.info(
        "order %s re-projected in %s by %s",
        order_id,
        projection.name,
        principal_of(request.scope).name,
    )
    return JSONBody({"order_id": order_id, "version": document["version"]})
