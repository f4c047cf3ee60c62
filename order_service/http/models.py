"""Request and response bodies of the command API. Shapes and types only: rules are the domain's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from order_service.domain.lifecycle import Quantity

Strict = ConfigDict(extra="forbid", strict=True, str_max_length=10_000)
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""JSON integers as the log stores them; finer ranges are the domain's rules."""


class CustomerIn(BaseModel):
    model_config = Strict
    id: str = Field(examples=["c-1"])
    name: str = Field(examples=["Ada Lovelace"])
    email: str = Field(examples=["ada@example.com"])


class ItemIn(BaseModel):
    model_config = Strict
    sku: str = Field(examples=["TEA-EG"])
    name: str = Field(examples=["Earl Grey"])
    quantity: Int64 = Field(description="At least 1.", examples=[2])
    unit_price: Int64 = Field(
        description="Integer minor units (cents), never a float.", examples=[450]
    )


class AddressIn(BaseModel):
    model_config = Strict
    name: str = Field(examples=["Ada Lovelace"])
    line1: str = Field(examples=["12 St James Sq"])
    line2: str = ""
    city: str = Field(examples=["London"])
    postal_code: str = Field(examples=["SW1Y 4JH"])
    country: str = Field(description="ISO 3166-1 alpha-2, e.g. NL.", examples=["GB"])


class PlaceOrderIn(BaseModel):
    model_config = Strict
    order_id: str | None = Field(None, description="Generated when absent.", examples=["ada-1"])
    customer: CustomerIn
    items: list[ItemIn] = Field(max_length=10_000)
    currency: str = Field(description="ISO 4217, e.g. EUR.", examples=["EUR"])
    shipping_address: AddressIn


class PayIn(BaseModel):
    model_config = Strict
    amount: Int64 = Field(
        description="Integer minor units; must equal the order's total.", examples=[900]
    )
    currency: str = Field(examples=["EUR"])
    method: str = Field(examples=["card"])
    transaction_id: str = Field(examples=["tx-1"])


class ShipIn(BaseModel):
    model_config = Strict
    carrier: str = Field(examples=["DHL"])
    tracking_number: str = Field(examples=["JD014600003828"])


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
    reason: str = Field(examples=["customer asked to"])


class NoteIn(BaseModel):
    """The note's author is the caller (the actor), never a field of the body."""

    model_config = Strict
    text: str = Field(examples=["called the customer: will pick up on Friday"])


class QuantityIn(BaseModel):
    model_config = Strict
    sku: str = Field(examples=["TEA-EG"])
    quantity: Int64 = Field(description="At least 1.", examples=[1])


class ShipmentIn(BaseModel):
    model_config = Strict
    shipment_id: str = Field(description="Chosen by the client; repeating it is safe.")
    carrier: str
    tracking_number: str
    items: list[QuantityIn] | None = Field(
        None, max_length=10_000, description="Every item not yet shipped if absent."
    )


class RefundIn(BaseModel):
    model_config = Strict
    refund_id: str = Field(description="Chosen by the client; repeating it is safe.")
    amount: Int64 = Field(
        description="Integer minor units; at most what is not yet refunded.", examples=[450]
    )
    reason: str
    items: list[QuantityIn] | None = Field(None, max_length=10_000)


class ReturnIn(BaseModel):
    model_config = Strict
    return_id: str = Field(description="Chosen by the client; repeating it is safe.")
    items: list[QuantityIn] = Field(max_length=10_000)
    reason: str


class ReceiveIn(BaseModel):
    model_config = Strict


class CommandOut(BaseModel):
    order_id: str = Field(examples=["ada-1"])
    status: str = Field(examples=["paid"])
    version: int = Field(examples=[1], description="Stream revision after the command, 0-based.")
    position: int = Field(description="Global log position; pass as min_position to search.")
    shipment_id: str | None = Field(None, description="The shipment a ship command recorded.")


class OrderOut(BaseModel):
    """The order as the event store has it; its version is also the ETag."""

    order_id: str
    version: int
    position: int
    status: str
    financial_status: str
    fulfillment_status: str
    currency: str
    total: int
    paid: int
    refunded: int
    refund_due: int


def when(delivered: DeliverIn | None) -> datetime | None:
    return delivered.delivered_at if delivered else None


def lines(items: list[QuantityIn] | None) -> list[Quantity] | None:
    return None if items is None else [Quantity(item.sku, item.quantity) for item in items]
