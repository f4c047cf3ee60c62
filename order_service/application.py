"""The order service's use cases: one method per command, returning ids and positions.

Without an expected version, a command is checked against the state it loaded and appended
with that version; if another writer got there first it is retried on the new state, a
bounded number of times. With one (``If-Match``), a mismatch is reported, never retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from order_service.domain.errors import DomainError
from order_service.domain.lifecycle import Quantity
from order_service.domain.order import Order
from order_service.domain.values import Address, Customer, LineItem
from order_service.events import Causation
from order_service.eventstore.port import AppendResult, WrongExpectedVersionError
from order_service.repository import Loaded, OrderRepository


class ApplicationError(Exception):
    """A command refused for a reason outside the order's own rules."""


class OrderNotFoundError(ApplicationError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} does not exist")
        self.order_id = order_id


class OrderAlreadyExistsError(ApplicationError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} already exists")
        self.order_id = order_id


class VersionMismatchError(ApplicationError):
    """``If-Match`` named a version the order is no longer (or not yet) at."""

    def __init__(self, order_id: str, expected: int, current: int) -> None:
        super().__init__(f"order {order_id} is at version {current}, not {expected}")
        self.expected = expected
        self.current = current


class ConcurrencyConflictError(ApplicationError):
    """Other writers kept changing the order; every retry lost the race."""

    def __init__(self, order_id: str, attempts: int) -> None:
        super().__init__(f"order {order_id} changed concurrently {attempts} times; try again")


@dataclass(frozen=True)
class CommandResult:
    order_id: str
    status: str
    version: int
    """The stream revision the command produced (or left, when it changed nothing)."""
    position: int
    """The global log position of the order's last event; pass it to the search API."""
    appended: bool = True
    """False when nothing was written now: a no-op, or events a retry found already stored."""
    shipment_id: str | None = None
    """The shipment ``ship`` recorded (or found already recorded), for its answer."""


@dataclass(frozen=True)
class OrderView:
    """An order's state folded from the event store, with the version it is at."""

    order_id: str
    version: int
    position: int
    state: dict[str, Any]


@dataclass(frozen=True)
class ErasedResult:
    result: CommandResult
    erased: int
    """1 when this call recorded the erasure, 0 when the order already had it."""


@dataclass(frozen=True)
class PlaceOrder:
    order_id: str
    customer: Customer
    items: list[LineItem]
    currency: str
    shipping_address: Address


