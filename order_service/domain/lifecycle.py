"""What an order's back office records after payment: shipments, refunds and returns.

Quantities are counted per SKU (an order may list a SKU on more than one line); money is
integer minor units, shown to people in the currency's units (``12.50 EUR``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from order_service.domain import values
from order_service.domain.currencies import MINOR_UNITS
from order_service.domain.errors import InvalidOrderError

MAX_LINES = values.MAX_ITEMS
CLIENT_ID = values.ORDER_ID
"""Client-chosen ids (``shipment_id``, ``refund_id``, ``return_id``) look like order ids."""


class FinancialStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class FulfillmentStatus(StrEnum):
    UNFULFILLED = "unfulfilled"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    FULFILLED = "fulfilled"


class ReturnState(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"


@dataclass(frozen=True)
class Quantity:
    """So many of one SKU: a line of a shipment, a refund or a return."""

    sku: str
    quantity: int


Quantities = tuple[Quantity, ...]


@dataclass(frozen=True)
class ShipmentRecord:
    shipment_id: str
    carrier: str
    tracking_number: str
    items: Quantities
    shipped_at: datetime
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class Refund:
    refund_id: str
    amount: int
    reason: str
    items: Quantities
    refunded_at: datetime


@dataclass(frozen=True)
class Return:
    return_id: str
    items: Quantities
    reason: str
    state: ReturnState
    requested_at: datetime
    received_at: datetime | None = None


def client_id(field: str, value: str) -> str:
    if not isinstance(value, str) or not CLIENT_ID.match(value):
        raise InvalidOrderError(
            field, "must be 1-64 letters, digits, '_', '.', ':' or '-', starting alphanumeric"
        )
    return value


def quantities(field: str, raw: Iterable[Quantity], known: Counter[str]) -> Quantities:
    """Validated lines: each SKU one of the order's, each quantity at least 1; every fault
    reported at once."""
    lines = tuple(raw)
    errors: list[tuple[str, str]] = []
    if not 1 <= len(lines) <= MAX_LINES:
        errors.append((field, f"must hold between 1 and {MAX_LINES} lines"))
    for index, line in enumerate(lines):
        at = f"{field}.{index}"
        if line.sku not in known:
            errors.append((f"{at}.sku", "is not a SKU of this order"))
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int):
            errors.append((f"{at}.quantity", "must be an integer"))
        elif not 1 <= line.quantity <= values.MAX_QUANTITY:
            errors.append((f"{at}.quantity", f"must be between 1 and {values.MAX_QUANTITY}"))
    if errors:
        raise InvalidOrderError.of(errors)
    return lines


def counted(lines: Iterable[Quantity]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for line in lines:
        totals[line.sku] += line.quantity
    return totals


def as_lines(counts: Counter[str]) -> Quantities:
    return tuple(Quantity(sku, quantity) for sku, quantity in counts.items() if quantity > 0)


def lines_from(raw: list[dict[str, Any]] | None) -> Quantities:
    return tuple(Quantity(line["sku"], line["quantity"]) for line in raw or ())


def shown(amount: int, currency: str) -> str:
    """Minor units in the currency's units, as people read them: ``3000`` EUR is ``30.00 EUR``."""
    places = MINOR_UNITS.get(currency, 2)
    if places == 0:
        return f"{amount} {currency}"
    whole, fraction = divmod(amount, 10**places)
    return f"{whole}.{fraction:0{places}d} {currency}"
