"""A bumped schema version: the new code builds its own tables beside the older read model,
reads keep answering from the older one until the new one is live, then move; no crash."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from order_service.eventstore.port import RecordedEvent
from order_service.personal.codec import PersonalData
from projectors import daily_sales
from projectors.read_models.sqlite_documents import SQLiteDocuments
from projectors.runner import changes_for

DAY = "2026-03-04"


def placed(position: int, total: int) -> RecordedEvent:
    order_id = uuid.uuid4().hex
    data = {
        "order_id": order_id,
        "customer": {"id": "c"},
        "currency": "EUR",
        "total": total,
        "placed_at": f"{DAY}T10:00:00+00:00",
    }
    return RecordedEvent(
        stream=f"order-{order_id}",
        revision=0,
        position=position,
        id=uuid.uuid4(),
        type="OrderPlaced",
        data=orjson.dumps(data),
        metadata=orjson.dumps({"schema_version": 2}),
        recorded_at=datetime.now(UTC),
    )


def project(store: SQLiteDocuments, events: list[RecordedEvent], *, live: bool) -> None:
    store.write(
        changes_for(
            events,
            store.documents,
            PersonalData(None),
            searchable=live,
            projection=store.projection,
        )
    )


def placed_total(store: SQLiteDocuments) -> int:
    rows = store.sums(where={"day": (DAY, "2026-03-05")}, equal={})
    return sum(row["placed_total"] for row in rows)


def test_a_bumped_version_builds_beside_and_moves_reads_once_live(tmp_path: Path) -> None:
    path = tmp_path / "read.db"
    log = [placed(1, 100), placed(2, 250), placed(3, 50)]
    previous = SQLiteDocuments(path, daily_sales.PROJECTION, daily_sales.SQLITE)
    previous.setup()
    project(previous, log[:2], live=True)  # the read model as the previous version left it
    previous.close()

    bumped = dataclasses.replace(daily_sales.PROJECTION, schema_version=2)
    upgraded = SQLiteDocuments(path, bumped, daily_sales.SQLITE, serving_ttl_s=0)
    upgraded.setup()  # no crash on the older read model
    assert upgraded.checkpoint().position is None  # v2 starts from the beginning of the log
    assert upgraded.generation == "v1"  # reads stay on the live v1 tables
    assert placed_total(upgraded) == 350
    assert upgraded.checkpoint_of(upgraded.generation).position == 2

    project(upgraded, log[:2], live=False)  # catching up: not live yet
    assert upgraded.generation == "v1"
    project(upgraded, log[2:], live=True)
    assert upgraded.generation == "v2"
    assert placed_total(upgraded) == 400
    assert upgraded.versions() == {1: True, 2: True}
    upgraded.close()
