"""gRPC services of the test server, on the servicer classes kurrentdbclient ships.

Implements what the order service's EventStoreDB adapter and kurrentdbclient use:
``Streams.Append``, ``Streams.BatchAppend``, ``Streams.Read`` (streams and ``$all``, both
directions, filters, catch-up subscriptions), ``Streams.Delete``, ``Streams.Tombstone`` and
``Gossip.Read`` (answered as a single leader node; the nodes of ``tests.esdb_server.cluster``
answer with every member's role).

Subscriptions (guesses where the documentation is silent, listed here):

- the first message is a confirmation with a subscription id;
- history is sent, then ``caught_up`` once when the subscription reaches the head, then live
  events; events appended while switching are neither lost nor repeated because catch-up and
  live reading are one loop over the log from the last position sent;
- a filtered subscription sends a ``checkpoint`` each time ``window max x checkpoint interval
  multiplier`` events have been examined, matching or not, and when it catches up;
- ``fell_behind`` is never sent: the server keeps the whole log in memory and live
  subscribers read it directly, so they cannot fall behind a live buffer.

Refusals, each with its source:

- A read of ``$all`` from a position that is not a record's: ``UNKNOWN`` "Unexpected
  FilteredReadAllResult: InvalidPosition" for a filtered read (KurrentDB's
  ``Enumerator.ReadAllForwardsFiltered`` passes the storage's ``InvalidPosition`` on through
  ``RpcExceptions.UnknownError``; kurrentdbclient recognises exactly this text and raises
  ``InvalidCommitPositionError``). Unfiltered and backward reads answer the same with
  ``ReadAllResult`` (guess, by the same pattern; the client's default read is filtered).
- A subscription to ``$all`` from such a position: confirmed, then ``INVALID_ARGUMENT``
  "Trying to read from an invalid position." (KurrentDB's ``AllSubscription`` fails with
  ``ReadResponseException.InvalidPosition``, which ``RpcExceptions.InvalidPositionException``
  becomes; its subscription tests read the confirmation first). kurrentdbclient has no
  mapping for it and raises a bare ``GrpcError`` naming the status.
- Any service other than Streams and Gossip (persistent subscriptions, projections, users,
  operations, ...): ``UNIMPLEMENTED`` "Method not found!", gRPC's own answer for an
  unregistered method. A real node implements them; a test that needs one cannot use this
  server.
- A call that requires the leader (kurrentdbclient sends ``requires-leader: true`` on writes
  always and on reads when it prefers the leader), on a follower: NOT_FOUND "Leader info
  available" with ``leader-endpoint-host``/``-port`` in the trailing metadata (KurrentDB's
  ``RpcExceptions.LeaderInfo``; kurrentdbclient matches that exact text). Only a node of
  ``tests.esdb_server.cluster`` is ever a follower.
- Credentials and TLS: see ``tests.esdb_server.server``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Protocol

import grpc
from google.protobuf import any_pb2, timestamp_pb2
from kurrentdbclient.protos.v1 import (
    gossip_pb2,
    gossip_pb2_grpc,
    shared_pb2,
    status_pb2,
    streams_pb2,
    streams_pb2_grpc,
)

from tests.esdb_server.log import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    Expected,
    Filter,
    Log,
    Proposed,
    Stored,
    StreamDeleted,
    WrongExpectedVersion,
)

LIVE_WAIT_S = 0.5
Options = streams_pb2.ReadReq.Options


def _expected(message: object, revision_field: str) -> Expected:
    option = message.WhichOneof(
        "expected_stream_revision" if revision_field == "revision" else "expected_stream_position"
    )  # type: ignore[attr-defined]
    if option == revision_field:
        return int(getattr(message, revision_field))
    return {"no_stream": NO_STREAM, "any": ANY, "stream_exists": STREAM_EXISTS}[option]


def _uuid(value: shared_pb2.UUID) -> uuid.UUID:
    if value.WhichOneof("value") == "string":
        return uuid.UUID(value.string)
    structured = value.structured
    raw = (structured.most_significant_bits & (2**64 - 1)).to_bytes(8, "big") + (
        structured.least_significant_bits & (2**64 - 1)
    ).to_bytes(8, "big")
    return uuid.UUID(bytes=raw)


def _proposed(
    message: streams_pb2.AppendReq.ProposedMessage | streams_pb2.BatchAppendReq.ProposedMessage,
) -> Proposed:
    return Proposed(
        id=_uuid(message.id),
        type=message.metadata["type"],
        content_type=message.metadata.get("content-type", "application/json"),
        data=message.data,
        metadata=message.custom_metadata,
    )


def _ticks(at: datetime) -> str:
    """EventStoreDB's `created`: 100-nanosecond ticks since the Unix epoch."""
    return str(int(at.timestamp() * 10_000_000))


