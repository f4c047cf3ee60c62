"""Request and response bodies of the command API. Shapes and types only: rules are the domain's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

Strict = ConfigDict(extra="forbid", strict=True, str_max_length=10_000)
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""JSON integers as the log stores them; finer ranges are the domain's rules."""


class CustomerIn(BaseModel):
    model_config = Strict
    id: str
    name: str
    email: str


class ItemIn(BaseModel):
    model_config = Strict
    sku: str
    name: str
    quantity: Int64 = Field(description="At least 1.")
    unit_price: Int64 = Field(description="Integer minor units (cents), never a float.")


class AddressIn(BaseModel):
    model_config = Strict
    name: str
    line1: str
    line2: str = ""
    city: str
    postal_code: str
    country: str = Field(description="ISO 3166-1 alpha-2, e.g. NL.")


class PlaceOrderIn(BaseModel):
    model_config = Strict
    order_id: str | None = Field(None, description="Generated when absent.")
    customer: CustomerIn
    items: list[ItemIn] = Field(max_length=10_000)
    currency: str = Field(description="ISO 4217, e.g. EUR.")
    shipping_address: AddressIn


class PayIn(BaseModel):
    model_config = Strict
    amount: Int64 = Field(description="Integer minor units; must equal the order's total.")
    currency: str
    method: str
    transaction_id: str


class ShipIn(BaseModel):
    model_config = Strict
    carrier: str
    tracking_number: str


def _in_utc_range(value: datetime | None) -> datetime | None:
    """9999-12-31T23:59:59-23:59 parses, and has no UTC time: refused here, not a 500 later."""
    if value is not None:
        try:
            value.astimezone(UTC)
        except OverflowError as error:
            raise ValueError("is out of range once converted to UTC") from error
    return value


class DeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delivered_at: Annotated[AwareDatetime | None, AfterValidator(_in_utc_range)] = Field(
        None, description="ISO 8601 with a zone; now if absent."
    )


class CancelIn(BaseModel):
    model_config = Strict
    reason: str


class NoteIn(BaseModel):
    """The note's author is the caller (the actor), never a field of the body."""

    model_config = Strict
    text: str


class CommandOut(BaseModel):
    order_id: str
    status: str
    version: int = Field(description="Stream revision after the command, 0-based.")
    position: int = Field(description="Global log position; pass as min_position to search.")


def when(delivered: DeliverIn | None) -> datetime | None:
    return delivered.delivered_at if delivered else None
