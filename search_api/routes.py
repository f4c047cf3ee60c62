"""Customer service's search API: find orders, read one, its history, and projection status."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query
from pydantic import StringConstraints
from starlette.responses import Response

from order_service.application import OrderNotFoundError
from order_service.archive.cold import ColdArchive
from order_service.domain.currencies import IS_CURRENCY, is_currency
from order_service.domain.values import MAX_MONEY
from order_service.events import order_stream
from order_service.eventstore.port import EventStore
from order_service.http.dependencies import OrderId, from_container
from order_service.http.json import JSONBody
from order_service.http.problems import InvalidParameterError, documented
from order_service.personal.codec import ERASURE, PersonalData
from projectors.order_search import NAME, Document, fold_marked, summary
from projectors.port import (
    FINANCIAL_STATUSES,
    FULFILLMENT_STATUSES,
    STATUSES,
    Generational,
    OrderSearchIndex,
    ProjectionStore,
    ReadModel,
    SearchPage,
    SearchQuery,
)
from projectors.read_models.generations import ActiveIndex
from projectors.rebuilds.full_log import full_stream
from projectors.status import ProjectionStatus, rebuild_statuses
from search_api import cursor
from search_api.cursor import in_searchable_range
from search_api.freshness import Freshness
from search_api.responses import HistoryOut, OrderOut, ProjectionsOut, SearchOut

MAX_WAIT_MS = 5000
EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
"""Free text that is one e-mail address (and nothing else) searches the e-mail field."""
MAX_INT64 = 2**63 - 1
SortParam = Literal[
    "relevance", "placed_at", "-placed_at", "total", "-total", "updated_at", "-updated_at"
]
SORT_DESCRIPTION = (
    "`relevance` (the default with `q`): best match first, then the newest. Text that is a "
    "whole order id or tracking number ranks its order first, then a postcode, then orders "
    "whose customer's name or e-mail has every word, then those whose products (names, SKUs) "
    "have them, then every other order with the words. A field (`-` for descending: "
    "`-placed_at`, the default without `q`) sorts by that field, the order id breaking ties. "
    "A cursor belongs to the sort it was issued with."
)


IndexDep = Annotated[ActiveIndex, Depends(from_container("search_index"))]
StoreDep = Annotated[EventStore, Depends(from_container("event_store"))]
FreshnessDep = Annotated[Freshness, Depends(from_container("freshness"))]
FreshnessesDep = Annotated[dict[str, Freshness], Depends(from_container("projection_freshness"))]
ArchiveDep = Annotated[ColdArchive, Depends(from_container("archive"))]
ReadModelDep = Annotated[ReadModel, Depends(from_container("read_model"))]
GenerationsDep = Annotated[
    dict[str, Generational[ProjectionStore]], Depends(from_container("projection_generations"))
]
PersonalDep = Annotated[PersonalData, Depends(from_container("personal"))]
WaitMs = Annotated[int, Query(ge=0, le=MAX_WAIT_MS, description="How long to wait, at most 5000.")]

router = APIRouter(tags=["search"])


def _instant(parameter: str, value: str | None) -> datetime | date | None:
    """ISO 8601 only: a bare number is not read as a Unix timestamp. Within the times every
    read model can compare (Elasticsearch's nanosecond dates: 1970 to 2262), so a far date
    is the caller's 422, not the engine's 400 reported as a read model down."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            instant: datetime | date = date.fromisoformat(value)
        else:
            instant = datetime.fromisoformat(value)
            instant.astimezone(UTC)  # 9999-12-31T23:59:59-23:59 has no UTC time
    except (ValueError, OverflowError) as error:
        raise InvalidParameterError(
            parameter, "must be an ISO 8601 date (2025-01-31) or time (2025-01-31T12:00:00Z)"
        ) from error
    if not in_searchable_range(_as_utc(instant) or ""):
        raise InvalidParameterError(parameter, "must be between 1970-01-01 and 2262-04-11")
    return instant


def _as_utc(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # the log's times are UTC; so are times without a zone
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@router.get(
    "/orders/search",
    operation_id="searchOrders",
    response_model=SearchOut,
    responses=documented(401, 403, 422, 503),
)
async def search_orders(
    index: IndexDep,
    freshness: FreshnessDep,
    q: Annotated[
        str,
        Query(
            max_length=200,
            description="Words to find; never query syntax. An e-mail address alone finds "
            "that customer's orders (the email field, exactly); a whole order id, tracking "
            "number or postcode ranks its orders first (see `sort`).",
        ),
    ] = "",
    status: Annotated[list[Literal[STATUSES]] | None, Query()] = None,  # type: ignore[valid-type]
    financial_status: Annotated[
        list[Literal[FINANCIAL_STATUSES]] | None,  # type: ignore[valid-type]
        Query(),
    ] = None,
    fulfillment_status: Annotated[
        list[Literal[FULFILLMENT_STATUSES]] | None,  # type: ignore[valid-type]
        Query(),
    ] = None,
    country: Annotated[
        list[Annotated[str, StringConstraints(pattern="^[A-Za-z]{2}$")]] | None,
        Query(description="Of the shipping address, ISO 3166-1 alpha-2."),
    ] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    email: Annotated[str | None, Query(max_length=254)] = None,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    placed_from: Annotated[
        str | None, Query(max_length=40, description="ISO 8601 date or time; UTC without a zone.")
    ] = None,
    placed_to: Annotated[
        str | None, Query(max_length=40, description="ISO 8601 date or time, exclusive.")
    ] = None,
    currency: Annotated[
        str | None,
        Query(
            max_length=3,
            description="ISO 4217, exactly (upper case): orders in that currency. Give it "
            "with `min_total`/`max_total`, whose minor units mean something in one currency "
            "only; a range without it spans every currency.",
            examples=["EUR"],
        ),
    ] = None,
    min_total: Annotated[
        int | None, Query(ge=0, le=MAX_MONEY, description="Minor units (cents for EUR).")
    ] = None,
    max_total: Annotated[
        int | None, Query(ge=0, le=MAX_MONEY, description="Minor units, inclusive.")
    ] = None,
    sort: Annotated[SortParam | None, Query(description=SORT_DESCRIPTION)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor_: Annotated[str | None, Query(alias="cursor", max_length=500)] = None,
    min_position: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None,
    wait_ms: WaitMs = 0,
) -> JSONBody:
    """Find orders by free text and filters; sorted, paginated, with how fresh the answer is."""
    started = time.perf_counter()
    if sort is None:
        sort = "relevance" if q.strip() else "-placed_at"
    descending = sort.startswith("-") or sort == "relevance"
    field = sort.removeprefix("-")
    after = None
    if cursor_:
        try:
            after = cursor.decode(cursor_, field, descending)
        except cursor.InvalidCursorError as error:
            raise InvalidParameterError("cursor", str(error)) from error
    if currency is not None and not is_currency(currency):
        raise InvalidParameterError("currency", IS_CURRENCY)
    text = q.strip()
    if email is None and EMAIL_ADDRESS.fullmatch(text):
        # An agent who types a customer's address means that customer, not its words: the
        # exact field, not every order that mentions "example" and "com".
        email, text = text, ""
    query = SearchQuery(
        text=text,
        statuses=tuple(status or ()),
        financial_statuses=tuple(financial_status or ()),
        fulfillment_statuses=tuple(fulfillment_status or ()),
        countries=tuple(code.upper() for code in country or ()),
        customer_id=customer_id,
        email=email.strip().lower() if email else None,
        sku=sku,
        currency=currency,
        placed_from=_as_utc(_instant("placed_from", placed_from)),
        placed_to=_as_utc(_instant("placed_to", placed_to)),
        min_total=min_total,
        max_total=max_total,
        sort=field,  # type: ignore[arg-type]
        descending=descending,
        limit=limit,
        after=after,
    )
    if min_position is None:  # how fresh, and the search itself, at the same time
        as_of, (page, search_ms) = await asyncio.gather(
            freshness.as_of(), asyncio.to_thread(_timed_search, index, query)
        )
    else:  # read your write: search only once the projection has passed it
        as_of = await freshness.wait_for_position(min_position, wait_ms)
        page, search_ms = await asyncio.to_thread(_timed_search, index, query)
    next_cursor = None
    if len(page.hits) == limit:
        last = page.hits[-1]
        value = last.get(field)
        if field == "relevance":
            value = [page.scores[-1], last.get("placed_at")]
        next_cursor = cursor.encode(field, descending, value, last["order_id"])
    body = {
        "total": page.total,
        "results": [summary(hit) for hit in page.hits],
        "next_cursor": next_cursor,
        "as_of": as_of,
    }
    response = JSONBody(body)  # serialised here, so the handler's time includes it
    response.headers["Server-Timing"] = _timing(page.engine_ms, search_ms, started)
    return response


def _timed_search(index: ActiveIndex, query: SearchQuery) -> tuple[SearchPage, float]:
    started = time.perf_counter()
    page = index.search(query)
    return page, (time.perf_counter() - started) * 1000


def _timing(engine_ms: float | None, search_ms: float, started: float) -> str:
    """W3C Server Timing, so a client (a browser's devtools, the benchmarks) can tell the time
    the API adds: ``engine`` as the engine reports it (Elasticsearch's ``took``), ``search``
    the whole call to it (its HTTP round trip and decoding too), ``app`` the handler."""
    timings = [
        f"search;dur={search_ms:.2f}",
        f"app;dur={(time.perf_counter() - started) * 1000:.2f}",
    ]
    if engine_ms is not None:
        timings.insert(0, f"engine;dur={engine_ms:.2f}")
    return ", ".join(timings)


@router.get(
    "/orders/{order_id}",
    operation_id="getOrder",
    response_model=OrderOut,
    responses=documented(304, 401, 403, 404, 422, 503),
)
async def get_order(
    order_id: OrderId,
    index: IndexDep,
    store: StoreDep,
    archive: ArchiveDep,
    freshness: FreshnessDep,
    personal: PersonalDep,
    min_version: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None,
    wait_ms: WaitMs = 0,
    consistency: Literal["eventual", "strong"] = "eventual",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The whole order document, with its version as ETag; strong reads fold the event log."""
    stale = False
    if consistency == "strong":
        document = await asyncio.to_thread(
            _strong_document, store, archive, personal, order_stream(order_id)
        )
    else:
        document = await _document(index, freshness, order_id, min_version, wait_ms)
        stale = min_version is not None and (document is None or document["version"] < min_version)
    if document is None:
        raise OrderNotFoundError(order_id)
    etag = f'"{document["version"]}"'
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    body = {**document, "stale": stale, "consistency": consistency}
    if consistency == "eventual":
        body["as_of"] = await freshness.as_of()
    return JSONBody(body, headers={"ETag": etag, "Cache-Control": "private, no-cache"})


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison: ``*`` matches any, ``W/"3"`` matches ``"3"``."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def _document(
    index: OrderSearchIndex,
    freshness: Freshness,
    order_id: str,
    min_version: int | None,
    wait_ms: int,
) -> Document | None:
    def caught_up(document: Document | None) -> bool:
        return min_version is None or (document is not None and document["version"] >= min_version)

    document = await asyncio.to_thread(index.get, order_id)
    if caught_up(document) or wait_ms == 0:
        return document
    async with freshness.waiting():  # looked at again only when the projection has moved
        async for _ in freshness.changes(time.monotonic() + wait_ms / 1000):
            document = await asyncio.to_thread(index.get, order_id)
            if caught_up(document):
                break
    return document


@router.get(
    "/orders/{order_id}/history",
    operation_id="getOrderHistory",
    response_model=HistoryOut,
    responses=documented(401, 403, 404, 422, 503),
)
async def get_order_history(
    order_id: OrderId, store: StoreDep, archive: ArchiveDep, personal: PersonalDep
) -> JSONBody:
    """The order's events, oldest first; archived ones are read from the cold archive.
    Personal values are shown opened, or as ``[erased]`` once the customer was erased."""
    stream = order_stream(order_id)
    hot = await store.read_stream_async(stream)
    cold = await asyncio.to_thread(archive.events_of, stream)
    merged = {event.revision: (event, True) for event in cold}
    merged.update((event.revision, (event, False)) for event in hot)
    if not merged:
        raise OrderNotFoundError(order_id)
    events = [merged[revision] for revision in sorted(merged)]
    await personal.prepare_async(event for event, _ in events)
    erased = any(event.type == ERASURE for event, _ in events)
    return JSONBody(
        {
            "order_id": order_id,
            "events": [
                {
                    "revision": event.revision,
                    "type": event.type,
                    "data": personal.readable(event, erased=erased),
                    "metadata": _shown_metadata(event.metadata, erased=erased),
                    "recorded_at": event.recorded_at.astimezone(UTC).isoformat(),
                    "position": event.position,
                    "archived": archived,
                }
                for event, archived in events
            ],
        }
    )


def _shown_metadata(raw: bytes, *, erased: bool) -> Any:
    """An event's metadata; once the customer was erased, without the request's hash (a
    digest of the body: a reader could confirm guesses of the erased values with it)."""
    metadata = _json(raw)
    if erased and isinstance(metadata, dict) and isinstance(metadata.get("idempotency"), dict):
        metadata["idempotency"] = {
            name: value for name, value in metadata["idempotency"].items() if name != "request"
        }
    return metadata


def _strong_document(
    store: EventStore, archive: ColdArchive, personal: PersonalData, stream: str
) -> Document | None:
    events = full_stream(store, archive, stream)
    personal.prepare(events)
    return fold_marked(events, personal)


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return {"undecodable": raw.decode("utf-8", "replace")}


@router.get(
    "/projections",
    operation_id="listProjections",
    response_model=ProjectionsOut,
    responses=documented(401, 403, 503),
)
async def list_projections(
    freshness: FreshnessDep,
    freshnesses: FreshnessesDep,
    store: StoreDep,
    read_model: ReadModelDep,
    index: IndexDep,
    generations: GenerationsDep,
) -> JSONBody:
    """Each projection's checkpoint, head, lag, state and dead letters; rebuilds with progress.

    ``projections`` lists every (projection, generation) row, the serving one of each first;
    ``grouped`` has the same rows per projection: ``{name, serving, generations}``.
    """
    with index.guarded():
        active = await asyncio.to_thread(read_model.active)
        statuses: list[ProjectionStatus] = [await freshness.status(generation=active)]
        statuses += await asyncio.to_thread(rebuild_statuses, store, read_model, name=NAME)
    for name, other in freshnesses.items():
        if name != NAME:
            with other.index.guarded():
                statuses.append(await other.status(generation=other.index.generation))
                statuses += await asyncio.to_thread(
                    rebuild_statuses, store, generations[name], name=name
                )
    rows = [status.as_dict() for status in statuses]
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        group = grouped.setdefault(row["name"], {"name": row["name"], "generations": []})
        group.setdefault("serving", row["generation"])
        group["generations"].append(row)
    return JSONBody({"projections": rows, "grouped": list(grouped.values())})
