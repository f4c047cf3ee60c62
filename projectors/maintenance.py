"""Repairs operators run on a projection: retry dead letters, re-project one order."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from order_service.archive.cold import ColdArchive
from order_service.events import order_id_of, order_stream
from order_service.eventstore.port import EventStore
from order_service.personal.codec import PersonalData
from projectors import order_search
from projectors.port import Changes, DocumentStore
from projectors.projection import Document, Projection, ProjectionError
from projectors.rebuilds.full_log import full_stream

log = logging.getLogger(__name__)


@dataclass
class RetryReport:
    repaired: list[str] = field(default_factory=list)
    """Orders whose documents were rebuilt and whose dead letters were cleared."""
    still_failing: dict[str, str] = field(default_factory=dict)
    """Orders whose events still cannot be projected, with the error."""


def reproject(
    store: EventStore,
    index: DocumentStore,
    order_id: str,
    personal: PersonalData,
    archive: ColdArchive | None = None,
    *,
    projection: Projection = order_search.PROJECTION,
) -> Document | None:
    """Rebuild one order's document from its whole stream; the document written, or None if
    the order has no events."""
    document = projection.fold(full_stream(store, archive, order_stream(order_id)), personal)
    if document is None:
        return None
    index.write(Changes(documents={order_id: document}))
    log.info("re-projected order %s at version %s", order_id, document["version"])
    return document


def retry_dead_letters(
    store: EventStore,
    index: DocumentStore,
    personal: PersonalData,
    *,
    projection: Projection = order_search.PROJECTION,
    archive: ColdArchive | None = None,
    dry_run: bool = False,
    limit: int = 10_000,
) -> RetryReport:
    """Re-project every order that has dead letters; clear the letters of those that now work."""
    by_order: defaultdict[str, list[int]] = defaultdict(list)
    for letter in index.dead_letters(limit=limit):
        by_order[order_id_of(letter.stream)].append(letter.position)
    report = RetryReport()
    for order_id, positions in by_order.items():
        try:
            events = full_stream(store, archive, order_stream(order_id))
            document = projection.fold(events, personal)
        except ProjectionError as error:
            report.still_failing[order_id] = str(error)
            continue
        report.repaired.append(order_id)
        if dry_run or document is None:
            continue
        index.write(Changes(documents={order_id: document}))
        index.clear_dead_letters(positions)
        log.info("repaired order %s (%d dead letters cleared)", order_id, len(positions))
    return report
