"""The event store port: what the order service needs from an event log, on any backend.

Semantics follow EventStoreDB's, so the SQLite adapter and the EventStoreDB adapter are
interchangeable and a log can move between them without conversion: streams of events with
0-based revisions, one global log whose positions only grow, expected-version checks on
append (any, no stream, stream exists, exact revision), idempotent appends by event id, and
catch-up subscriptions that deliver history and then live events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import NamedTuple, Protocol
from uuid import UUID


class StreamState(Enum):
    """Expected states of a stream that are not an exact revision."""

    ANY = "any"
    NO_STREAM = "no_stream"
    STREAM_EXISTS = "stream_exists"


Expected = StreamState | int
"""What the writer believes about the stream: a state, or the exact current revision."""


@dataclass(frozen=True)
class NewEvent:
    id: UUID
    type: str
    data: bytes
    metadata: bytes


Append = tuple[str, Sequence[NewEvent], Expected]
"""One stream's events and the state the writer expects it in."""


class RecordedEvent(NamedTuple):
    """An event as the store holds it. A named tuple, not a frozen dataclass: readers build
    one per event read (a projection reads hundreds of thousands), and a tuple is built in a
    quarter of the time."""

    stream: str
    revision: int
    position: int
    id: UUID
    type: str
    data: bytes
    metadata: bytes
    recorded_at: datetime


@dataclass(frozen=True)
class AppendResult:
    revision: int
    """The stream's revision after the append (the last event's revision)."""
    position: int
    """The last appended event's global position."""
    replayed: bool = False
    """The events were already stored (an idempotent append): nothing was written now.
    SQLite says so; EventStoreDB's answer does not tell, so its adapter never sets it."""


class EventStoreError(Exception):
    """Base of what the port raises; adapters translate their driver's errors into these."""


class WrongExpectedVersionError(EventStoreError):
    def __init__(self, stream: str, expected: Expected, actual: int | None) -> None:
        shown = expected.value if isinstance(expected, StreamState) else expected
        super().__init__(f"{stream}: expected {shown}, actual revision {actual}")
        self.stream = stream
        self.expected = expected
        self.actual = actual
        """The stream's current revision, or None when it does not exist."""


class StreamDeletedError(EventStoreError):
    """The stream was tombstoned; it can never be written again."""


class EventStoreUnavailableError(EventStoreError):
    """The store cannot be reached now; nothing was appended. Retrying later may succeed."""


class Subscription(Protocol):
    """Events in log order, history first, then live; iterate, and ``stop()`` from anywhere."""

    def __iter__(self) -> Iterator[RecordedEvent]: ...

    def pages(self) -> Iterator[list[RecordedEvent]]:
        """The same events in pages, each what the store had ready (never empty): for a
        reader that hands them on, one hand-over per page instead of per event."""
        ...

    def stop(self) -> None: ...


class EventStore(Protocol):
    event_ids_unique: bool
    """True when the store refuses an event id it already holds anywhere (SQLite: a unique
    index), so a retried command's deterministic ids can never be written twice. EventStoreDB
    recognises known ids only at the stream's end: a reused key must be looked up first."""

    def append(self, stream: str, events: Sequence[NewEvent], expected: Expected) -> AppendResult:
        """Append atomically if the stream matches ``expected``; durable when it returns.

        Appending events whose ids are already in the stream at the end is a no-op that
        returns the original result (EventStoreDB's idempotent append).
        """
        ...

    async def append_async(
        self, stream: str, events: Sequence[NewEvent], expected: Expected
    ) -> AppendResult:
        """``append`` for the event loop: the command path awaits it without a thread hop."""
        ...

    async def append_streams_async(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], Expected]]
    ) -> list[AppendResult]:
        """Several appends, in order, where each depends on those before it (a customer's
        new key, then the events it seals). SQLite: one transaction, all or nothing.
        EventStoreDB: one after another, stopping at the first refusal, so nothing is ever
        written without what it depends on."""
        ...

    def read_stream(
        self,
        stream: str,
        *,
        from_revision: int | None = None,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """A stream's events from a revision (inclusive); ``[]`` when it does not exist."""
        ...

    async def read_stream_async(
        self,
        stream: str,
        *,
        from_revision: int | None = None,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """``read_stream`` for the event loop."""
        ...

    def read_streams(self, streams: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        """Several whole streams at once (each oldest first; missing ones absent): what a
        reader needing many small streams (customers' keys) asks in one go."""
        ...

    def read_all(
        self, *, after: int | None = None, limit: int = 1000, stream_prefix: str = ""
    ) -> list[RecordedEvent]:
        """Events of the whole log after a position (exclusive), oldest first."""
        ...

    def subscribe(self, *, after: int | None = None, stream_prefix: str = "") -> Subscription:
        """Catch-up subscription to the log after a position (exclusive)."""
        ...

    def head_position(self) -> int | None:
        """The position of the last event in the log, or None when it is empty."""
        ...

    def truncate(self, before: Mapping[str, int]) -> None:
        """Make each stream's events before a revision unreadable (archiving).

        EventStoreDB: the stream's ``$tb`` metadata, the documented way; the server reclaims
        the space at its next scavenge, and reads of ``$all`` return the events until then.
        SQLite: the rows are deleted and their pages reused. Idempotent; never lowers ``$tb``.
        """
        ...

    def restore(self, events: Sequence[RecordedEvent]) -> int:
        """Put archived events back at their original revisions; returns how many are readable.

        Raises ``EventStoreError`` when the store can no longer show them at those revisions
        (EventStoreDB after a scavenge): the archive still holds them.
        """
        ...

    def ping(self) -> None:
        """Return when the store answers reads; raise ``EventStoreUnavailableError`` otherwise."""
        ...

    def check_writable(self) -> None:
        """Return when appends can succeed now; raise ``EventStoreUnavailableError`` with why
        not (a full disk, a failing or stuck writer, a server that refuses writes)."""
        ...

    def stuck_for(self) -> float:
        """Seconds the store's own machinery has been stuck in one operation (0 when not):
        the process's liveness watchdog reads it."""
        ...

    def close(self) -> None: ...
