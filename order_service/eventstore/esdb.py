"""The production event store: EventStoreDB (or KurrentDB) through kurrentdbclient.

Positions are EventStoreDB's commit positions. The client reconnects and retries transient
gRPC failures itself (``@autoreconnect``/``@retrygrpc``); what still fails is translated to
the port's errors, so callers never see a driver exception. A catch-up subscription that
loses its connection resubscribes from the last event it delivered.

An append reports the revision it produced without another round trip when the expected
version says it (a revision, or no stream: revisions from 0); the client does not pass on
the server's own answer. A stream soft-deleted by hand and recreated by a no-stream append
continues its old numbering on the server, which this adapter would not know: this system
never soft-deletes (archiving truncates with ``$tb`` and keeps the last event).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import kurrentdbclient
from kurrentdbclient import KurrentDBClient
from kurrentdbclient import NewEvent as ClientEvent
from kurrentdbclient import StreamState as ClientState
from kurrentdbclient import exceptions as client_errors

from order_service.eventstore.connection import redacted, scrubbed
from order_service.eventstore.port import (
    AppendResult,
    EventStoreError,
    EventStoreUnavailableError,
    Expected,
    NewEvent,
    RecordedEvent,
    StreamDeletedError,
    StreamState,
    WrongExpectedVersionError,
)

log = logging.getLogger(__name__)

STATES = {
    StreamState.ANY: ClientState.ANY,
    StreamState.NO_STREAM: ClientState.NO_STREAM,
    StreamState.STREAM_EXISTS: ClientState.EXISTS,
}
TRANSIENT = (
    client_errors.ServiceUnavailableError,
    client_errors.DeadlineExceededError,
    client_errors.DiscoveryFailedError,
    client_errors.NodeIsNotLeaderError,  # the client reconnects to the leader and retries
    client_errors.ExceptionThrownByHandlerError,
    client_errors.CancelledError,  # a node shutting down cancels its calls
)
"""Failures that pass: the node is down, busy, electing or slow. Anything else is an answer."""
TRANSIENT_STATUSES = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "CANCELLED")
"""Statuses of a bare ``GrpcError`` (the client's catch-all, its message names the status)."""
PLAIN_TEXT_HINT = (
    " (the server closed the connection: a node serving TLS does so to a client whose"
    " connection string says tls=false)"
)
RESUBSCRIBE_DELAY_S = 1.0
METADATA_WRITERS = 16
READ_THREADS = 16
METADATA_RETRIES = 5


class EventStoreDBEventStore:
    event_ids_unique = False  # known ids are recognised only right after the expected version

    def __init__(self, uri: str) -> None:
        # Connecting is lazy, so an unreachable server shows in /readyz, not as a crash.
        self._uri = uri
        self.uri = redacted(uri)
        """The connection string as it may be shown: its password replaced by ``***``."""
        self._client: KurrentDBClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> KurrentDBClient:
        with self._lock:
            if self._client is None:
                # Raised from None: the driver's own exception may quote the string.
                try:
                    self._client = KurrentDBClient(uri=self._uri)
                except client_errors.KurrentDBClientError as error:  # discovery failed
                    raise EventStoreUnavailableError(
                        f"cannot connect to {self.uri}: {scrubbed(str(error), self._uri)}"
                    ) from None
                except (ValueError, OSError) as error:  # the string, or its CA file: waiting
                    raise EventStoreError(  # will not fix it
                        f"cannot connect to {self.uri}: {scrubbed(str(error), self._uri)}"
                    ) from None
            return self._client

    def append(self, stream: str, events: Sequence[NewEvent], expected: Expected) -> AppendResult:
        current = STATES[expected] if isinstance(expected, StreamState) else expected
        with _translated(f"append to {stream}", stream):
            try:
                position = self.client.append_to_stream(
                    stream,
                    events=[
                        ClientEvent(
                            type=event.type,
                            data=event.data,
                            metadata=event.metadata,
                            content_type="application/json",
                            id=event.id,
                        )
                        for event in events
                    ],
                    current_version=current,
                )
            except client_errors.WrongCurrentVersionError as error:
                actual = error.actual_version
                raise WrongExpectedVersionError(
                    stream, expected, actual if isinstance(actual, int) else None
                ) from error
        if isinstance(expected, int) and not isinstance(expected, bool):
            revision = expected + len(events)
        elif expected is StreamState.NO_STREAM:
            revision = len(events) - 1
        else:
            revision = self._last_revision(stream)
        return AppendResult(revision, position)

    async def append_async(
        self, stream: str, events: Sequence[NewEvent], expected: Expected
    ) -> AppendResult:
        return await asyncio.to_thread(self.append, stream, events, expected)

    async def append_streams_async(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], Expected]]
    ) -> list[AppendResult]:
        # No transaction across streams: in order, each only once the one before is stored.
        return [await self.append_async(*append) for append in appends]

    async def read_stream_async(
        self,
        stream: str,
        *,
        from_revision: int | None = None,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        return await asyncio.to_thread(
            self.read_stream, stream, from_revision=from_revision, backwards=backwards, limit=limit
        )

    def _last_revision(self, stream: str) -> int:
        last = self.read_stream(stream, backwards=True, limit=1)
        return last[0].revision if last else -1

    def read_stream(
        self,
        stream: str,
        *,
        from_revision: int | None = None,
        backwards: bool = False,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        kwargs: dict[str, Any] = {"stream_position": from_revision, "backwards": backwards}
        if limit is not None:
            kwargs["limit"] = limit
        with _translated(f"read of {stream}"):
            try:
                recorded = self.client.get_stream(stream, **kwargs)
            except (
                client_errors.NotFoundError,
                client_errors.StreamIsDeletedError,
                client_errors.StreamTombstonedError,
            ):
                return []  # deleted for good reads like never written: no events
        return [_recorded(event) for event in recorded]

    def read_streams(self, streams: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        # One read per stream (the server has no multi-stream read), several in flight.
        wanted = list(dict.fromkeys(streams))
        if len(wanted) <= 1:
            return {stream: events for stream in wanted if (events := self.read_stream(stream))}
        with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(wanted))) as pool:
            results = pool.map(self.read_stream, wanted)
            return {s: events for s, events in zip(wanted, results, strict=True) if events}

    def read_all(
        self, *, after: int | None = None, limit: int = 1000, stream_prefix: str = ""
    ) -> list[RecordedEvent]:
        with _translated("read of $all"):
            response = self.client.read_all(
                commit_position=after,
                limit=limit + 1,
                **_filter(stream_prefix),
            )
            events = [_recorded(event) for event in response if not event.is_checkpoint]
        # Reading $all from a position includes the event at it; the port's `after` does not.
        return [event for event in events if after is None or event.position > after][:limit]

    def truncate(self, before: Mapping[str, int]) -> None:
        # One metadata write per stream; a pool keeps many of them in flight.
        with ThreadPoolExecutor(max_workers=METADATA_WRITERS) as pool:
            list(pool.map(self._raise_truncate_before, before.items()))

    def _raise_truncate_before(self, item: tuple[str, int]) -> None:
        stream, revision = item
        with _translated(f"read of {stream}", stream):  # a tombstoned stream: StreamDeletedError
            try:
                last = self.client.get_stream(stream, backwards=True, limit=1)[0].stream_position
            except client_errors.NotFoundError:
                last = -1
        if last < 0:
            # Nothing readable to hide; a $tb on an empty stream would hide its future first
            # events, since the server keeps metadata for streams that do not exist yet.
            return
        wanted = min(revision, last + 1)
        self._set_truncate_before(stream, lambda current: max(current, wanted))

    def restore(self, events: Sequence[RecordedEvent]) -> int:
        by_stream: dict[str, list[RecordedEvent]] = {}
        for event in events:
            by_stream.setdefault(event.stream, []).append(event)
        readable = 0
        for stream, archived in by_stream.items():
            first = min(event.revision for event in archived)
            self._set_truncate_before(stream, partial(min, first))
            visible = {event.id for event in self.read_stream(stream, from_revision=first)}
            missing = [event.revision for event in archived if event.id not in visible]
            if missing:
                raise EventStoreError(
                    f"{stream}: revisions {missing[0]}..{missing[-1]} are gone from the server"
                    " (scavenged after truncation); the archive still holds them"
                )
            readable += len(archived)
        return readable

    def _set_truncate_before(self, stream: str, change: Callable[[int], int]) -> None:
        """Read-modify-write of ``$tb``, conditional on the metadata's version (retried)."""
        for _ in range(METADATA_RETRIES):
            with _translated(f"metadata of {stream}", stream):
                try:
                    # A tombstoned stream's metadata is deleted too: StreamDeletedError.
                    metadata, version = self.client.get_stream_metadata(stream)
                    current = int(metadata.get("$tb", 0))
                    wanted = change(current)
                    if wanted == current:
                        return
                    self.client.set_stream_metadata(
                        stream, metadata={**metadata, "$tb": wanted}, current_version=version
                    )
                    return
                except client_errors.WrongCurrentVersionError:
                    continue  # someone else changed the metadata: read it again
        raise EventStoreError(f"metadata of {stream} kept changing; try again")

    def subscribe(self, *, after: int | None = None, stream_prefix: str = "") -> ESDBSubscription:
        return ESDBSubscription(self, after, stream_prefix)

    def head_position(self) -> int | None:
        last = self._last_in_all()
        return None if last is None else last.position

    def _last_in_all(self) -> RecordedEvent | None:
        # The client leaves the server's own records ($-types) out of $all by default.
        with _translated("read of $all"):
            response = self.client.read_all(backwards=True, limit=1)
            events = [_recorded(event) for event in response]
        return events[0] if events else None

    def ping(self) -> None:
        self._last_in_all()

    def check_writable(self) -> None:
        # The server decides; a node that answers reads and refuses writes (a follower, a
        # full disk) reports it on the append itself.
        self._last_in_all()

    def stuck_for(self) -> float:
        return 0.0  # every call carries the client's deadline; nothing here can hang

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class ESDBSubscription:
    """A catch-up subscription to ``$all``, filtered on the server by stream-name prefix."""

    def __init__(
        self, store: EventStoreDBEventStore, after: int | None, stream_prefix: str
    ) -> None:
        self._store = store
        self._after = after
        self._prefix = stream_prefix
        self._stopped = threading.Event()
        self._current: Any = None

    def __iter__(self) -> Iterator[RecordedEvent]:
        while not self._stopped.is_set():
            try:
                self._current = self._store.client.subscribe_to_all(
                    commit_position=self._after, **_filter(self._prefix)
                )
                for event in self._current:
                    recorded = _recorded(event)
                    if self._after is not None and recorded.position <= self._after:
                        continue
                    self._after = recorded.position
                    yield recorded
            except (client_errors.KurrentDBClientError, EventStoreUnavailableError) as error:
                if not (isinstance(error, EventStoreUnavailableError) or is_transient(error)):
                    with _translated("subscription to $all"):
                        raise error
                if self._stopped.is_set():
                    return
                log.warning("subscription lost (%s); resubscribing after %s", error, self._after)
                self._stopped.wait(RESUBSCRIBE_DELAY_S)

    def pages(self) -> Iterator[list[RecordedEvent]]:
        # The server streams events one by one: a page each.
        for event in self:
            yield [event]

    def stop(self) -> None:
        self._stopped.set()
        if self._current is not None:
            self._current.stop()


@contextmanager
def _translated(what: str, stream: str | None = None) -> Iterator[None]:
    """The client's exceptions as the port's: callers never see a driver exception."""
    try:
        yield
    except (client_errors.StreamIsDeletedError, client_errors.StreamTombstonedError) as error:
        raise StreamDeletedError(stream or what) from error
    except client_errors.KurrentDBClientError as error:
        if isinstance(error, client_errors.UnauthenticatedError):
            raise EventStoreError(
                f"{what} refused: the server did not accept the connection string's user and"
                f" password ({error})"
            ) from error
        if isinstance(error, client_errors.AccessDeniedError):
            raise EventStoreError(
                f"{what} refused: access denied to the connection string's user (or to a"
                f" client without one) ({error})"
            ) from error
        if _tls_failed(error):
            raise EventStoreError(
                f"{what} failed: the TLS handshake failed; the CA file must be the one that"
                f" signed the server's certificate, for the host dialled ({error})"
            ) from error
        if is_transient(error):
            hint = PLAIN_TEXT_HINT if "Socket closed" in str(error) else ""
            raise EventStoreUnavailableError(f"{what} failed: {error}{hint}") from error
        if isinstance(error, client_errors.FailedPreconditionError) and "is deleted" in str(error):
            # The single-event Append rpc reports a deleted stream only in its message.
            raise StreamDeletedError(stream or what) from error
        # UNIMPLEMENTED, INVALID_ARGUMENT, PERMISSION_DENIED, ...: asking again gives the same
        # answer, so it is not retried and not reported as the server being away.
        raise EventStoreError(f"{what} refused by the server: {error}") from error


def _tls_failed(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, client_errors.SSLError) or "handshake failed" in text.lower()


def is_transient(error: BaseException) -> bool:
    """Whether a client error is the server being away or slow (worth retrying)."""
    if _tls_failed(error):
        return False  # a certificate the CA file cannot verify does not heal by waiting
    if isinstance(error, TRANSIENT):
        return True
    if type(error) is client_errors.GrpcError:
        return any(f"StatusCode.{status}" in str(error) for status in TRANSIENT_STATUSES)
    return False


def _filter(stream_prefix: str) -> dict[str, Any]:
    if not stream_prefix:
        return {}
    return {
        "filter_include": [stream_prefix],
        "filter_by_stream_name": True,
        "filter_by_prefix": True,
    }


def _recorded(event: kurrentdbclient.RecordedEvent) -> RecordedEvent:
    return RecordedEvent(
        stream=event.stream_name,
        revision=event.stream_position,
        position=event.commit_position or 0,
        id=event.id,
        type=event.type,
        data=event.data,
        metadata=event.metadata,
        recorded_at=event.recorded_at or datetime.now(UTC),
    )
