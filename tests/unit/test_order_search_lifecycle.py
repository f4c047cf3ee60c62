"""The order-search document follows shipments, deliveries, refunds, returns and address
changes as the aggregate does; documents of the fixture log written before them fold too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from order_service.domain.lifecycle import Quantity
from order_service.domain.order import Order
from order_service.domain.values import Address
from order_service.events import Causation, to_new_event
from order_service.eventstore.port import RecordedEvent
from order_service.personal.codec import PLAIN
from projectors.order_search import fold
from tests.unit.test_order import paid
from tests.unit.test_upcasting_fixture import fixture_events


def recorded(order: Order) -> list[RecordedEvent]:
    stored = []
    for revision, event in enumerate(order.collect_events()):
        new = to_new_event(event, Causation("t", "t"), revision)
        stored.append(
            RecordedEvent(
                stream=f"order-{order.id}",
                revision=revision,
                position=revision + 1,
                id=uuid.uuid4(),
                type=new.type,
                data=new.data,
                metadata=new.metadata,
                recorded_at=datetime.now(UTC),
            )
        )
    return stored


def test_the_document_agrees_with_the_aggregate_through_the_lifecycle() -> None:
    order = paid()
    order.change_shipping_address(address=Address("Ada", "2 High St", "Leeds", "LS1", "GB"))
    order.ship_items(
        shipment_id="box-1", carrier="DHL", tracking_number="T1", items=[Quantity("SKU-1", 2)]
    )
    order.deliver_shipment(shipment_id="box-1")
    order.request_return(return_id="ret-1", items=[Quantity("SKU-1", 1)], reason="broken")
    order.receive_return(return_id="ret-1")
    order.refund(refund_id="r1", amount=450, reason="returned")

    document = fold(recorded(order), PLAIN)

    assert document is not None
    assert document["status"] == order.status == "partially_shipped"
    assert document["financial_status"] == order.financial_status == "partially_refunded"
    assert document["fulfillment_status"] == order.fulfillment_status
    assert (document["refunded"], document["refund_due"]) == (450, 0)
    assert document["shipping_address"]["city"] == "Leeds"
    (shipment,) = document["shipments"]
    assert shipment["items"] == [{"sku": "SKU-1", "quantity": 2}]
    assert shipment["delivered_at"] is not None
    assert document["returns"][0]["state"] == "received"


def test_a_cancelled_paid_order_shows_its_refund_due() -> None:
    order = paid()
    order.cancel(reason="changed my mind")
    document = fold(recorded(order), PLAIN)
    assert document is not None
    assert (document["status"], document["refund_due"]) == ("cancelled", 2100)


def test_the_fixture_log_folds_to_documents_with_one_shipment_of_every_item() -> None:
    stream = [event for event in fixture_events() if event.stream == "order-legacy-delivered"]
    document = fold(stream, PLAIN)
    assert document is not None
    assert document["status"] == "delivered"
    assert document["fulfillment_status"] == "fulfilled"
    (shipment,) = document["shipments"]
    assert shipment["shipment_id"] == "shipment-1"
    assert shipment["items"] == [
        {"sku": "SKU-TEA", "quantity": 2},
        {"sku": "SKU-MUG", "quantity": 1},
    ]
    assert document["delivered_at"] == "2026-11-03T09:00:00.000000Z"
