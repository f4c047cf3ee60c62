"""Aggregates are exactly right under replays, retries and restarts: random lifecycles, fed in
random batches with duplicates and restarts from an older checkpoint, against a fold of the
same events computed here independently (per event, not per order document)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_service.eventstore.port import RecordedEvent
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.personal.codec import PersonalData
from projectors import customer_orders, daily_sales
from projectors.read_models.elasticsearch_documents import (
    ElasticsearchDocumentGenerations,
    ElasticsearchDocuments,
)
from projectors.read_models.sqlite_documents import SQLiteDocuments
from projectors.runner import changes_for
from tests.projector.test_kill_and_resume import KILLS, wait_for_checkpoint
from tests.projector.test_projector import seed
from tests.servers import free_port

START = datetime(2026, 1, 1, tzinfo=UTC)
STEPS = {"pay": "OrderPaid", "cancel": "OrderCancelled", "ship": "OrderShipped"}


@st.composite
def lifecycle(draw: st.DrawFn) -> tuple[str, str, int, list[tuple[str, int]]]:
    """An order: currency, customer, total, then steps each with an hour offset."""
    currency = draw(st.sampled_from(["EUR", "USD"]))
    customer = draw(st.sampled_from(["c1", "c2", "c3"]))
    total = draw(st.integers(min_value=1, max_value=100_000))
    steps = draw(st.lists(st.sampled_from(sorted(STEPS)), max_size=2, unique=True))
    hours = draw(st.lists(st.integers(0, 24 * 5), min_size=len(steps) + 1, max_size=len(steps) + 1))
    return (
        currency,
        customer,
        total,
        [*zip(steps, sorted(hours)[1:], strict=False), ("place", sorted(hours)[0])],
    )


def events_of(orders: list[tuple[str, str, int, list[tuple[str, int]]]]) -> list[RecordedEvent]:
    streams = []
    for currency, customer, total, steps in orders:
        order_id = uuid.uuid4().hex
        *after, (_, placed_hour) = steps
        placed_at = START + timedelta(hours=placed_hour)
        stream = [
            (
                "OrderPlaced",
                {
                    "order_id": order_id,
                    "customer": {"id": customer, "name": "A", "email": "a@example.com"},
                    "items": [{"sku": "S", "name": "Tea", "quantity": 1, "unit_price": total}],
                    "currency": currency,
                    "total": total,
                    "shipping_address": {
                        "name": "A",
                        "line1": "1 St",
                        "city": "C",
                        "postal_code": "1",
                        "country": "GB",
                    },
                    "placed_at": placed_at.isoformat(),
                },
                placed_at,
            )
        ]
        for step, hour in after:
            at = START + timedelta(hours=hour)
            data: dict[str, object] = {"order_id": order_id}
            if step == "pay":
                data |= {
                    "amount": total,
                    "currency": currency,
                    "method": "card",
                    "transaction_id": f"tx-{order_id}",
                    "paid_at": at.isoformat(),
                }
            elif step == "cancel":
                data |= {"reason": "asked", "cancelled_at": at.isoformat()}
            else:
                data |= {"carrier": "DHL", "tracking_number": "T", "shipped_at": at.isoformat()}
            stream.append((STEPS[step], data, at))
        streams.append((order_id, stream))
    # Interleave the streams, keeping each stream's order, as the log would.
    log: list[RecordedEvent] = []
    cursors = [0] * len(streams)
    while any(cursor < len(stream) for cursor, (_, stream) in zip(cursors, streams, strict=True)):
        for number, (order_id, stream) in enumerate(streams):
            if cursors[number] < len(stream):
                kind, data, at = stream[cursors[number]]
                version = 2 if kind == "OrderPlaced" else 1
                log.append(
                    RecordedEvent(
                        stream=f"order-{order_id}",
                        revision=cursors[number],
                        position=len(log) + 1,
                        id=uuid.uuid4(),
                        type=kind,
                        data=orjson.dumps(data),
                        metadata=orjson.dumps({"schema_version": version}),
                        recorded_at=at,
                    )
                )
                cursors[number] += 1
    return log


def expected_rows(log: list[RecordedEvent]) -> list[dict[str, object]]:
    """Straight from the events: each counted once by (stream, revision)."""
    rows: dict[tuple[str, str], Counter[str]] = {}
    currency_of: dict[str, str] = {}
    for event in {(e.stream, e.revision): e for e in log}.values():
        data = orjson.loads(event.data)
        if event.type == "OrderPlaced":
            currency_of[event.stream] = data["currency"]
    for event in log:
        data = orjson.loads(event.data)
        currency = currency_of[event.stream]
        if event.type == "OrderPlaced":
            row = rows.setdefault((data["placed_at"][:10], currency), Counter())
            row.update({"orders_placed": 1, "placed_total": data["total"]})
        elif event.type == "OrderPaid":
            row = rows.setdefault((data["paid_at"][:10], currency), Counter())
            row.update({"orders_paid": 1, "paid_total": data["amount"]})
        elif event.type == "OrderCancelled":
            row = rows.setdefault((data["cancelled_at"][:10], currency), Counter())
            row.update({"orders_cancelled": 1})
    return [
        {"day": day, "currency": currency, **{f: counts[f] for f in daily_sales.FIELDS}}
        for (day, currency), counts in sorted(rows.items())
    ]


Orders = list[tuple[str, str, int, list[tuple[str, int]]]]
Stores = dict[str, SQLiteDocuments | ElasticsearchDocuments]


def lifecycles(*, smallest_batch: int = 1) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "orders": st.lists(lifecycle(), min_size=1, max_size=12),
        "cuts": st.lists(
            st.integers(min_value=smallest_batch, max_value=40), min_size=1, max_size=6
        ),
        "restarts": st.lists(st.integers(min_value=0, max_value=40), max_size=3),
        "duplicates": st.lists(st.integers(min_value=0, max_value=40), max_size=5),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**lifecycles())
def test_day_rows_equal_an_independent_fold(
    orders: Orders, cuts: list[int], restarts: list[int], duplicates: list[int]
) -> None:
    with TemporaryDirectory() as directory:
        stores: Stores = {
            module.NAME: SQLiteDocuments(
                Path(directory) / "read.db", module.PROJECTION, module.SQLITE
            )
            for module in (daily_sales, customer_orders)
        }
        try:
            check(stores, orders, cuts, restarts, duplicates)
        finally:
            for store in stores.values():
                store.close()


@pytest.mark.elasticsearch
@pytest.mark.slow
# A few examples, in batches of 4 events or more: on Elasticsearch each write is a bulk and
# a checkpoint (about 0.25 s on shared cores), and each example creates its own indices.
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**lifecycles(smallest_batch=4))
def test_day_rows_equal_an_independent_fold_on_elasticsearch(
    elasticsearch_url: str,
    orders: Orders,
    cuts: list[int],
    restarts: list[int],
    duplicates: list[int],
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    generations = {
        module.NAME: ElasticsearchDocumentGenerations(
            elasticsearch_url, module.PROJECTION, module.ELASTICSEARCH, prefix=prefix, replicas=0
        )
        for module in (daily_sales, customer_orders)
    }
    stores: Stores = {name: found.open("g1") for name, found in generations.items()}
    try:
        check(stores, orders, cuts, restarts, duplicates)
    finally:
        generations[daily_sales.NAME].client.indices.delete(index=f"{prefix}-*")
        for found in generations.values():
            found.close()


def check(
    stores: Stores, orders: Orders, cuts: list[int], restarts: list[int], duplicates: list[int]
) -> None:
    """Feed the lifecycles to both stores in batches, with duplicates and restarts, then
    compare every day row and customer total with the independent fold."""
    log = events_of(orders)
    # Deliveries: the log in batches; a duplicate re-delivers an event right after itself;
    # a restart goes back to an earlier position and replays everything from there.
    delivered: list[RecordedEvent] = []
    for number, event in enumerate(log):
        delivered.append(event)
        if number in duplicates:
            delivered.append(event)
        if number in restarts:
            delivered.extend(log[: number + 1])
    personal = PersonalData(None)
    for store in stores.values():
        store.setup()
    start, cut = 0, 0
    while start < len(delivered):
        size = cuts[cut % len(cuts)]
        cut += 1
        batch = delivered[start : start + size]
        start += size
        for store in stores.values():
            store.write(
                changes_for(
                    batch,
                    store.documents,
                    personal,
                    searchable=start >= len(delivered),  # the last batch: live, visible
                    projection=store.projection,
                )
            )
    rows = stores[daily_sales.NAME].sums(equal={})
    assert rows == expected_rows(log)
    for customer in ("c1", "c2", "c3"):
        mine = [o for o in orders if o[1] == customer]
        document = customer_orders.customer(
            customer, stores[customer_orders.NAME].find("customer_id", customer)
        )
        if not mine:
            assert document is None
            continue
        assert document is not None
        assert len(document["orders"]) == len(mine)
        for currency in ("EUR", "USD"):
            theirs = [o for o in mine if o[0] == currency]
            spent = sum(o[2] for o in theirs if "pay" in {s for s, _ in o[3]})
            if theirs:
                assert document["totals"][currency] == {
                    "orders": len(theirs),
                    "spent": spent,
                    "refunded": 0,
                }


def start_projector(env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "order_service.cli", "project", daily_sales.NAME],
        env={**os.environ, **env, "ORDERS_PORT": str(free_port()), "ORDERS_LOG_LEVEL": "warning"},
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.elasticsearch
def test_a_projector_killed_mid_stream_ends_with_exact_day_rows_on_elasticsearch(
    tmp_path: Path, elasticsearch_url: str
) -> None:
    """No transaction holds documents and checkpoint together on Elasticsearch: a real
    ``orders project daily-sales`` process killed with SIGKILL again and again still ends
    with every day row exact, since the replay from the older checkpoint rewrites the same
    documents and the rows are added up from them."""
    store = SQLiteEventStore(tmp_path / "events.db")
    seed(store, 200)
    log = store.read_all(after=None, limit=1_000_000, stream_prefix="order-")
    end = log[-1].position
    prefix = f"k{uuid.uuid4().hex[:10]}"
    env = {
        "ORDERS_EVENT_STORE": f"sqlite:///{tmp_path / 'events.db'}",
        "ORDERS_READ_MODEL": elasticsearch_url,
        "ORDERS_ES_INDEX_PREFIX": prefix,
        "ORDERS_ES_REPLICAS": "0",
        "ORDERS_PROJECTION_BATCH_SIZE": "10",
    }
    generations = ElasticsearchDocumentGenerations(
        elasticsearch_url,
        daily_sales.PROJECTION,
        daily_sales.ELASTICSEARCH,
        prefix=prefix,
        replicas=0,
    )
    generations.setup()  # its shards are ready before the checkpoint is watched
    sales = generations.open(generations.active())
    assert isinstance(sales, ElasticsearchDocuments)
    try:
        killed_at = []
        for fraction in KILLS:
            projector = start_projector(env, tmp_path)
            killed_at.append(wait_for_checkpoint(sales, int(end * fraction)))
            projector.send_signal(signal.SIGKILL)
            projector.wait(timeout=30)
        projector = start_projector(env, tmp_path)
        wait_for_checkpoint(sales, end)
        projector.send_signal(signal.SIGINT)
        projector.wait(timeout=30)

        assert killed_at[0] < end, "the first kill must land mid-stream"
        sales.client.indices.refresh(index=sales.table)
        assert sales.sums(equal={}) == expected_rows(log)
        assert sales.count() == 200
        assert sales.dead_letter_count() == 0
    finally:
        sales.client.indices.delete(index=f"{prefix}-*")
        generations.close()
        store.close()
