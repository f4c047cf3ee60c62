"""Shipments of some items, refunds, returns and address changes: the rules, in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from order_service.domain.errors import (
    IdReusedError,
    InvalidOrderError,
    RuleBrokenError,
    TransitionNotAllowedError,
    UnknownPartError,
)
from order_service.domain.lifecycle import FinancialStatus, FulfillmentStatus, Quantity
from order_service.domain.order import Order, Status
from order_service.domain.values import Address
from tests.unit.test_order import cancelled, paid, placed

NEW_ADDRESS = Address("Ada", "2 High St", "Leeds", "LS1 1AA", "GB")


def ship_tea(order: Order, shipment_id: str = "box-1") -> None:
    order.ship_items(
        shipment_id=shipment_id,
        carrier="DHL",
        tracking_number=f"T-{shipment_id}",
        items=[Quantity("SKU-1", 2)],
    )


def fully_delivered() -> Order:
    order = paid()
    order.ship_items(shipment_id="box-1", carrier="DHL", tracking_number="T1")
    order.deliver_shipment(shipment_id="box-1")
    return order


def test_shipping_some_items_leaves_the_order_partially_shipped() -> None:
    order = paid()
    ship_tea(order)
    assert order.status is Status.PARTIALLY_SHIPPED
    assert order.fulfillment_status is FulfillmentStatus.PARTIALLY_FULFILLED
    assert order.unshipped() == (Quantity("SKU-2", 1),)


def test_the_last_shipment_ships_the_order_and_delivering_each_delivers_it() -> None:
    order = paid()
    ship_tea(order)
    order.ship_items(shipment_id="box-2", carrier="UPS", tracking_number="U1")
    assert order.status is Status.SHIPPED
    assert order.fulfillment_status is FulfillmentStatus.FULFILLED
    assert order.shipments["box-2"].items == (Quantity("SKU-2", 1),)
    order.deliver_shipment(shipment_id="box-1")
    assert order.status is Status.SHIPPED
    order.deliver_shipment(shipment_id="box-2")
    assert order.status is Status.DELIVERED


def test_a_shipment_cannot_hold_more_than_is_left_to_ship() -> None:
    order = paid()
    ship_tea(order)
    with pytest.raises(RuleBrokenError) as refused:
        order.ship_items(
            shipment_id="box-2", carrier="DHL", tracking_number="T2", items=[Quantity("SKU-1", 1)]
        )
    assert refused.value.rule == "shipment-within-ordered"
    assert str(refused.value) == "shipment of 1 x SKU-1 exceeds the 0 not yet shipped"


def test_the_same_shipment_again_changes_nothing_and_another_body_is_refused() -> None:
    order = paid()
    ship_tea(order)
    order.collect_events()
    ship_tea(order)
    assert order.collect_events() == []
    with pytest.raises(IdReusedError):
        order.ship_items(shipment_id="box-1", carrier="UPS", tracking_number="other")


def test_legacy_deliver_delivers_every_shipment_not_yet_delivered() -> None:
    order = paid()
    ship_tea(order)
    order.ship_items(shipment_id="box-2", carrier="UPS", tracking_number="U1")
    order.collect_events()
    order.deliver()
    events = order.collect_events()
    assert [type(event) for event in events] == [Order.Delivered, Order.Delivered]
    assert order.status is Status.DELIVERED


def test_legacy_ship_answers_its_shipment_id() -> None:
    order = paid()
    assert order.ship(carrier="DHL", tracking_number="T1") == "shipment-1"
    assert order.ship(carrier="DHL", tracking_number="T1") == "shipment-1"
    assert order.status is Status.SHIPPED


def test_delivering_an_unknown_shipment_names_it() -> None:
    order = paid()
    with pytest.raises(UnknownPartError):
        order.deliver_shipment(shipment_id="nope")


def test_cancel_is_refused_once_anything_has_shipped() -> None:
    order = paid()
    ship_tea(order)
    with pytest.raises(TransitionNotAllowedError):
        order.cancel(reason="too late")


def test_a_cancelled_paid_order_owes_its_refund_until_refunds_cover_it() -> None:
    order = paid()
    order.cancel(reason="changed my mind")
    assert order.refund_due == 2100
    order.refund(refund_id="r1", amount=1000, reason="cancelled")
    assert order.refund_due == 1100
    assert order.financial_status is FinancialStatus.PARTIALLY_REFUNDED
    order.refund(refund_id="r2", amount=1100, reason="cancelled")
    assert order.refund_due == 0
    assert order.financial_status is FinancialStatus.REFUNDED


def test_a_cancelled_unpaid_order_owes_nothing_and_cannot_be_refunded() -> None:
    order = cancelled()
    assert order.refund_due == 0
    assert order.financial_status is FinancialStatus.UNPAID
    with pytest.raises(RuleBrokenError) as refused:
        order.refund(refund_id="r1", amount=100, reason="goodwill")
    assert refused.value.rule == "refund-after-payment"


def test_refunds_never_add_up_to_more_than_was_paid() -> None:
    order = paid()
    order.refund(refund_id="r1", amount=100, reason="late")
    with pytest.raises(RuleBrokenError) as refused:
        order.refund(refund_id="r2", amount=3000, reason="more")
    assert str(refused.value) == "refund of 30.00 EUR exceeds the 20.00 EUR not yet refunded"
    assert refused.value.numbers["refundable"] == 2000


def test_the_same_refund_again_changes_nothing_and_another_amount_is_refused() -> None:
    order = paid()
    order.refund(refund_id="r1", amount=100, reason="late")
    order.collect_events()
    order.refund(refund_id="r1", amount=100, reason="late")
    assert order.collect_events() == []
    with pytest.raises(IdReusedError):
        order.refund(refund_id="r1", amount=200, reason="late")


def test_a_refund_reports_every_invalid_field_at_once() -> None:
    order = paid()
    with pytest.raises(InvalidOrderError) as refused:
        order.refund(refund_id="bad id!", amount=0, reason=" ", items=[Quantity("SKU-404", 0)])
    fields = {field for field, _ in refused.value.errors}
    assert fields == {"refund_id", "amount", "reason", "items.0.sku", "items.0.quantity"}


def test_returns_are_only_of_delivered_items_and_never_more_than_delivered() -> None:
    order = paid()
    ship_tea(order)
    with pytest.raises(RuleBrokenError) as refused:
        order.request_return(return_id="ret-1", items=[Quantity("SKU-1", 1)], reason="broken")
    assert refused.value.rule == "return-within-delivered"
    order.deliver_shipment(shipment_id="box-1")
    order.request_return(return_id="ret-1", items=[Quantity("SKU-1", 1)], reason="broken")
    with pytest.raises(RuleBrokenError) as again:
        order.request_return(return_id="ret-2", items=[Quantity("SKU-1", 2)], reason="broken")
    assert str(again.value) == "return of 2 x SKU-1 exceeds the 1 delivered and not yet returned"


def test_a_return_is_requested_then_received() -> None:
    order = fully_delivered()
    order.request_return(return_id="ret-1", items=[Quantity("SKU-2", 1)], reason="dented")
    assert order.returns["ret-1"].state == "requested"
    order.receive_return(return_id="ret-1")
    order.receive_return(return_id="ret-1")
    assert order.returns["ret-1"].state == "received"
    with pytest.raises(UnknownPartError):
        order.receive_return(return_id="ret-9")


def test_the_shipping_address_changes_only_before_the_first_shipment() -> None:
    order = paid()
    order.change_shipping_address(address=NEW_ADDRESS)
    assert order.shipping_address == NEW_ADDRESS
    ship_tea(order)
    with pytest.raises(TransitionNotAllowedError):
        order.change_shipping_address(address=Address("Ada", "3 Low St", "York", "Y1", "GB"))


def test_an_unpaid_order_ships_nothing() -> None:
    order = placed()
    with pytest.raises(TransitionNotAllowedError):
        ship_tea(order)


def test_a_snapshot_carries_the_whole_lifecycle_state() -> None:
    order = fully_delivered()
    order.request_return(return_id="ret-1", items=[Quantity("SKU-1", 1)], reason="broken")
    order.refund(refund_id="r1", amount=450, reason="returned", items=[Quantity("SKU-1", 1)])
    order.collect_events()
    restored = Order.from_snapshot(order.id, order.version, order.snapshot_state())
    assert restored.snapshot_state() == order.snapshot_state()
    assert vars(restored) == vars(order)


def test_delivery_is_not_before_its_shipment() -> None:
    order = paid()
    ship_tea(order)
    with pytest.raises(InvalidOrderError):
        order.deliver_shipment(
            shipment_id="box-1", delivered_at=datetime.now(UTC) - timedelta(days=1)
        )