def _read_event(event: Stored) -> streams_pb2.ReadResp:
    recorded = streams_pb2.ReadResp.ReadEvent.RecordedEvent(
        id=shared_pb2.UUID(string=str(event.id)),
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=event.stream.encode()),
        stream_revision=event.revision,
        prepare_position=event.position,
        commit_position=event.position,
        metadata={
            "type": event.type,
            "content-type": event.content_type,
            "created": _ticks(event.created),
        },
        custom_metadata=event.metadata,
        data=event.data,
    )
    return streams_pb2.ReadResp(
        event=streams_pb2.ReadResp.ReadEvent(event=recorded, commit_position=event.position)
    )


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return stamp


def _filter(options: Options) -> tuple[Filter | None, int]:
    if options.WhichOneof("filter_option") != "filter":
        return None, 0
    given = options.filter
    by_stream = given.WhichOneof("filter") == "stream_identifier"
    expression = given.stream_identifier if by_stream else given.event_type
    regex = re.compile(expression.regex) if expression.regex else None
    window = given.max if given.WhichOneof("window") == "max" else 32
    interval = max(1, window * max(1, given.checkpointIntervalMultiplier))
    return Filter(by_stream, tuple(expression.prefix), regex), interval


class Role(Protocol):
    """Where this node stands in its cluster: a single node is always the leader."""

    def leader(self) -> tuple[str, int] | None:
        """None when this node is the leader, else the leader's address."""


class SingleNode:
    def leader(self) -> tuple[str, int] | None:
        return None


def refuse_unless_leader(role: Role, context: grpc.ServicerContext) -> None:
    """A call that requires the leader, on a follower: KurrentDB's RpcExceptions.LeaderInfo
    (NOT_FOUND "Leader info available", the leader's endpoint in the trailing metadata),
    which kurrentdbclient raises as NodeIsNotLeaderError carrying that address."""
    metadata = dict(context.invocation_metadata())  # type: ignore[arg-type]
    leader = role.leader()
    if leader is None or metadata.get("requires-leader") != "true":
        return
    context.set_trailing_metadata(
        (
            ("exception", "not-leader"),
            ("leader-endpoint-host", leader[0]),
            ("leader-endpoint-port", str(leader[1])),
        )
    )
    context.abort(grpc.StatusCode.NOT_FOUND, "Leader info available")


