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

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate

from order_service.domain import lifecycle, values
from order_service.domain.currencies import IS_CURRENCY, is_currency
from order_service.domain.errors import (
    IdReusedError,
    InvalidOrderError,
    RuleBrokenError,
    TransitionNotAllowedError,
    UnknownPartError,
)
from order_service.domain.lifecycle import (
    FinancialStatus,
    FulfillmentStatus,
    Quantities,
    Quantity,
    Refund,
    Return,
    ReturnState,
    ShipmentRecord,
    shown,
)
from order_service.domain.values import Address, Customer, LineItem, primitives

CLOCK_SKEW = timedelta(minutes=5)
LEGACY_SHIPMENT = "shipment-1"
"""The id of the one shipment an ``OrderShipped`` of schema 1 recorded."""


class Status(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


FINAL = frozenset({Status.DELIVERED, Status.CANCELLED})
"""Statuses the lifecycle ends in (refunds and returns may still follow)."""


def _lines(raw: tuple[Quantity, ...] | None) -> list[dict[str, Any]] | None:
    return None if raw is None else [primitives(line) for line in raw]


class Order(BaseAggregate[str]):
    """One customer's order, from placement to delivery or cancellation, and what follows."""

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
            order.shipments = {}
            order.refunds = {}
            order.returns = {}
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
            order.payment = Payment(self.amount, self.currency, self.method, self.transaction_id)
            order.transitions["paid_at"] = self.timestamp
            order.status = order.derived_status()

    @dataclass(frozen=True)
    class Shipped(Event):
        """Some items left the warehouse in one shipment. Schema 1 had neither
        ``shipment_id`` nor ``items``: it was the one shipment of every item (``items``
        null, resolved against the order when applied)."""

        TYPE = "OrderShipped"
        AT = "shipped_at"
        class_version = 2

        shipment_id: str
        carrier: str
        tracking_number: str
        items: tuple[Quantity, ...] | None

        @staticmethod
        def upcast_v1_v2(data: dict[str, Any]) -> None:
            data["shipment_id"] = LEGACY_SHIPMENT
            data["items"] = None

        def apply(self, order: Order) -> None:
            items = order.unshipped() if self.items is None else self.items
            order.shipments[self.shipment_id] = ShipmentRecord(
                self.shipment_id, self.carrier, self.tracking_number, items, self.timestamp
            )
            order.transitions.setdefault("shipped_at", self.timestamp)
            order.status = order.derived_status()

    @dataclass(frozen=True)
    class Delivered(Event):
        """One shipment arrived. Schema 1 had no ``shipment_id``: the order's one shipment."""

        TYPE = "OrderDelivered"
        AT = "delivered_at"
        class_version = 2

        shipment_id: str

        @staticmethod
        def upcast_v1_v2(data: dict[str, Any]) -> None:
            data["shipment_id"] = LEGACY_SHIPMENT

        def apply(self, order: Order) -> None:
            shipment = order.shipments[self.shipment_id]
            order.shipments[self.shipment_id] = replace(shipment, delivered_at=self.timestamp)
            order.status = order.derived_status()
            if order.status is Status.DELIVERED:
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
    class ShippingAddressChanged(Event):
        """The address to ship to, changed before the first shipment (personal data)."""

        TYPE = "ShippingAddressChanged"
        AT = "changed_at"

        shipping_address: Address

        def apply(self, order: Order) -> None:
            order.shipping_address = self.shipping_address

    @dataclass(frozen=True)
    class Refunded(Event):
        TYPE = "OrderRefunded"
        AT = "refunded_at"

        refund_id: str
        amount: int
        currency: str
        reason: str
        items: tuple[Quantity, ...]

        def apply(self, order: Order) -> None:
            order.refunds[self.refund_id] = Refund(
                self.refund_id, self.amount, self.reason, self.items, self.timestamp
            )

    @dataclass(frozen=True)
    class ReturnRequested(Event):
        TYPE = "ReturnRequested"
        AT = "requested_at"

        return_id: str
        items: tuple[Quantity, ...]
        reason: str

        def apply(self, order: Order) -> None:
            order.returns[self.return_id] = Return(
                self.return_id, self.items, self.reason, ReturnState.REQUESTED, self.timestamp
            )

    @dataclass(frozen=True)
    class ReturnReceived(Event):
        TYPE = "ReturnReceived"
        AT = "received_at"

        return_id: str

        def apply(self, order: Order) -> None:
            requested = order.returns[self.return_id]
            order.returns[self.return_id] = replace(
                requested, state=ReturnState.RECEIVED, received_at=self.timestamp
            )

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
        ShippingAddressChanged,
        Refunded,
        ReturnRequested,
        ReturnReceived,
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
        self.shipments: dict[str, ShipmentRecord] = {}
        self.refunds: dict[str, Refund] = {}
        self.returns: dict[str, Return] = {}
        self.cancel_reason: str | None = None
        self.transitions: dict[str, datetime] = {}
        self.note_count = 0
        self.personal_data_erased = False

    # What the state implies.

    def ordered(self) -> Counter[str]:
        return lifecycle.counted(Quantity(item.sku, item.quantity) for item in self.items)

    def shipped(self) -> Counter[str]:
        return lifecycle.counted(line for s in self.shipments.values() for line in s.items)

    def delivered(self) -> Counter[str]:
        return lifecycle.counted(
            line for s in self.shipments.values() if s.delivered_at for line in s.items
        )

    def returned(self) -> Counter[str]:
        return lifecycle.counted(line for r in self.returns.values() for line in r.items)

    def unshipped(self) -> Quantities:
        return lifecycle.as_lines(self.ordered() - self.shipped())

    @property
    def paid(self) -> int:
        return self.payment.amount if self.payment else 0

    @property
    def refunded(self) -> int:
        return sum(refund.amount for refund in self.refunds.values())

    @property
    def refundable(self) -> int:
        return self.paid - self.refunded

    @property
    def refund_due(self) -> int:
        """What a cancelled paid order still owes its customer."""
        return self.refundable if self.status is Status.CANCELLED else 0

    @property
    def financial_status(self) -> FinancialStatus:
        if self.payment is None:
            return FinancialStatus.UNPAID
        if not self.refunds:
            return FinancialStatus.PAID
        if self.refunded >= self.paid:
            return FinancialStatus.REFUNDED
        return FinancialStatus.PARTIALLY_REFUNDED

    @property
    def fulfillment_status(self) -> FulfillmentStatus:
        if not self.shipments:
            return FulfillmentStatus.UNFULFILLED
        if self.unshipped():
            return FulfillmentStatus.PARTIALLY_FULFILLED
        return FulfillmentStatus.FULFILLED

    def derived_status(self) -> Status:
        """The status the payment and the shipments imply (cancellation is recorded)."""
        if self.status is Status.CANCELLED:
            return Status.CANCELLED
        if self.payment is None:
            return Status.PLACED
        if not self.shipments:
            return Status.PAID
        if self.unshipped():
            return Status.PARTIALLY_SHIPPED
        if all(shipment.delivered_at for shipment in self.shipments.values()):
            return Status.DELIVERED
        return Status.SHIPPED

    # Commands. Each checks its rules, then triggers its events or, when it would change
    # nothing (the same payment, shipment, refund or cancellation again), triggers none.

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

    def ship(self, *, carrier: str, tracking_number: str, at: datetime | None = None) -> str:
        """One shipment of every item not yet shipped; its id (the shipment that already
        holds them, when the same carrier and tracking number come again)."""
        carrier = values.text("carrier", carrier, max_length=64)
        tracking_number = values.text("tracking_number", tracking_number, max_length=64)
        if self.status is Status.SHIPPED:
            for shipment in self.shipments.values():
                if (shipment.carrier, shipment.tracking_number) == (carrier, tracking_number):
                    return shipment.shipment_id
        self.check_status("ship", Status.PAID, Status.PARTIALLY_SHIPPED)
        shipment_id = self.next_shipment_id()
        self.trigger_event(
            self.Shipped,
            timestamp=at or now(),
            shipment_id=shipment_id,
            carrier=carrier,
            tracking_number=tracking_number,
            items=self.unshipped(),
        )
        return shipment_id

    def ship_items(
        self,
        *,
        shipment_id: str,
        carrier: str,
        tracking_number: str,
        items: list[Quantity] | None = None,
        at: datetime | None = None,
    ) -> None:
        """A shipment of some items (``None``: every item not yet shipped)."""
        checks = Checks()
        shipment_id = checks(lifecycle.client_id, "shipment_id", shipment_id)
        carrier = checks(values.text, "carrier", carrier, max_length=64)
        tracking_number = checks(values.text, "tracking_number", tracking_number, max_length=64)
        lines = None
        if items is not None:
            lines = checks(lifecycle.quantities, "items", items, self.ordered())
        checks.done()
        existing = self.shipments.get(shipment_id)
        if existing is not None:
            same = (existing.carrier, existing.tracking_number) == (carrier, tracking_number)
            if same and (
                lines is None or lifecycle.counted(lines) == lifecycle.counted(existing.items)
            ):
                return
            raise IdReusedError("shipment_id", shipment_id)
        self.check_status("ship", Status.PAID, Status.PARTIALLY_SHIPPED)
        shipping = (
            self.unshipped() if lines is None else lifecycle.as_lines(lifecycle.counted(lines))
        )
        self.check_shipment_within_ordered(shipping)
        self.trigger_event(
            self.Shipped,
            timestamp=at or now(),
            shipment_id=shipment_id,
            carrier=carrier,
            tracking_number=tracking_number,
            items=shipping,
        )

    def deliver(self, *, delivered_at: datetime | None = None) -> None:
        """Every shipment not yet delivered arrived."""
        if self.status is Status.DELIVERED:
            return
        self.check_status("deliver", Status.SHIPPED, Status.PARTIALLY_SHIPPED)
        pending = [s for s in self.shipments.values() if s.delivered_at is None]
        if not pending:
            return
        at = delivered_at or now()
        checked = [self.check_delivery_time(at, shipment) for shipment in pending]
        for shipment, when in zip(pending, checked, strict=True):
            self.trigger_event(self.Delivered, timestamp=when, shipment_id=shipment.shipment_id)

    def deliver_shipment(self, *, shipment_id: str, delivered_at: datetime | None = None) -> None:
        shipment = self.shipments.get(shipment_id)
        if shipment is None:
            raise UnknownPartError("shipment_id", shipment_id)
        if shipment.delivered_at is not None:
            return
        at = self.check_delivery_time(delivered_at or now(), shipment)
        self.trigger_event(self.Delivered, timestamp=at, shipment_id=shipment_id)

    def cancel(self, *, reason: str, at: datetime | None = None) -> None:
        if self.status is Status.CANCELLED:
            return
        self.check_status("cancel", Status.PLACED, Status.PAID)
        self.check_nothing_shipped("cancel")
        self.trigger_event(
            self.Cancelled,
            timestamp=at or now(),
            reason=values.text("reason", reason, max_length=500),
        )

    def change_shipping_address(self, *, address: Address, at: datetime | None = None) -> None:
        if address == self.shipping_address:
            return
        self.check_status("change the shipping address of", Status.PLACED, Status.PAID)
        self.check_nothing_shipped("change the shipping address of")
        self.trigger_event(
            self.ShippingAddressChanged, timestamp=at or now(), shipping_address=address
        )

    def refund(
        self,
        *,
        refund_id: str,
        amount: int,
        reason: str,
        items: list[Quantity] | None = None,
        at: datetime | None = None,
    ) -> None:
        checks = Checks()
        refund_id = checks(lifecycle.client_id, "refund_id", refund_id)
        amount = checks(values.money, "amount", amount)
        reason = checks(values.text, "reason", reason, max_length=500)
        lines: Quantities = ()
        if items is not None:
            lines = checks(lifecycle.quantities, "items", items, self.ordered())
        if amount == 0:
            checks.errors.append(("amount", "must be at least 1 minor unit"))
        checks.done()
        existing = self.refunds.get(refund_id)
        if existing is not None:
            if (existing.amount, existing.reason, existing.items) == (amount, reason, lines):
                return
            raise IdReusedError("refund_id", refund_id)
        self.check_paid("refund")
        self.check_refund_within_paid(amount)
        self.trigger_event(
            self.Refunded,
            timestamp=at or now(),
            refund_id=refund_id,
            amount=amount,
            currency=self.currency,
            reason=reason,
            items=lines,
        )

    def request_return(
        self, *, return_id: str, items: list[Quantity], reason: str, at: datetime | None = None
    ) -> None:
        checks = Checks()
        return_id = checks(lifecycle.client_id, "return_id", return_id)
        lines = checks(lifecycle.quantities, "items", items, self.ordered())
        reason = checks(values.text, "reason", reason, max_length=500)
        checks.done()
        existing = self.returns.get(return_id)
        if existing is not None:
            if (
                lifecycle.counted(existing.items) == lifecycle.counted(lines)
                and existing.reason == reason
            ):
                return
            raise IdReusedError("return_id", return_id)
        returning = lifecycle.as_lines(lifecycle.counted(lines))
        self.check_return_within_delivered(returning)
        self.trigger_event(
            self.ReturnRequested,
            timestamp=at or now(),
            return_id=return_id,
            items=returning,
            reason=reason,
        )

    def receive_return(self, *, return_id: str, at: datetime | None = None) -> None:
        requested = self.returns.get(return_id)
        if requested is None:
            raise UnknownPartError("return_id", return_id)
        if requested.state is ReturnState.RECEIVED:
            return
        self.trigger_event(self.ReturnReceived, timestamp=at or now(), return_id=return_id)

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

    def next_shipment_id(self) -> str:
        number = len(self.shipments) + 1
        while f"shipment-{number}" in self.shipments:
            number += 1
        return f"shipment-{number}"

    # Rules.

    def check_status(self, action: str, *allowed: Status) -> None:
        if self.status not in allowed:
            raise TransitionNotAllowedError(action, self.status)

    def check_nothing_shipped(self, action: str) -> None:
        if self.shipments:
            raise TransitionNotAllowedError(action, self.status)

    def check_paid(self, action: str) -> None:
        if self.payment is None:
            raise RuleBrokenError(
                "refund-after-payment", f"cannot {action} an order that has not been paid"
            )

    def check_payment_matches_total(self, payment: Payment) -> None:
        check_currency("currency", payment.currency)
        if payment.currency != self.currency:
            raise InvalidOrderError("currency", f"must be the order's currency, {self.currency}")
        if payment.amount != self.total:
            raise InvalidOrderError(
                "amount", f"must equal the order's total, {self.total} minor units"
            )

    def check_refund_within_paid(self, amount: int) -> None:
        if amount > self.refundable:
            raise RuleBrokenError(
                "refund-within-paid",
                f"refund of {shown(amount, self.currency)} exceeds the "
                f"{shown(self.refundable, self.currency)} not yet refunded",
                amount=amount,
                refundable=self.refundable,
                paid=self.paid,
                refunded=self.refunded,
                currency=self.currency,
            )

    def check_shipment_within_ordered(self, lines: Quantities) -> None:
        if not lines:
            raise RuleBrokenError("shipment-within-ordered", "every item has already shipped")
        left = self.ordered() - self.shipped()
        for line in lines:
            if line.quantity > left[line.sku]:
                raise RuleBrokenError(
                    "shipment-within-ordered",
                    f"shipment of {line.quantity} x {line.sku} exceeds the "
                    f"{left[line.sku]} not yet shipped",
                    sku=line.sku,
                    quantity=line.quantity,
                    unshipped=left[line.sku],
                )

    def check_return_within_delivered(self, lines: Quantities) -> None:
        left = self.delivered() - self.returned()
        for line in lines:
            if line.quantity > left[line.sku]:
                raise RuleBrokenError(
                    "return-within-delivered",
                    f"return of {line.quantity} x {line.sku} exceeds the "
                    f"{left[line.sku]} delivered and not yet returned",
                    sku=line.sku,
                    quantity=line.quantity,
                    returnable=left[line.sku],
                )

    def check_delivery_time(self, at: datetime, shipment: ShipmentRecord) -> datetime:
        if at.tzinfo is None:
            raise InvalidOrderError("delivered_at", "must include a time zone")
        at = at.astimezone(UTC)
        if at < shipment.shipped_at:
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
            "shipments": [
                {
                    **primitives(s),
                    "items": _lines(s.items),
                    "shipped_at": iso(s.shipped_at),
                    "delivered_at": iso(s.delivered_at) if s.delivered_at else None,
                }
                for s in self.shipments.values()
            ],
            "refunds": [
                {**primitives(r), "items": _lines(r.items), "refunded_at": iso(r.refunded_at)}
                for r in self.refunds.values()
            ],
            "returns": [
                {
                    **primitives(r),
                    "items": _lines(r.items),
                    "state": str(r.state),
                    "requested_at": iso(r.requested_at),
                    "received_at": iso(r.received_at) if r.received_at else None,
                }
                for r in self.returns.values()
            ],
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
        order.cancel_reason = state["cancel_reason"]
        order.note_count = state.get("note_count", 0)
        order.personal_data_erased = state.get("personal_data_erased", False)
        order.transitions = {k: parse_time(v) for k, v in state["transitions"].items()}
        order.placed_at = order.transitions["placed_at"]
        order.shipments = {s.shipment_id: s for s in _shipments_of(order, state)}
        order.refunds = {
            r["refund_id"]: Refund(
                r["refund_id"],
                r["amount"],
                r["reason"],
                lifecycle.lines_from(r["items"]),
                parse_time(r["refunded_at"]),
            )
            for r in state.get("refunds", ())
        }
        order.returns = {
            r["return_id"]: Return(
                r["return_id"],
                lifecycle.lines_from(r["items"]),
                r["reason"],
                ReturnState(r["state"]),
                parse_time(r["requested_at"]),
                parse_time(r["received_at"]) if r["received_at"] else None,
            )
            for r in state.get("returns", ())
        }
        return order


def _shipments_of(order: Order, state: dict[str, Any]) -> list[ShipmentRecord]:
    """The snapshot's shipments; a snapshot written before shipments had ids held one
    ``shipment`` of every item, as an ``OrderShipped`` of schema 1."""
    if "shipments" not in state:
        legacy = state.get("shipment")
        if not legacy:
            return []
        delivered = order.transitions.get("delivered_at")
        return [
            ShipmentRecord(
                LEGACY_SHIPMENT,
                legacy["carrier"],
                legacy["tracking_number"],
                lifecycle.as_lines(order.ordered()),
                order.transitions["shipped_at"],
                delivered,
            )
        ]
    return [
        ShipmentRecord(
            s["shipment_id"],
            s["carrier"],
            s["tracking_number"],
            lifecycle.lines_from(s["items"]),
            parse_time(s["shipped_at"]),
            parse_time(s["delivered_at"]) if s["delivered_at"] else None,
        )
        for s in state["shipments"]
    ]


class Checks:
    """Runs a command's validations and collects every fault, so all are reported at once."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def __call__(self, check: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except InvalidOrderError as error:
            self.errors.extend(error.errors)
            return args[1] if len(args) > 1 else None

    def done(self) -> None:
        if self.errors:
            raise InvalidOrderError.of(self.errors)


@dataclass(frozen=True)
class Payment:
    amount: int
    currency: str
    method: str
    transaction_id: str


def check_items(items: list[LineItem]) -> None:
    if not 1 <= len(items) <= values.MAX_ITEMS:
        raise InvalidOrderError("items", f"must hold between 1 and {values.MAX_ITEMS} items")


def check_currency(field: str, currency: str) -> None:
    if not is_currency(currency):
        raise InvalidOrderError(field, IS_CURRENCY)


def now() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z, the one time format of the log."""
    # isoformat, not strftime (five times slower): every command writes a few of these.
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
