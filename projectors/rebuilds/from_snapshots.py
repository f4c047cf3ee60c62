"""Start a build's archived orders from their final snapshots instead of their events.

An archive run leaves every archived order a snapshot at its last archived revision
(``order_service.archive.run``). A projection that declares ``from_snapshots`` can take its
document from that snapshot: one small read per order instead of replaying the order's
events from the cold archive. What the seeding cannot take from a snapshot (none written,
one older than the archived events, an older snapshot format) it folds from that order's
events, as a replay would, dead letters included.

The build then replays the hot log and only those archive files written after the seeding
(``seeded_files``): an order archived meanwhile is read from its events; every event of a
seeded order is at or below its document's version, so the version guard skips it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson

from order_service.archive.cold import ColdArchive
from order_service.events import order_id_of, snapshot_stream
from order_service.eventstore.port import EventStore, RecordedEvent
from order_service.personal.codec import PersonalData
from order_service.progress import Report, Tick, silent
from projectors.port import Changes
from projectors.projection import Document, Projection
from projectors.rebuilds.full_log import full_stream
from projectors.runner import changes_for

SNAPSHOT_READS = 1000
"""Orders whose snapshots are read at once."""


@dataclass
class Seeded:
    from_snapshots: int = 0
    """Documents taken from a snapshot."""
    folded: int = 0
    """Archived orders a snapshot could not give, folded from their events."""
    events: int = 0
    """The events read for those."""
    files: tuple[str, ...] = ()
    """The archive files the seeding covered: the replay leaves them out."""
    covered: dict[str, int] = field(default_factory=dict, repr=False)
    """Stream -> the revision its document was started at: the replay skips the hot log's
    events up to it (held by the process that seeded; a resumed build reads them)."""
    skipped: int = 0
    """Hot-log events the replay skipped for that."""


def seed(
    store: EventStore,
    archive: ColdArchive,
    projection: Projection,
    personal: PersonalData,
    *,
    lookup: Callable[[list[str]], Mapping[str, Document]],
    write: Callable[[Changes], None],
    report: Report = silent,
) -> Seeded:
    """Write every archived order's document; the checkpoint is left where it was."""
    if not projection.from_snapshots:
        raise ValueError(f"{projection.name} cannot start from snapshots")
    seeded = Seeded(files=tuple(row["name"] for row in archive.files()))
    total = archive.stream_count()
    rows = archive.stream_rows(page=SNAPSHOT_READS)
    while chunk := {stream: through for stream, through, _ in islice(rows, SNAPSHOT_READS)}:
        documents: dict[str, Document] = {}
        unseeded: list[RecordedEvent] = []
        for stream, snapshot in _latest_snapshots(store, list(chunk)):
            document = _usable(projection, snapshot, chunk[stream])
            if document is None:
                unseeded.extend(full_stream(store, archive, stream))
            else:
                documents[document["order_id"]] = document
                seeded.covered[stream] = document["version"]
        changes = Changes(documents=documents)
        if unseeded:
            folded = changes_for(
                unseeded, lookup, personal, searchable=False, projection=projection
            )
            changes.documents.update(folded.documents)
            changes.dead_letters.extend(folded.dead_letters)
            seeded.folded += len({event.stream for event in unseeded})
            seeded.events += len(unseeded)
        write(dataclasses.replace(changes, checkpoint=None))
        seeded.from_snapshots += len(documents)
        done = seeded.from_snapshots + seeded.folded
        report(Tick("starting archived orders from snapshots", done, total, done))
    return seeded


def _latest_snapshots(
    store: EventStore, streams: Sequence[str]
) -> Iterator[tuple[str, dict[str, Any] | None]]:
    names = {stream: snapshot_stream(order_id_of(stream)) for stream in streams}
    found = store.read_streams(list(names.values()))
    for stream, name in names.items():
        events = found.get(name)
        yield stream, _data(events[-1]) if events else None


def _data(event: RecordedEvent) -> dict[str, Any] | None:
    try:
        data = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _usable(
    projection: Projection, snapshot: dict[str, Any] | None, archived_through: int
) -> Document | None:
    """The snapshot's document, if the snapshot covers every archived event of its order."""
    if snapshot is None or not isinstance(snapshot.get("version"), int):
        return None
    if snapshot["version"] < archived_through or not isinstance(snapshot.get("position"), int):
        return None
    return projection.snapshot_document(snapshot)
