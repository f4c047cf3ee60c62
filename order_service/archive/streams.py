"""What an archive run knows about every order stream, in a few bytes a stream.

A run scans the whole log before it writes anything, so it keeps something about every order
stream: ten million of them in a large shop. Each stream's name is kept once (the dict that
numbers the streams, and a list back); its figures are columns of 64-bit integers, and what
the run decided about it (finished, to write, folded, to truncate) bits of one byte. About
200 bytes a stream in all, where an object for each stream and the maps derived from it took
about 1.5 KB for each finished order.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

import orjson

from order_service.domain.order import Order
from order_service.events import EVENT_CLASSES, schema_version_of, upcast
from order_service.eventstore.port import RecordedEvent

NONE = -1
"""No revision, position or time (stored positions and revisions are never negative)."""

FINISHED = 1
"""Delivered as a whole or cancelled before the run's cutoff."""
WRITE = 2
"""Has events to write into this run's files."""
FOLD = 4
"""Written from its first event: folded on the way, its final snapshot written then."""
FOLDED = 8
"""Its final snapshot was written while its events streamed past."""
TRUNCATE = 16
"""Archived through its last revision and not truncated that far yet."""

FULFILMENT = {Order.Placed.TYPE, Order.Shipped.TYPE, Order.Delivered.TYPE, Order.Cancelled.TYPE}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _column() -> array[int]:
    return array("q")


class StreamTable:
    """Every order stream of a scan of the log, numbered in the order first seen."""

    def __init__(self) -> None:
        self.number: dict[str, int] = {}
        self.names: list[str] = []
        self.head = _column()
        """The last revision seen."""
        self.first_hot = _column()
        """The first revision seen (the hot store's first, once archived events are gone)."""
        self.read_after = _column()
        """Where a read of the log includes this stream's first hot event: the position of
        the event read just before it (NONE: it was the first). EventStoreDB reads ``$all``
        only from a record's position, so never from an arithmetic one such as ``p - 1``."""
        self.finished_at = _column()
        """When it was delivered as a whole or cancelled, microseconds since the epoch."""
        self.unshipped = _column()
        """Items ordered and not shipped yet (a shipment's lines never exceed what is left)."""
        self.in_transit = _column()
        """Shipments not delivered yet."""
        self.archived = _column()
        """The last revision in the archive."""
        self.truncated = _column()
        """The hot store is truncated before this revision (0: not at all)."""
        self.flags = bytearray()

    def __len__(self) -> int:
        return len(self.names)

    def see(self, event: RecordedEvent, previous: int) -> int:
        """Note one event of a scan in log order (``previous``: the position read just
        before it); its stream's number."""
        number = self.number.get(event.stream)
        if number is None:
            number = self.number[event.stream] = len(self.names)
            self.names.append(event.stream)
            for column, value in (
                (self.head, event.revision),
                (self.first_hot, event.revision),
                (self.read_after, previous),
                (self.finished_at, NONE),
                (self.unshipped, 0),
                (self.in_transit, 0),
                (self.archived, NONE),
                (self.truncated, 0),
            ):
                column.append(value)
            self.flags.append(0)
        elif event.revision > self.head[number]:
            self.head[number] = event.revision
        if event.type in FULFILMENT:
            self._follow(number, event)
        return number

    def _follow(self, number: int, event: RecordedEvent) -> None:
        """Track what makes the order finished: delivered as a whole (a partial delivery is
        not: the rest may still ship) or cancelled."""
        cls = EVENT_CLASSES[event.type]
        data = orjson.loads(event.data)
        data = upcast(cls, data, schema_version_of(event)) if isinstance(data, dict) else {}
        if event.type == Order.Placed.TYPE:
            self.unshipped[number] = sum(item["quantity"] for item in data.get("items", ()))
        elif event.type == Order.Shipped.TYPE:
            lines = data.get("items")
            if lines is None:  # schema 1: the one shipment of every item
                self.unshipped[number] = 0
            else:
                self.unshipped[number] -= sum(line["quantity"] for line in lines)
            self.in_transit[number] += 1
        elif event.type == Order.Delivered.TYPE:
            self.in_transit[number] -= 1
            if self.unshipped[number] <= 0 and self.in_transit[number] <= 0:
                self.finished_at[number] = _microseconds(data.get(Order.Delivered.AT))
        else:
            self.finished_at[number] = _microseconds(data.get(Order.Cancelled.AT))

    def mark_finished(self, before: datetime) -> int:
        """Flag the streams finished before a time; how many."""
        cutoff = _since_epoch(before.astimezone(UTC))
        count = 0
        for number, finished_at in enumerate(self.finished_at):
            if finished_at != NONE and finished_at < cutoff:
                self.flags[number] |= FINISHED
                count += 1
        return count

    def note_archived(self, rows: Iterable[tuple[str, int, int | None]]) -> None:
        """What the archive's index says (stream, last archived revision, truncated before);
        streams this scan did not see are left out."""
        for stream, through, truncated in rows:
            number = self.number.get(stream)
            if number is not None:
                self.archived[number] = through
                self.truncated[number] = truncated or 0

    def choose_to_write(self) -> tuple[int, int]:
        """Flag the finished streams with events not archived yet ``WRITE`` (and ``FOLD`` those
        with none archived); how many, and their events."""
        orders = events = 0
        for number in self.with_flags(FINISHED):
            if self.head[number] > self.archived[number]:
                self.flags[number] |= WRITE | (FOLD if self.archived[number] == NONE else 0)
                orders += 1
                events += self.head[number] - self.archived[number]
        return orders, events

    def choose_to_truncate(self) -> None:
        """Flag ``TRUNCATE`` the finished streams archived through their last revision, not
        truncated that far, and with more than that one event hot."""
        for number in self.with_flags(FINISHED):
            head = self.head[number]
            if self.archived[number] >= head > max(self.truncated[number], self.first_hot[number]):
                self.flags[number] |= TRUNCATE

    def read_from(self, flags: int) -> int | None:
        """Where a read of the log includes the first hot event of every stream with these
        flags (None: from its start)."""
        start: int | None = None
        for number in self.with_flags(flags):
            after = self.read_after[number]
            if after == NONE:
                return None
            start = after if start is None else min(start, after)
        return start

    def with_flags(self, flags: int) -> Iterator[int]:
        """The streams with all these flags set, by number."""
        return (number for number, have in enumerate(self.flags) if have & flags == flags)

    def month(self, number: int) -> str:
        """The month (``YYYY-MM``, UTC) in which a finished order finished."""
        moment = EPOCH + timedelta(microseconds=self.finished_at[number])
        return f"{moment.year:04d}-{moment.month:02d}"


def _microseconds(value: object) -> int:
    """An ISO 8601 time as microseconds since the epoch (a time without an offset read as
    local time); NONE for anything else."""
    if not isinstance(value, str):
        return NONE
    try:
        return _since_epoch(datetime.fromisoformat(value).astimezone(UTC))
    except ValueError:
        return NONE


def _since_epoch(moment: datetime) -> int:
    delta = moment - EPOCH  # exact, where a float timestamp rounds
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
