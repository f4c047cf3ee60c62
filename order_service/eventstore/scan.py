"""Reading the whole log in pages: the one loop every pass over history uses."""

from __future__ import annotations

from collections.abc import Iterator

from order_service.eventstore.port import EventStore, RecordedEvent

PAGE = 5000


def read_log(
    store: EventStore, *, after: int | None = None, stream_prefix: str = "order-"
) -> Iterator[RecordedEvent]:
    """Every event after a position, oldest first, until the log has no more."""
    while page := store.read_all(after=after, limit=PAGE, stream_prefix=stream_prefix):
        yield from page
        after = page[-1].position
