"""The whole history of orders: the cold archive and the hot log, merged in log order.

Archived events keep their original positions, so one merge by position gives the log as
it was before archiving. An event present in both (EventStoreDB returns truncated events
from ``$all`` until a scavenge; restored events are in both) is delivered once.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator
from operator import attrgetter

from order_service.archive.cold import ColdArchive
from order_service.eventstore.port import EventStore, RecordedEvent
from order_service.eventstore.scan import read_log


def full_log(
    store: EventStore,
    archive: ColdArchive | None,
    *,
    after: int | None = None,
    excluding: Collection[str] = (),
) -> Iterator[RecordedEvent]:
    """``excluding``: archive files left out (their orders were started from snapshots)."""
    sources = [read_log(store, after=after)]
    if archive is not None:
        sources.append(archive.replay(after=after, excluding=excluding))
    last: int | None = None
    for event in heapq.merge(*sources, key=attrgetter("position")):
        if event.position != last:
            last = event.position
            yield event


def full_stream(store: EventStore, archive: ColdArchive | None, stream: str) -> list[RecordedEvent]:
    """One stream's events, archived ones included, oldest first."""
    events = {event.revision: event for event in archive.events_of(stream)} if archive else {}
    events.update((event.revision, event) for event in store.read_stream(stream))
    return [events[revision] for revision in sorted(events)]
