"""Operators' endpoints: read-model generations, dead letters, and the repairs the CLI also runs.

The console's operations view is built on these; ``orders projection ...`` calls the same
functions (``projectors.maintenance``) with direct store access.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from order_service.application import OrderNotFoundError
from order_service.events import Causation, order_id_of
from order_service.http.access import principal_of
from order_service.http.dependencies import OrderId, from_container
from order_service.http.json import JSONBody
from order_service.http.problems import documented, problem
from order_service.personal.erasure import Erasure
from projectors.maintenance import reproject, retry_dead_letters
from projectors.order_search import ProjectionError
from projectors.port import DeadLetter
from search_api.responses import (
    DeadLettersOut,
    ErasureOut,
    GenerationsOut,
    ReprojectedOut,
    RetryOut,
)
from search_api.routes import ArchiveDep, IndexDep, PersonalDep, ReadModelDep, StoreDep

ErasureDep = Annotated[Erasure, Depends(from_container("erasure"))]
log = logging.getLogger(__name__)
router = APIRouter(prefix="/operations", tags=["operations"])


@router.get(
    "/generations",
    operation_id="listGenerations",
    response_model=GenerationsOut,
    responses=documented(401, 403, 503),
)
async def list_generations(read_model: ReadModelDep, index: IndexDep) -> JSONBody:
    """Every generation of the order-search read model: which serves, which is being built
    (with progress and ETA), which are kept for rollback."""
    with index.guarded():
        active = await asyncio.to_thread(read_model.active)
        generations = await asyncio.to_thread(read_model.generations)
    return JSONBody(
        {"active": active, "generations": [asdict(generation) for generation in generations]}
    )


@router.get(
    "/dead-letters",
    operation_id="listDeadLetters",
    response_model=DeadLettersOut,
    responses=documented(401, 403, 422, 503),
)
async def list_dead_letters(
    index: IndexDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> JSONBody:
    """The events the serving generation could not project, newest first, with their orders."""
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
    request: Request, store: StoreDep, index: IndexDep, archive: ArchiveDep, personal: PersonalDep
) -> JSONBody:
    """Re-project every order with dead letters; clear the letters of those that now work."""
    report = await asyncio.to_thread(retry_dead_letters, store, index, personal, archive=archive)
    log.info(
        "dead letters retried by %s: %d repaired, %d still failing",
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
    index: IndexDep,
    archive: ArchiveDep,
    personal: PersonalDep,
) -> JSONBody:
    """Rebuild one order's document from its whole event stream (archive included)."""
    try:
        document = await asyncio.to_thread(reproject, store, index, order_id, personal, archive)
    except ProjectionError as error:
        return problem(409, "not-projectable", "The order's events cannot be projected", str(error))
    if document is None:
        raise OrderNotFoundError(order_id)
    log.info("order %s re-projected by %s", order_id, principal_of(request.scope).name)
    return JSONBody({"order_id": order_id, "version": document["version"]})
