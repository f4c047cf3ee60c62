"""The Order aggregate's lifecycle and rules, in the domain's own words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from order_service.domain.errors import InvalidOrderError, TransitionNotAllowedError
from order_service.domain.order import Order, Status
from order_service.domain.values import Address, Customer, LineItem
from tests.factories import new_order_id


def placed(**overrides: Any) -> Order:
    arguments: dict[str, Any] = {
        "order_id": new_order_id(),
        "customer": Customer("cust-1", "Ada Lovelace", "Ada@Example.com"),
        "items": [LineItem("SKU-1", "Tea", 2, 450), LineItem("SKU-2", "Mug", 1, 1200)],
        "currency": "EUR",
        "shipping_address": Address("Ada", "1 Main St", "London", "N1 9GU", "gb"),
    }
    return Order.place(**{**arguments, **overrides})


def paid() -> Order:
    order = placed()
    order.pay(amount=2100, currency="EUR", method="card", transaction_id="tx-1")
    return order


def shipped() -> Order:
    order = paid()
    order.ship(carrier="DHL", tracking_number="JD0001")
    return order


def delivered() -> Order:
    order = shipped()
    order.deliver()
    return order


def cancelled() -> Order:
    order = placed()
    order.cancel(reason="changed my mind")
    return order


def pay(order: Order) -> None:
    order.pay(amount=order.total, currency=order.currency, method="card", transaction_id="tx-9")


def ship(order: Order) -> None:
    order.ship(carrier="UPS", tracking_number="1Z999")


def deliver(order: Order) -> None:
    order.deliver()


def cancel(order: Order) -> None:
    order.cancel(reason="fraud suspected")


def test_placing_an_order_records_its_total_in_minor_units() -> None:
    order = placed()

    assert order.status is Status.PLACED
    assert order.total == 2 * 450 + 1200
    assert order.version == 0
    assert order.customer.email == "ada@example.com"
    assert order.shipping_address.country == "GB"
    assert [type(event).__name__ for event in order.collect_events()] == ["Placed"]


def test_an_order_goes_from_placed_to_delivered() -> None:
    order = delivered()

    assert order.status is Status.DELIVERED
    assert order.version == 3
    assert set(order.transitions) == {"placed_at", "paid_at", "shipped_at", "delivered_at"}


@pytest.mark.parametrize(
    ("make", "command", "status"),
    [
        (placed, pay, Status.PAID),
        (placed, cancel, Status.CANCELLED),
        (paid, ship, Status.SHIPPED),
        (paid, cancel, Status.CANCELLED),
        (shipped, deliver, Status.DELIVERED),
    ],
)
def test_allowed_transitions(make: Any, command: Any, status: Status) -> None:
    order = make()

    command(order)

    assert order.status is status


@pytest.mark.parametrize(
    ("make", "command"),
    [
        (placed, ship),
        (placed, deliver),
        (paid, pay),
        (paid, deliver),
        (shipped, pay),
        (shipped, ship),
        (shipped, cancel),
        (delivered, pay),
        (delivered, ship),
        (delivered, cancel),
        (cancelled, pay),
        (cancelled, ship),
        (cancelled, deliver),
    ],
)
def test_refused_transitions_say_the_current_status(make: Any, command: Any) -> None:
    order = make()
    status = order.status

    with pytest.raises(TransitionNotAllowedError) as refused:
        command(order)

    assert refused.value.status == status
    assert order.status is status


def test_cannot_ship_an_unpaid_order() -> None:
    with pytest.raises(TransitionNotAllowedError, match="cannot ship an order that is placed"):
        ship(placed())


def test_repeating_a_command_that_changes_nothing_is_a_no_op() -> None:
    order = shipped()
    order.collect_events()

    order.ship(carrier="DHL", tracking_number="JD0001")

    assert order.collect_events() == []
    assert order.version == 2


def test_repeating_a_payment_is_a_no_op_but_a_different_one_is_refused() -> None:
    order = paid()
    order.collect_events()

    order.pay(amount=2100, currency="EUR", method="card", transaction_id="tx-1")
    assert order.collect_events() == []
    with pytest.raises(TransitionNotAllowedError):
        order.pay(amount=2100, currency="EUR", method="card", transaction_id="tx-2")


def test_cancelling_twice_and_delivering_twice_change_nothing() -> None:
    for order, command in ((cancelled(), cancel), (delivered(), deliver)):
        version = order.version
        command(order)
        assert order.version == version


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [(2099, "EUR", "amount"), (2100, "USD", "currency"), (2100, "EURO", "currency")],
)
def test_a_payment_must_match_the_total_and_currency(
    amount: int, currency: str, field: str
) -> None:
    order = placed()

    with pytest.raises(InvalidOrderError) as refused:
        order.pay(amount=amount, currency=currency, method="card", transaction_id="tx")

    assert refused.value.field == field
    assert order.status is Status.PLACED


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [LineItem("S", "N", 1, 1)] * 501}, "items"),
        ({"items": [LineItem("S", "N", 0, 100)]}, "items.0.quantity"),
        ({"items": [LineItem("S", "N", 1, 100), LineItem("S", "N", 1, -1)]}, "items.1.unit_price"),
        ({"items": [LineItem("", "N", 1, 100)]}, "items.0.sku"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "ABC"}, "currency"),
        ({"order_id": "has space"}, "order_id"),
    ],
)
def test_placing_refuses_broken_rules_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidOrderError) as refused:
        placed(**overrides)

    assert refused.value.field == field


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Customer("c", "Ada", "not-an-email"), "customer.email"),
        (lambda: Customer("c", " ", "a@b.co"), "customer.name"),
        (lambda: Address("A", "l", "c", "p", "GBR"), "shipping_address.country"),
        (lambda: Address("A", "", "c", "p", "GB"), "shipping_address.line1"),
        (lambda: Customer("c", "Ada\x00Lovelace", "a@b.co"), "customer.name"),
        (lambda: Address("A", "1 High St\x1b[2J", "c", "p", "GB"), "shipping_address.line1"),
        (lambda: LineItem("TE\x1fA", "Tea", 1, 100).validated(0), "items.0.sku"),
    ],
)
def test_value_objects_validate_themselves(make: Any, field: str) -> None:
    with pytest.raises(InvalidOrderError) as refused:
        make()

    assert refused.value.field == field


def test_text_may_hold_any_printable_character() -> None:
    customer = Customer("c", "Zoë O'Brien-Łukasz \u00a0\u200b", "zoe@example.com")

    assert customer.name == "Zoë O'Brien-Łukasz \u00a0\u200b".strip()


def test_delivery_cannot_be_dated_before_shipping_or_in_the_future() -> None:
    order = shipped()

    with pytest.raises(InvalidOrderError, match="before"):
        order.deliver(delivered_at=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidOrderError, match="future"):
        order.deliver(delivered_at=datetime.now(UTC) + timedelta(days=1))
    order.deliver(delivered_at=datetime.now(UTC))
    assert order.status is Status.DELIVERED


def test_money_beyond_what_json_readers_hold_exactly_is_refused() -> None:
    with pytest.raises(InvalidOrderError, match="minor units"):
        placed(items=[LineItem("S", "N", 1_000_000, 2**52)])


@pytest.mark.parametrize("make", [placed, paid, shipped, delivered, cancelled])
def test_customer_service_can_add_a_note_in_every_status(make: Any) -> None:
    order = make()
    status, version = order.status, order.version

    order.add_note(author="agent-7", text="Customer called about the delivery window.")

    assert order.status is status
    assert order.version == version + 1
    assert order.note_count == 1


def test_an_empty_note_is_refused() -> None:
    with pytest.raises(InvalidOrderError) as refused:
        placed().add_note(author="agent-7", text="   ")

    assert refused.value.field == "text"