class OrderCommands:
    def __init__(self, repository: OrderRepository, *, retries: int = 3) -> None:
        self.repository = repository
        self.retries = retries

    async def place(self, command: PlaceOrder, causation: Causation) -> CommandResult:
        order = Order.place(
            order_id=command.order_id,
            customer=command.customer,
            items=command.items,
            currency=command.currency,
            shipping_address=command.shipping_address,
        )
        try:
            result = await self.repository.save(order, causation)
        except WrongExpectedVersionError as error:
            raise OrderAlreadyExistsError(command.order_id) from error
        assert result is not None
        return _result(order, result)

    async def pay(
        self,
        order_id: str,
        causation: Causation,
        *,
        amount: int,
        currency: str,
        method: str,
        transaction_id: str,
        expected_version: int | None = None,
    ) -> CommandResult:
        def pay(order: Order) -> None:
            order.pay(
                amount=amount, currency=currency, method=method, transaction_id=transaction_id
            )

        return await self._change(order_id, causation, expected_version, pay)

    async def ship(
        self,
        order_id: str,
        causation: Causation,
        *,
        carrier: str,
        tracking_number: str,
        expected_version: int | None = None,
    ) -> CommandResult:
        """One shipment of every item not yet shipped; the answer names its shipment id."""
        shipped: list[str] = []

        def ship(order: Order) -> None:
            shipped[:] = [order.ship(carrier=carrier, tracking_number=tracking_number)]

        result = await self._change(order_id, causation, expected_version, ship)
        return replace(result, shipment_id=shipped[-1])

    async def ship_items(
        self,
        order_id: str,
        causation: Causation,
        *,
        shipment_id: str,
        carrier: str,
        tracking_number: str,
        items: list[Quantity] | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        def ship(order: Order) -> None:
            order.ship_items(
                shipment_id=shipment_id,
                carrier=carrier,
                tracking_number=tracking_number,
                items=items,
            )

        result = await self._change(order_id, causation, expected_version, ship)
        return replace(result, shipment_id=shipment_id)

    async def deliver(
        self,
        order_id: str,
        causation: Causation,
        *,
        delivered_at: datetime | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        def deliver(order: Order) -> None:
            order.deliver(delivered_at=delivered_at)

        return await self._change(order_id, causation, expected_version, deliver)

    async def deliver_shipment(
        self,
        order_id: str,
        causation: Causation,
        *,
        shipment_id: str,
        delivered_at: datetime | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        def deliver(order: Order) -> None:
            order.deliver_shipment(shipment_id=shipment_id, delivered_at=delivered_at)

        return await self._change(order_id, causation, expected_version, deliver)

    async def change_shipping_address(
        self,
        order_id: str,
        causation: Causation,
        *,
        address: Address,
        expected_version: int | None = None,
    ) -> CommandResult:
        def change(order: Order) -> None:
            order.change_shipping_address(address=address)

        return await self._change(order_id, causation, expected_version, change)

    async def refund(
        self,
        order_id: str,
        causation: Causation,
        *,
        refund_id: str,
        amount: int,
        reason: str,
        items: list[Quantity] | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        def refund(order: Order) -> None:
            order.refund(refund_id=refund_id, amount=amount, reason=reason, items=items)

        return await self._change(order_id, causation, expected_version, refund)

    async def request_return(
        self,
        order_id: str,
        causation: Causation,
        *,
        return_id: str,
        items: list[Quantity],
        reason: str,
        expected_version: int | None = None,
    ) -> CommandResult:
        def request(order: Order) -> None:
            order.request_return(return_id=return_id, items=items, reason=reason)

        return await self._change(order_id, causation, expected_version, request)

    async def receive_return(
        self,
        order_id: str,
        causation: Causation,
        *,
        return_id: str,
        expected_version: int | None = None,
    ) -> CommandResult:
        def receive(order: Order) -> None:
            order.receive_return(return_id=return_id)

        return await self._change(order_id, causation, expected_version, receive)

    async def read(self, order_id: str) -> OrderView:
        """The order as the event store has it now (checkout reads its version for If-Match)."""
        loaded = await self._load(order_id, fresh=True)
        order = loaded.order
        state = {
            **order.snapshot_state(),
            "financial_status": str(order.financial_status),
            "fulfillment_status": str(order.fulfillment_status),
            "paid": order.paid,
            "refunded": order.refunded,
            "refund_due": order.refund_due,
        }
        return OrderView(order.id, order.version, loaded.position, state)

    async def cancel(
        self,
        order_id: str,
        causation: Causation,
        *,
        reason: str,
        expected_version: int | None = None,
    ) -> CommandResult:
        def cancel(order: Order) -> None:
            order.cancel(reason=reason)

        return await self._change(order_id, causation, expected_version, cancel)

    async def add_note(
        self,
        order_id: str,
        causation: Causation,
        *,
        author: str,
        text: str,
        expected_version: int | None = None,
    ) -> CommandResult:
        def add_note(order: Order) -> None:
            order.add_note(author=author, text=text)

        return await self._change(order_id, causation, expected_version, add_note)

    async def erase_personal_data(self, order_id: str, causation: Causation) -> ErasedResult:
        """Record that the order's customer was erased (nothing, if it already is)."""

        def erase(order: Order) -> None:
            order.erase_personal_data()

        before = await self._load(order_id, fresh=True)
        result = await self._change(order_id, causation, None, erase)
        return ErasedResult(result, erased=int(result.version > before.order.version))

    async def _change(
        self,
        order_id: str,
        causation: Causation,
        expected_version: int | None,
        decide: Callable[[Order], None],
    ) -> CommandResult:
        attempts = 1 if expected_version is not None else self.retries + 1
        for _ in range(attempts):
            loaded = await self._decided(order_id, expected_version, decide)
            order = loaded.order
            try:
                result = await self.repository.save(order, causation)
            except WrongExpectedVersionError as error:
                if expected_version is not None:
                    current = -1 if error.actual is None else error.actual
                    raise VersionMismatchError(order_id, expected_version, current) from error
                continue
            if result is None:
                self.repository.keep(loaded)
                return CommandResult(
                    order.id, order.status, order.version, loaded.position, appended=False
                )
            return _result(order, result)
        raise ConcurrencyConflictError(order_id, attempts)

    async def _decided(
        self, order_id: str, expected_version: int | None, decide: Callable[[Order], None]
    ) -> Loaded:
        """The order loaded and the command decided on it.

        A state from this process's cache is trusted only when the decision appends (the
        append's expected version then proves it current); a refusal, a version mismatch or
        a no-op is judged again on the state in the store.
        """
        loaded = await self._load(order_id)
        if loaded.cached:
            try:
                _decide(loaded.order, expected_version, decide)
                if loaded.order.pending_events:
                    return loaded
            except (DomainError, VersionMismatchError):
                pass
            loaded = await self._load(order_id, fresh=True)
        _decide(loaded.order, expected_version, decide)
        return loaded

    async def _load(self, order_id: str, *, fresh: bool = False) -> Loaded:
        loaded = await self.repository.load(order_id, fresh=fresh)
        if loaded is None:
            raise OrderNotFoundError(order_id)
        return loaded


def _result(order: Order, appended: AppendResult) -> CommandResult:
    return CommandResult(
        order.id, order.status, appended.revision, appended.position, not appended.replayed
    )


def _decide(order: Order, expected_version: int | None, decide: Callable[[Order], None]) -> None:
    if expected_version is not None and order.version != expected_version:
        raise VersionMismatchError(order.id, expected_version, order.version)
    decide(order)
