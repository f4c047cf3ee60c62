"""The Order aggregate: its lifecycle, its rules and the events that record its decisions.

The aggregate and its events are built on ``eventsourcing.domain`` (``BaseAggregate`` with
string ids, events as frozen dataclasses nested in the aggregate, each paired with the
``apply`` that evolves state, ``trigger_event``/``collect_events``, and the library's
``class_version`` + ``upcast_vN_vN+1`` convention for event schemas). We do not use the
library's application, mapper or recorders: the contract fixes a storage layout they do not
write (stream ``order-<id>`` with 0-based revisions, PascalCase type names independent of
module paths, plain JSON data, ``$correlationId``/``$causationId`` metadata, identical on
SQLite and EventStoreDB). So ``order_service.events`` maps these events to that layout and
``order_service.repository`` loads and saves aggregates through our ``EventStore`` port.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate

from order_service.domain import values
from order_service.domain.currencies import is_currency
from order_service.domain.errors import InvalidOrderError, TransitionNotAllowedError
from order_service.domain.values import Address, Customer, LineItem, primitives

CLOCK_SKEW = timedelta(minutes=5)


class Status(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


FINAL = frozenset({Status.DELIVERED, Status.CANCELLED})


class Order(BaseAggregate[str]):
    """One customer's order, from placement to delivery or cancellation."""

    INITIAL_VERSION = 0  # revisions are 0-based, as in EventStoreDB

    @dataclass(frozen=True)
    class Event(CanMutateAggregate[str]):
        """An order event; ``TYPE`` is its stable name in the log, ``AT`` its time field."""

        TYPE: ClassVar[str] = ""
        AT: ClassVar[str] = ""
        class_version: ClassVar[int] = 1

        originator_id: str
        originator_version: int
        timestamp: datetime

    @dataclass(frozen=True)
    class Placed(Event, CanInitAggregate[str]):
        TYPE = "OrderPlaced"
        AT = "placed_at"
        class_version = 2

        originator_topic: str
        customer: Customer
        items: tuple[LineItem, ...]
        currency: str
        total: int
        shipping_address: Address

        @staticmethod
        def upcast_v1_v2(data: dict[str, Any]) -> None:
            """Version 1 did not record the total; it is the sum of the line subtotals."""
            data["total"] = sum(item["quantity"] * item["unit_price"] for item in data["items"])

        def apply(self, order: Order) -> None:
            order.status = Status.PLACED
            order.customer = self.customer
            order.items = self.items
            order.currency = self.currency
            order.total = self.total
            order.shipping_address = self.shipping_address
            order.placed_at = self.timestamp
            order.payment = None
            order.shipment = None
            order.cancel_reason = None
            order.transitions = {"placed_at": self.timestamp}

    @dataclass(frozen=True)
    class Paid(Event):
        TYPE = "OrderPaid"
        AT = "paid_at"

        amount: int
        currency: str
        method: str
        transaction_id: str

        def apply(self, order: Order) -> None:
            order.status = Status.PAID
            order.payment = Payment(self.amount, self.currency, self.method, self.transaction_id)
            order.transitions["paid_at"] = self.timestamp

    @dataclass(frozen=True)
    class Shipped(Event):
        TYPE = "OrderShipped"
        AT = "shipped_at"

        carrier: str
        tracking_number: str

        def apply(self, order: Order) -> None:
            order.status = Status.SHIPPED
            order.shipment = Shipment(self.carrier, self.tracking_number)
            order.transitions["shipped_at"] = self.timestamp

    @dataclass(frozen=True)
    class Delivered(Event):
        TYPE = "OrderDelivered"
        AT = "delivered_at"

        def apply(self, order: Order) -> None:
            order.status = Status.DELIVERED
            order.transitions["delivered_at"] = self.timestamp

    @dataclass(frozen=True)
    class Cancelled(Event):
        TYPE = "OrderCancelled"
        AT = "cancelled_at"

        reason: str

        def apply(self, order: Order) -> None:
            order.status = Status.CANCELLED
            order.cancel_reason = self.reason
            order.transitions["cancelled_at"] = self.timestamp

    @dataclass(frozen=True)
    class NoteAdded(Event):
        """Customer service annotated the order; allowed in every status, final ones included."""

        TYPE = "OrderNoteAdded"
        AT = "added_at"

        author: str
        text: str

        def apply(self, order: Order) -> None:
            order.note_count += 1

    @dataclass(frozen=True)
    class PersonalDataErased(Event):
        """The customer's personal data was erased (their key deleted): the order keeps its
        id, items, money, statuses and times; names, e-mail, address and notes read as erased."""

        TYPE = "OrderPersonalDataErased"
        AT = "erased_at"

        customer_id: str

        def apply(self, order: Order) -> None:
            order.customer = Customer.erased(self.customer_id)
            order.shipping_address = Address.erased(order.shipping_address.country)
            if order.cancel_reason is not None:
                order.cancel_reason = values.ERASED
            order.personal_data_erased = True

    EVENTS: ClassVar[tuple[type[Event], ...]] = (
        Placed,
        Paid,
        Shipped,
        Delivered,
        Cancelled,
        NoteAdded,
        PersonalDataErased,
    )

    def __init__(self) -> None:
        # Called by the library before Placed.apply sets the real values; declared here so
        # the state's shape is visible in one place.
        self.status = Status.PLACED
        self.customer: Customer
        self.items: tuple[LineItem, ...] = ()
        self.currency = ""
        self.total = 0
        self.shipping_address: Address
        self.placed_at: datetime
        self.payment: Payment | None = None
        self.shipment: Shipment | None = None
        self.cancel_reason: str | None = None
        self.transitions: dict[str, datetime] = {}
        self.note_count = 0
        self.personal_data_erased = False

    # Commands. Each checks its rules, then triggers one event or, when it would change
    # nothing (the same payment, shipment or cancellation again), triggers none.

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        customer: Customer,
        items: list[LineItem],
        currency: str,
        shipping_address: Address,
        at: datetime | None = None,
    ) -> Order:
        check_items(items)
        check_currency("currency", currency)
        checked = tuple(item.validated(index) for index, item in enumerate(items))
        total = values.money("items", sum(item.subtotal for item in checked))
        return cls._create(
            cls.Placed,
            id=values.order_id(order_id),
            timestamp=at or now(),
            customer=customer,
            items=checked,
            currency=currency,
            total=total,
            shipping_address=shipping_address,
        )

    def pay(
        self,
        *,
        amount: int,
        currency: str,
        method: str,
        transaction_id: str,
        at: datetime | None = None,
    ) -> None:
        payment = Payment(
            values.money("amount", amount),
            currency,
            values.text("method", method, max_length=64),
            values.text("transaction_id", transaction_id, max_length=128),
        )
        if self.status is Status.PAID and self.payment == payment:
            return
        self.check_status("pay", Status.PLACED)
        self.check_payment_matches_total(payment)
        self.trigger_event(self.Paid, timestamp=at or now(), **primitives(payment))

    def ship(self, *, carrier: str, tracking_number: str, at: datetime | None = None) -> None:
        shipment = Shipment(
            values.text("carrier", carrier, max_length=64),
            values.text("tracking_number", tracking_number, max_length=64),
        )
        if self.status is Status.SHIPPED and self.shipment == shipment:
            return
        self.check_status("ship", Status.PAID)
        self.trigger_event(self.Shipped, timestamp=at or now(), **primitives(shipment))

    def deliver(self, *, delivered_at: datetime | None = None) -> None:
        if self.status is Status.DELIVERED:
            return
        self.check_status("deliver", Status.SHIPPED)
        at = self.check_delivery_time(delivered_at or now())
        self.trigger_event(self.Delivered, timestamp=at)

    def cancel(self, *, reason: str, at: datetime | None = None) -> None:
        if self.status is Status.CANCELLED:
            return
        self.check_status("cancel", Status.PLACED, Status.PAID)
        self.trigger_event(
            self.Cancelled,
            timestamp=at or now(),
            reason=values.text("reason", reason, max_length=500),
        )

    def add_note(self, *, author: str, text: str) -> None:
        self.trigger_event(
            self.NoteAdded,
            timestamp=now(),
            author=values.text("author", author, max_length=200),
            text=values.text("text", text, max_length=5000),
        )

    def erase_personal_data(self) -> None:
        """Allowed in every status; erasing an order already erased changes nothing."""
        if self.personal_data_erased:
            return
        self.trigger_event(self.PersonalDataErased, timestamp=now(), customer_id=self.customer.id)

    # Rules.

    def check_status(self, action: str, *allowed: Status) -> None:
        if self.status not in allowed:
            raise TransitionNotAllowedError(action, self.status)

    def check_payment_matches_total(self, payment: Payment) -> None:
        check_currency("currency", payment.currency)
        if payment.currency != self.currency:
            raise InvalidOrderError("currency", f"must be the order's currency, {self.currency}")
        if payment.amount != self.total:
            raise InvalidOrderError(
                "amount", f"must equal the order's total, {self.total} minor units"
            )

    def check_delivery_time(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise InvalidOrderError("delivered_at", "must include a time zone")
        at = at.astimezone(UTC)
        shipped_at = self.transitions["shipped_at"]
        if at < shipped_at:
            raise InvalidOrderError("delivered_at", "must not be before the order was shipped")
        if at > now() + CLOCK_SKEW:
            raise InvalidOrderError("delivered_at", "must not be in the future")
        return at

    # Snapshots: the state as primitives, so every event store keeps them as plain JSON.

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "customer": primitives(self.customer),
            "items": [primitives(item) for item in self.items],
            "currency": self.currency,
            "total": self.total,
            "shipping_address": primitives(self.shipping_address),
            "payment": primitives(self.payment) if self.payment else None,
            "shipment": primitives(self.shipment) if self.shipment else None,
            "cancel_reason": self.cancel_reason,
            "note_count": self.note_count,
            "personal_data_erased": self.personal_data_erased,
            "transitions": {name: iso(at) for name, at in self.transitions.items()},
            "created_on": iso(self.created_on),
            "modified_on": iso(self.modified_on),
        }

    @classmethod
    def from_snapshot(cls, order_id: str, version: int, state: dict[str, Any]) -> Order:
        order = cls.__new__(cls)
        order.__base_init__(order_id, version, parse_time(state["created_on"]))
        order.modified_on = parse_time(state["modified_on"])
        order.status = Status(state["status"])
        order.customer = Customer.from_primitives(state["customer"])
        order.items = values.items_from(state["items"])
        order.currency = state["currency"]
        order.total = state["total"]
        order.shipping_address = Address.from_primitives(state["shipping_address"])
        order.payment = Payment(**state["payment"]) if state["payment"] else None
        order.shipment = Shipment(**state["shipment"]) if state["shipment"] else None
        order.cancel_reason = state["cancel_reason"]
        order.note_count = state.get("note_count", 0)
        order.personal_data_erased = state.get("personal_data_erased", False)
        order.transitions = {k: parse_time(v) for k, v in state["transitions"].items()}
        order.placed_at = order.transitions["placed_at"]
        return order


@dataclass(frozen=True)
class Payment:
    amount: int
    currency: str
    method: str
    transaction_id: str


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_number: str


def check_items(items: list[LineItem]) -> None:
    if not 1 <= len(items) <= values.MAX_ITEMS:
        raise InvalidOrderError("items", f"must hold between 1 and {values.MAX_ITEMS} items")


def check_currency(field: str, currency: str) -> None:
    if not is_currency(currency):
        raise InvalidOrderError(field, "must be an ISO 4217 currency code such as EUR")


def now() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z, the one time format of the log."""
    # isoformat, not strftime (five times slower): every command writes a few of these.
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
