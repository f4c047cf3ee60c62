"""What every Elasticsearch read model keeps beside its documents, in its ``-meta`` index: the
checkpoint (one document) and dead letters (one per position). Shared by the order-search index
and the projections' document stores, as ``sqlite_progress`` is by the SQLite ones."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from projectors.port import Checkpoint, DeadLetter

CHECKPOINT_ID = "checkpoint"
DEAD_LETTERS = {"term": {"kind": "dead_letter"}}


def checkpoint_document(position: int) -> dict[str, Any]:
    return {"kind": "checkpoint", "position": position, "updated_at": datetime.now(UTC).isoformat()}


def dead_letter_actions(meta: str, letters: Iterable[DeadLetter]) -> Iterator[dict[str, Any]]:
    """Bulk actions writing each letter under its position (written twice, kept once)."""
    for letter in letters:
        yield {
            "_index": meta,
            "_id": f"dead-letter-{letter.position}",
            "_source": {
                "kind": "dead_letter",
                "position": letter.position,
                "stream": letter.stream,
                "revision": letter.revision,
                "type": letter.event_type,
                "error": letter.error,
                "recorded_at": letter.recorded_at.isoformat(),
            },
        }


def read_checkpoint(client: Elasticsearch, meta: str) -> Checkpoint:
    try:
        found = client.get(index=meta, id=CHECKPOINT_ID)
    except NotFoundError:
        return Checkpoint(None, None)
    source = found["_source"]
    return Checkpoint(int(source["position"]), datetime.fromisoformat(source["updated_at"]))


def read_dead_letters(
    client: Elasticsearch, meta: str, *, limit: int, newest_first: bool
) -> list[DeadLetter]:
    found = client.search(
        index=meta,
        query=DEAD_LETTERS,
        sort=[{"position": "desc" if newest_first else "asc"}],
        size=limit,
    )
    return [
        DeadLetter(
            hit["_source"]["position"],
            hit["_source"]["stream"],
            hit["_source"]["revision"],
            hit["_source"]["type"],
            hit["_source"]["error"],
            datetime.fromisoformat(hit["_source"]["recorded_at"]),
        )
        for hit in found["hits"]["hits"]
    ]


def count_dead_letters(client: Elasticsearch, meta: str) -> int:
    return int(client.count(index=meta, query=DEAD_LETTERS)["count"])


def clear_dead_letters(client: Elasticsearch, meta: str, positions: Sequence[int]) -> None:
    for position in positions:
        try:
            client.delete(index=meta, id=f"dead-letter-{position}")
        except NotFoundError:
            continue  # cleared already
    client.indices.refresh(index=meta)
