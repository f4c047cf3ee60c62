"""Value objects of an order; each validates itself and names the field at fault."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from order_service.domain.errors import InvalidOrderError

MAX_ITEMS = 500
MAX_QUANTITY = 1_000_000
MAX_MONEY = 2**53 - 1  # exact in every JSON reader, including JavaScript's
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
ORDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
CONTROL = re.compile(r"[\x00-\x1f]")
"""What text fields refuse (one regex search: eight times faster than a test per character,
and every command validates a dozen fields)."""
ERASED = "[erased]"
"""What a customer's personal values read as once they have been erased."""


def text(field: str, value: str, *, max_length: int = 200, required: bool = True) -> str:
    cleaned = value.strip()
    if required and not cleaned:
        raise InvalidOrderError(field, "must not be empty")
    if len(cleaned) > max_length:
        raise InvalidOrderError(field, f"must be at most {max_length} characters")
    if CONTROL.search(cleaned):
        raise InvalidOrderError(field, "must not contain control characters")
    return cleaned


def money(field: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOrderError(field, "must be an integer number of minor units")
    if not 0 <= value <= MAX_MONEY:
        raise InvalidOrderError(field, f"must be between 0 and {MAX_MONEY} minor units")
    return value


def order_id(value: str) -> str:
    if not ORDER_ID.match(value):
        raise InvalidOrderError(
            "order_id", "must be 1-64 letters, digits, '_', '.', ':' or '-', starting alphanumeric"
        )
    return value


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    email: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", text("customer.id", self.id, max_length=64))
        object.__setattr__(self, "name", text("customer.name", self.name))
        email = text("customer.email", self.email, max_length=254).lower()
        if not EMAIL.match(email):
            raise InvalidOrderError("customer.email", "is not a plausible email address")
        object.__setattr__(self, "email", email)

    @classmethod
    def erased(cls, customer_id: str) -> Customer:
        """The customer once their personal data is gone: only the id is left."""
        customer = object.__new__(cls)
        for name, value in (("id", customer_id), ("name", ERASED), ("email", ERASED)):
            object.__setattr__(customer, name, value)
        return customer

    @property
    def is_erased(self) -> bool:
        return self.email == ERASED

    @classmethod
    def from_primitives(cls, raw: dict[str, str]) -> Customer:
        return cls.erased(raw["id"]) if raw.get("email") == ERASED else cls(**raw)


@dataclass(frozen=True)
class LineItem:
    sku: str
    name: str
    quantity: int
    unit_price: int

    def validated(self, index: int) -> LineItem:
        at = f"items.{index}"
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise InvalidOrderError(f"{at}.quantity", "must be an integer")
        if not 1 <= self.quantity <= MAX_QUANTITY:
            raise InvalidOrderError(f"{at}.quantity", f"must be between 1 and {MAX_QUANTITY}")
        return LineItem(
            sku=text(f"{at}.sku", self.sku, max_length=64),
            name=text(f"{at}.name", self.name),
            quantity=self.quantity,
            unit_price=money(f"{at}.unit_price", self.unit_price),
        )

    @property
    def subtotal(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""

    def __post_init__(self) -> None:
        # Every faulty field is reported at once, not one per round trip.
        errors: list[tuple[str, str]] = []
        checks: list[tuple[str, dict[str, Any]]] = [
            ("name", {}),
            ("line1", {}),
            ("city", {}),
            ("line2", {"required": False}),
            ("postal_code", {"max_length": 16}),
        ]
        for field, options in checks:
            try:
                value = text(f"shipping_address.{field}", getattr(self, field), **options)
            except InvalidOrderError as error:
                errors.extend(error.errors)
                continue
            object.__setattr__(self, field, value)
        country = self.country.strip().upper()
        if not COUNTRY.match(country):
            errors.append(("shipping_address.country", "must be an ISO 3166-1 alpha-2 code"))
        if errors:
            raise InvalidOrderError.of(errors)
        object.__setattr__(self, "country", country)

    @classmethod
    def erased(cls, country: str) -> Address:
        """The address once it has been erased: only the country is left."""
        address = object.__new__(cls)
        for name in ("name", "line1", "city", "postal_code", "line2"):
            object.__setattr__(address, name, ERASED)
        object.__setattr__(address, "country", country)
        return address

    @classmethod
    def from_primitives(cls, raw: dict[str, str]) -> Address:
        return cls.erased(raw["country"]) if raw.get("name") == ERASED else cls(**raw)


def items_from(raw: list[dict[str, Any]]) -> tuple[LineItem, ...]:
    """Line items from primitives (an event's data or a snapshot)."""
    return tuple(LineItem(**item) for item in raw)


def primitives(value: Any) -> dict[str, Any]:
    """A flat value object's fields, all primitives: ``asdict`` without its deep copies."""
    kind: type = type(value)
    return {name: getattr(value, name) for name in _field_names(kind)}


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in fields(cls))