class Streams(streams_pb2_grpc.StreamsServicer):
    def __init__(self, log: Log, role: Role | None = None) -> None:
        self.log = log
        self.role = role or SingleNode()

    # Appends.

    def Append(
        self, request_iterator: Iterator[streams_pb2.AppendReq], context: grpc.ServicerContext
    ) -> streams_pb2.AppendResp:
        refuse_unless_leader(self.role, context)
        first = next(request_iterator)
        options = first.options
        stream = options.stream_identifier.stream_name.decode()
        expected = _expected(options, "revision")
        proposed = [_proposed(request.proposed_message) for request in request_iterator]
        try:
            revision, position = self.log.append(stream, expected, proposed)
        except StreamDeleted:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{stream}' is deleted."
            )
        except WrongExpectedVersion as error:
            wrong = streams_pb2.AppendResp.WrongExpectedVersion()
            if error.current is None:
                wrong.current_no_stream.CopyFrom(shared_pb2.Empty())
            else:
                wrong.current_revision = error.current
            if isinstance(expected, int):
                wrong.expected_revision = expected
            elif expected == NO_STREAM:
                wrong.expected_no_stream.CopyFrom(shared_pb2.Empty())
            elif expected == STREAM_EXISTS:
                wrong.expected_stream_exists.CopyFrom(shared_pb2.Empty())
            else:
                wrong.expected_any.CopyFrom(shared_pb2.Empty())
            return streams_pb2.AppendResp(wrong_expected_version=wrong)
        success = streams_pb2.AppendResp.Success(
            position=streams_pb2.AppendResp.Position(
                commit_position=position, prepare_position=position
            )
        )
        if revision is None:
            success.no_stream.CopyFrom(shared_pb2.Empty())
        else:
            success.current_revision = revision
        return streams_pb2.AppendResp(success=success)

    def BatchAppend(
        self, request_iterator: Iterator[streams_pb2.BatchAppendReq], context: grpc.ServicerContext
    ) -> Iterator[streams_pb2.BatchAppendResp]:
        refuse_unless_leader(self.role, context)
        pending: dict[str, tuple[streams_pb2.BatchAppendReq.Options, list[Proposed]]] = {}
        for request in request_iterator:
            key = request.correlation_id.string or str(_uuid(request.correlation_id))
            if request.HasField("options"):
                pending[key] = (request.options, [])
            options, proposed = pending[key]
            proposed.extend(_proposed(message) for message in request.proposed_messages)
            if request.is_final:
                del pending[key]
                yield self._batch_append(request.correlation_id, options, proposed)

    def _batch_append(
        self,
        correlation_id: shared_pb2.UUID,
        options: streams_pb2.BatchAppendReq.Options,
        proposed: list[Proposed],
    ) -> streams_pb2.BatchAppendResp:
        stream = options.stream_identifier.stream_name.decode()
        expected = _expected(options, "stream_position")
        response = streams_pb2.BatchAppendResp(
            correlation_id=correlation_id, stream_identifier=options.stream_identifier
        )
        try:
            revision, position = self.log.append(stream, expected, proposed)
        except StreamDeleted:
            detail = shared_pb2.StreamDeleted(stream_identifier=options.stream_identifier)
            response.error.CopyFrom(
                self._status(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Event stream '{stream}' is deleted.",
                    detail,
                )
            )
            return response
        except WrongExpectedVersion as error:
            wrong = shared_pb2.WrongExpectedVersion()
            if error.current is None:
                wrong.current_no_stream.CopyFrom(_empty())
            else:
                wrong.current_stream_revision = error.current
            if isinstance(expected, int):
                wrong.expected_stream_position = expected
            elif expected == NO_STREAM:
                wrong.expected_no_stream.CopyFrom(_empty())
            elif expected == STREAM_EXISTS:
                wrong.expected_stream_exists.CopyFrom(_empty())
            else:
                wrong.expected_any.CopyFrom(_empty())
            response.error.CopyFrom(
                self._status(grpc.StatusCode.FAILED_PRECONDITION, "WrongExpectedVersion", wrong)
            )
            return response
        success = streams_pb2.BatchAppendResp.Success(
            position=shared_pb2.AllStreamPosition(
                commit_position=position, prepare_position=position
            )
        )
        if revision is None:
            success.no_stream.CopyFrom(_empty())
        else:
            success.current_revision = revision
        response.success.CopyFrom(success)
        return response

    @staticmethod
    def _status(code: grpc.StatusCode, message: str, detail: object) -> status_pb2.Status:
        packed = any_pb2.Any()
        packed.Pack(detail)  # type: ignore[arg-type]
        return status_pb2.Status(code=code.value[0], message=message, details=packed)

    # Deletes.

    def Delete(
        self, request: streams_pb2.DeleteReq, context: grpc.ServicerContext
    ) -> streams_pb2.DeleteResp:
        position = self._delete(request.options, context, tombstone=False)
        return streams_pb2.DeleteResp(
            position=streams_pb2.DeleteResp.Position(
                commit_position=position, prepare_position=position
            )
        )

    def Tombstone(
        self, request: streams_pb2.TombstoneReq, context: grpc.ServicerContext
    ) -> streams_pb2.TombstoneResp:
        position = self._delete(request.options, context, tombstone=True)
        return streams_pb2.TombstoneResp(
            position=streams_pb2.TombstoneResp.Position(
                commit_position=position, prepare_position=position
            )
        )

    def _delete(
        self,
        options: streams_pb2.DeleteReq.Options | streams_pb2.TombstoneReq.Options,
        context: grpc.ServicerContext,
        *,
        tombstone: bool,
    ) -> int:
        refuse_unless_leader(self.role, context)
        stream = options.stream_identifier.stream_name.decode()
        expected = _expected(options, "revision")
        try:
            return self.log.delete(stream, expected, tombstone=tombstone)
        except StreamDeleted:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{stream}' is deleted."
            )
        except WrongExpectedVersion as error:
            shown = (
                expected
                if isinstance(expected, int)
                else {NO_STREAM: -1, ANY: -2, STREAM_EXISTS: -4}[expected]
            )
            actual = -1 if error.current is None else error.current
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"WrongExpectedVersion. Stream: {stream}, "
                f"Expected version: {shown}, Actual version: {actual}",
            )
        raise AssertionError("unreachable")

    # Reads and subscriptions.

    def Read(
        self, request: streams_pb2.ReadReq, context: grpc.ServicerContext
    ) -> Iterator[streams_pb2.ReadResp]:
        refuse_unless_leader(self.role, context)
        options = request.options
        subscribe = options.WhichOneof("count_option") == "subscription"
        if options.WhichOneof("stream_option") == "stream":
            stream = options.stream.stream_identifier.stream_name.decode()
            if subscribe:
                yield from self._subscribe_stream(stream, options.stream, context)
            else:
                yield from self._read_stream(stream, options, context)
            return
        if subscribe:
            yield from self._subscribe_all(options, context)
        else:
            yield from self._read_all(options, context)

    def _read_stream(
        self, stream: str, options: Options, context: grpc.ServicerContext
    ) -> Iterator[streams_pb2.ReadResp]:
        try:
            events = self.log.read_stream(stream)
        except StreamDeleted:
            context.set_trailing_metadata(
                (("exception", "stream-deleted"), ("stream-name", stream))
            )
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, f"Event stream '{stream}' is deleted."
            )
        if events is None:
            yield streams_pb2.ReadResp(
                stream_not_found=streams_pb2.ReadResp.StreamNotFound(
                    stream_identifier=options.stream.stream_identifier
                )
            )
            return
        backwards = options.read_direction == Options.Backwards
        revision_option = options.stream.WhichOneof("revision_option")
        if revision_option == "revision":
            start = options.stream.revision
            selected = (
                [e for e in events if e.revision <= start]
                if backwards
                else [e for e in events if e.revision >= start]
            )
        else:
            selected = list(events)
            if revision_option == "end" and not backwards:
                selected = []
        if backwards:
            selected.reverse()
        for event in selected[: options.count]:
            yield _read_event(event)

    def _read_all(
        self, options: Options, context: grpc.ServicerContext
    ) -> Iterator[streams_pb2.ReadResp]:
        events = self.log.all_events()
        backwards = options.read_direction == Options.Backwards
        all_option = options.all.WhichOneof("all_option")
        if all_option == "position":
            # Forwards from a position includes its event; backwards starts before it.
            at = options.all.position.commit_position
            if not self.log.is_start(at):
                # The read enumerators pass the storage's InvalidPosition on as an unknown
                # result (RpcExceptions.UnknownError: "Unexpected <result type>: <result>").
                result = "FilteredReadAllResult" if _filter(options)[0] else "ReadAllResult"
                context.abort(grpc.StatusCode.UNKNOWN, f"Unexpected {result}: InvalidPosition")
            events = [e for e in events if (e.position < at if backwards else e.position >= at)]
        elif all_option == "end" and not backwards:
            events = []
        if backwards:
            events.reverse()
        matching, _ = _filter(options)
        sent = 0
        for event in events:
            if sent >= options.count:
                return
            if matching is None or matching.matches(event):
                sent += 1
                yield _read_event(event)

    def _subscribe_stream(
        self, stream: str, stream_options: Options.StreamOptions, context: grpc.ServicerContext
    ) -> Iterator[streams_pb2.ReadResp]:
        yield self._confirmation()
        option = stream_options.WhichOneof("revision_option")
        if option == "revision":
            after_revision = stream_options.revision
        elif option == "end":
            current = self.log.read_stream(stream) or []
            after_revision = current[-1].revision if current else -1
        else:
            after_revision = -1
        position = 0
        caught_up = False
        while context.is_active():
            batch = self.log.wait_for_events_after(position, 0 if not caught_up else LIVE_WAIT_S)
            for event in batch:
                position = event.position
                if event.stream == stream and event.revision > after_revision:
                    after_revision = event.revision
                    yield _read_event(event)
            if not batch and not caught_up:
                caught_up = True
                yield streams_pb2.ReadResp(
                    caught_up=streams_pb2.ReadResp.CaughtUp(
                        timestamp=_now(), stream_revision=after_revision
                    )
                )

    def _subscribe_all(
        self, options: Options, context: grpc.ServicerContext
    ) -> Iterator[streams_pb2.ReadResp]:
        yield self._confirmation()
        all_option = options.all.WhichOneof("all_option")
        if all_option == "position":
            position = options.all.position.commit_position  # subscriptions start after it
            if not self.log.is_start(position):
                # Confirmed first, then failed: RpcExceptions.InvalidPositionException.
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "Trying to read from an invalid position."
                )
        elif all_option == "end":
            position = self.log.head()
        else:
            position = 0
        matching, interval = _filter(options)
        examined = 0
        caught_up = False
        while context.is_active():
            batch = self.log.wait_for_events_after(position, LIVE_WAIT_S if caught_up else 0)
            for event in batch:
                position = event.position
                examined += 1
                if matching is None or matching.matches(event):
                    yield _read_event(event)
                if matching is not None and examined % interval == 0:
                    yield self._checkpoint(position)
            if not batch and not caught_up:
                caught_up = True
                if matching is not None:
                    yield self._checkpoint(position)
                yield streams_pb2.ReadResp(
                    caught_up=streams_pb2.ReadResp.CaughtUp(
                        timestamp=_now(),
                        position=streams_pb2.ReadResp.Position(
                            commit_position=position, prepare_position=position
                        ),
                    )
                )

    @staticmethod
    def _confirmation() -> streams_pb2.ReadResp:
        return streams_pb2.ReadResp(
            confirmation=streams_pb2.ReadResp.SubscriptionConfirmation(
                subscription_id=str(uuid.uuid4())
            )
        )

    @staticmethod
    def _checkpoint(position: int) -> streams_pb2.ReadResp:
        return streams_pb2.ReadResp(
            checkpoint=streams_pb2.ReadResp.Checkpoint(
                commit_position=position, prepare_position=position, timestamp=_now()
            )
        )


def _empty() -> object:
    from google.protobuf import empty_pb2

    return empty_pb2.Empty()


class Gossip(gossip_pb2_grpc.GossipServicer):
    """A single node that is the leader, as a one-node cluster answers."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.instance = uuid.uuid4()

    def Read(
        self, request: shared_pb2.Empty, context: grpc.ServicerContext
    ) -> gossip_pb2.ClusterInfo:
        member = gossip_pb2.MemberInfo(
            instance_id=shared_pb2.UUID(string=str(self.instance)),
            time_stamp=int(datetime.now(UTC).timestamp() * 10_000_000),
            state=gossip_pb2.MemberInfo.VNodeState.Leader,
            is_alive=True,
            http_end_point=gossip_pb2.EndPoint(address=self.host, port=self.port),
        )
        return gossip_pb2.ClusterInfo(members=[member])
